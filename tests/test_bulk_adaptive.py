"""The default concurrency follows the limiter's rate and the latency, on virtual time."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any, cast
from uuid import UUID

import pytest

from billabex_async._engine import adaptive as _adaptive
from billabex_async._engine.adaptive import Adaptive
from billabex_async._http import Transport
from billabex_async._ratelimit.memory import SlidingWindowLimiter
from billabex_async.bulk import BulkReport, bulk_upsert, bulk_upsert_account
from billabex_async.models import Contact, ContactUpsert
from billabex_async.resources import ContactsResource
from tests._virtual_time import VirtualClock


class Wire(ContactsResource):
    """Each upsert takes a limiter slot, then ``latency`` virtual seconds, like the transport."""

    def __init__(self, clock: VirtualClock, limiter: SlidingWindowLimiter, latency: float) -> None:
        super().__init__(cast(Transport, SimpleNamespace(limiter=limiter)))
        self.clock, self.window, self.latency = clock, limiter, latency
        self.calls = 0  # upserts started (waiting for a slot or sent)
        self.sent = 0  # holding a slot, answer not yet back
        self.most_calls = self.most_sent = 0
        self.sent_at: list[float] = []

    async def upsert(
        self, account_id: str | UUID, data: ContactUpsert | None = None, **fields: Any
    ) -> Contact:
        assert data is not None
        self.calls += 1
        self.most_calls = max(self.most_calls, self.calls)
        await self.window.acquire()
        self.sent += 1
        self.most_sent = max(self.most_sent, self.sent)
        self.sent_at.append(self.clock.now)
        await self.clock.sleep(self.latency)
        self.sent -= 1
        self.calls -= 1
        self.window.release()
        return Contact(id=uuid.uuid4(), full_name=data.full_name, language=data.language)


def people(n: int) -> list[ContactUpsert]:
    return [
        ContactUpsert(
            full_name=f"Person {chr(65 + i % 26)}{i:06d}x{i * 7919 % 10007}", language="en"
        )
        for i in range(n)
    ]


def setup(
    monkeypatch: pytest.MonkeyPatch, limit: int, window: float, latency: float
) -> tuple[VirtualClock, Wire]:
    clock = VirtualClock()
    monkeypatch.setattr(_adaptive, "monotonic", clock)
    limiter = SlidingWindowLimiter(limit, window, clock=clock, sleep=clock.sleep)
    return clock, Wire(clock, limiter, latency)


async def test_at_high_latency_the_default_fills_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock, wire = setup(monkeypatch, 100, 2.0, 0.2)
    report = BulkReport()
    await clock.run(bulk_upsert_account(wire, str(uuid.uuid4()), people(400), report=report))
    assert report.ok
    # 100 x 0.2 s / (0.1 x 2 s) = 100 wanted, capped by the limit: every
    # window's 100 slots are sent together, never more than the limit allows.
    assert wire.most_sent == 100
    assert wire.most_calls <= 100
    # So each window's allowance goes out at its start (after the account's
    # probe): four bursts, where 8 in flight would need 10 s for the 400.
    assert wire.sent_at[-1] < 0.2 + 3 * (2.0 + 0.2) + 0.1


async def test_an_explicit_concurrency_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    clock, wire = setup(monkeypatch, 100, 2.0, 0.2)
    await clock.run(bulk_upsert_account(wire, str(uuid.uuid4()), people(120), concurrency=8))
    assert wire.most_calls == 8


async def test_at_low_latency_few_are_in_flight_even_while_waiting_for_slots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 300 / 60 s at 5 ms: one request in flight sends the window's 300 within
    # 1.5 s. Past them every call waits for a slot for up to a minute; those
    # waits are not the wire's latency and must not grow the workers.
    clock, wire = setup(monkeypatch, 300, 60.0, 0.005)
    report = BulkReport()
    await clock.run(bulk_upsert_account(wire, str(uuid.uuid4()), people(400), report=report))
    assert report.ok
    assert wire.most_calls <= 8  # the start value, before the first answer
    assert wire.calls == 0


def test_the_target_follows_the_latency() -> None:
    limiter = SimpleNamespace(limit=300, window=60.0)
    adaptive = Adaptive(limiter, start=8)
    assert adaptive.target == 8
    sizes = []
    for latency in (0.005, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2):
        adaptive.finished(latency, clean=True)
        sizes.append(adaptive.target)
    assert sizes[0] == 1
    assert sizes[-1] == 10  # 300 x 0.2 / 6 = 10, reached as the average converges
    assert sizes == sorted(sizes)
    adaptive.finished(30.0, clean=False)  # waited for a slot: not the wire's latency
    assert adaptive.target == 10
    adaptive.finished(0.05, clean=False)  # a fast answer bounds the latency from above
    assert adaptive.target == 3
    for _ in range(50):
        adaptive.finished(5.0, clean=True)
    assert adaptive.target == 100  # never more than the cap


async def test_the_account_waits_for_its_first_answer_only_one_latency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first write goes alone (a refused token costs one request); the
    # rest go the moment its answer is in, all of the window's allowance.
    clock, wire = setup(monkeypatch, 100, 2.0, 0.2)
    await clock.run(bulk_upsert_account(wire, str(uuid.uuid4()), people(100)))
    first, *rest = wire.sent_at
    assert len(rest) == 99
    assert all(at == pytest.approx(first + 0.2) for at in rest)


class PerAccountWire(Wire):
    """Like ``Wire``, with each account's own latency."""

    def __init__(
        self, clock: VirtualClock, limiter: SlidingWindowLimiter, latencies: dict[str, float]
    ) -> None:
        super().__init__(clock, limiter, 0.0)
        self.latencies = latencies

    async def upsert(
        self, account_id: str | UUID, data: ContactUpsert | None = None, **fields: Any
    ) -> Contact:
        assert data is not None
        await self.window.acquire()
        await self.clock.sleep(self.latencies[str(account_id)])
        self.window.release()
        return Contact(id=uuid.uuid4(), full_name=data.full_name, language=data.language)


async def test_a_worker_retired_by_a_falling_target_hands_on_what_it_freed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # B's probe answers first and its worker parks (A's rows wait for A's
    # probe). A's probe answers next, its second sample drops the target to
    # one: that worker retires, and the row its answer freed must reach the
    # parked worker, or the run never ends.
    clock = VirtualClock()
    monkeypatch.setattr(_adaptive, "monotonic", clock)
    samples = iter([8, 1])
    monkeypatch.setattr(Adaptive, "_size", lambda self, latency: next(samples, 1))
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    limiter = SlidingWindowLimiter(100, 2.0, clock=clock, sleep=clock.sleep)
    wire = PerAccountWire(clock, limiter, {a: 1.0, b: 0.1})
    rows = people(2)
    report = BulkReport()
    await clock.run(bulk_upsert(wire, [(a, rows[0]), (b, rows[1]), (a, rows[0])], report=report))
    assert report.ok
    assert report.succeeded == 3
