"""Simulator layer: seeded random faults and scripted ones for deterministic tests."""

from __future__ import annotations

import random
from typing import Literal

import attrs

__all__ = ["Fault", "FaultInjector", "FaultKind", "Faults", "ScriptedFault"]

FaultKind = Literal["status", "status_after", "reset_before", "reset_after", "delay"]
"""``status``: answer ``status`` without applying the request. ``status_after``:
apply it, then answer ``status`` (a 502/504 whose outcome is unknown).
``reset_before``: drop the connection without applying. ``reset_after``: apply,
then drop the connection (a blind POST retry then duplicates). ``delay``: sleep
``delay`` seconds, then answer normally."""


def _rate(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"Faults.{attribute.name} must be in [0, 1], got {value}")


@attrs.frozen(kw_only=True)
class Faults:
    """Probabilities of random faults, drawn once per API request (never /status).

    At most one fault hits a request; the rates add up, so their sum must not
    exceed 1. Drawn from the simulator's ``random.Random(seed)``: reproducible
    for a given seed and request order.
    """

    error_rate: float = attrs.field(default=0.0, validator=_rate)
    """A ``error_status`` answer before anything is applied."""
    error_status: int = 503
    """The 5xx status ``error_rate`` answers."""
    reset_before_rate: float = attrs.field(default=0.0, validator=_rate)
    """Connection dropped before the request is applied."""
    reset_after_rate: float = attrs.field(default=0.0, validator=_rate)
    """Request applied, then the connection dropped with no response."""

    def __attrs_post_init__(self) -> None:
        if self.error_rate + self.reset_before_rate + self.reset_after_rate > 1.0:
            raise ValueError("Faults rates must add up to at most 1")
        if not 500 <= self.error_status <= 599:
            raise ValueError(f"Faults.error_status must be a 5xx, got {self.error_status}")


@attrs.define(kw_only=True, eq=False)
class ScriptedFault:
    """A fault for the next ``remaining`` requests matching method and path."""

    kind: FaultKind
    """What happens (see ``FaultKind``)."""
    status: int
    """The status answered by the ``status`` and ``status_after`` kinds."""
    method: str | None
    """Only requests with this method (None: any)."""
    path_contains: str | None
    """Only requests whose path contains this (None: any)."""
    remaining: int
    """Requests it still applies to."""
    delay: float
    """Seconds a ``delay`` fault waits."""

    def matches(self, method: str, path: str) -> bool:
        """Whether a request with this ``method`` and ``path`` is one it applies to."""
        return (self.method is None or self.method == method) and (
            self.path_contains is None or self.path_contains in path
        )


@attrs.frozen
class Fault:
    """The fault chosen for one request."""

    kind: FaultKind
    status: int = 503
    delay: float = 0.0


class FaultInjector:
    """Chooses the fault, if any, for each request: scripted ones first, then random."""

    __slots__ = ("_rng", "faults", "scripted")

    def __init__(self, faults: Faults, rng: random.Random) -> None:
        self.faults = faults
        self._rng = rng
        # Armed scripted faults, oldest first; spent ones are dropped.
        self.scripted: list[ScriptedFault] = []

    def __repr__(self) -> str:
        return f"<FaultInjector {self.faults!r} scripted={len(self.scripted)}>"

    def script(self, fault: ScriptedFault) -> ScriptedFault:
        if fault.remaining < 1:
            raise ValueError(f"times must be >= 1, got {fault.remaining}")
        self.scripted.append(fault)
        return fault

    def choose(self, method: str, path: str) -> Fault | None:
        for i, scripted in enumerate(self.scripted):
            if scripted.matches(method, path):
                scripted.remaining -= 1
                if not scripted.remaining:
                    del self.scripted[i]
                return Fault(scripted.kind, scripted.status, scripted.delay)
        faults = self.faults
        if not (faults.error_rate or faults.reset_before_rate or faults.reset_after_rate):
            return None  # no draw: a fault-free run does not consume the generator
        draw = self._rng.random()
        if draw < faults.error_rate:
            return Fault("status", faults.error_status)
        draw -= faults.error_rate
        if draw < faults.reset_before_rate:
            return Fault("reset_before")
        draw -= faults.reset_before_rate
        if draw < faults.reset_after_rate:
            return Fault("reset_after")
        return None
