"""Performance section: the rate limiter's header correction and the default concurrency.

Every run is a fresh FakeBillabex and client in a subprocess that imports
either the baseline package (``baseline.checkout()``) or this checkout's,
the two sides interleaved run by run. A "slot held that the server already
freed" is a request the limiter counted as someone else's (the
``server counts N requests we did not send`` DEBUG line) in a run where
nobody else spends the token: every one of them is a false hold.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import _private, baseline

__all__ = ["section"]

# One run, in a fresh interpreter: argv = limit, window, latency, items,
# concurrency ("" for the default), foreign share. Prints one JSON line.
_RUN = r"""
import asyncio, json, logging, random, string, sys
from billabex_async import BillabexClient, ContactUpsert, RateLimit
from billabex_async.testing import FakeBillabex

limit, window, latency = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
items, concurrency, foreign = int(sys.argv[4]), sys.argv[5], float(sys.argv[6])


class Holds(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.held = 0

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("server counts %d requests"):
            self.held += int(record.args[0])


holds = Holds()
log = logging.getLogger("billabex_async")
log.setLevel(logging.DEBUG)
log.propagate = False
log.addHandler(holds)
rng = random.Random(items)
people = [
    ContactUpsert(
        full_name="".join(rng.choices(string.ascii_lowercase, k=12)).title(), language="en"
    )
    for _ in range(items)
]


async def main() -> dict[str, object]:
    rule = RateLimit(limit, window)
    fake = FakeBillabex(rate_limit=rule, latency=latency, seed=7, foreign_share=foreign)
    async with fake:
        async with BillabexClient(
            token=fake.token, base_url=fake.url, rate_limit=rule, max_retries=8
        ) as client:
            extra = {} if concurrency == "" else {"concurrency": int(concurrency)}
            report = await client.contacts.bulk_upsert(fake.account_id, people, **extra)
        assert report.succeeded == items, report
        records = fake.requests
        rejected = fake.stats.rate_limited
    t0 = records[0].time
    ok = [r.time - t0 for r in records if r.status is not None and 200 <= r.status < 300]
    rate = limit / window
    # The first window's slots are free at t=0: count the rest, per second, over the limit.
    used = (len(ok) - limit) / (ok[-1] - ok[0]) / rate if len(ok) > limit else None
    # The same from the first window's last arrival: sending a window's worth
    # takes the CPU time it takes (client and server share a process here),
    # and the last window repeats it; this leaves it out on both ends.
    steady = (len(ok) - limit) / (ok[-1] - ok[limit - 1]) / rate if len(ok) > limit else None
    return {
        "utilisation": used,
        "steady": steady,
        "held": holds.held,
        "requests": len(records),
        "rejected": rejected,
    }


print(json.dumps(asyncio.run(main())))
"""

# Virtual time, deterministic: 8 workers send through the package's limiter
# to a sliding-window server (100 / 2 s) that another consumer also spends,
# steadily or as a Poisson process; each request arrives at a random point of
# its 5-10 ms flight, Reset rounded up to a whole second. argv = seeds,
# requests per run. Prints {"kind share": [late 429s, all 429s, utilisation]}.
_VIRTUAL = (
    r"""
import asyncio, heapq, inspect, itertools, json, math, random, sys, time
from collections import deque
"""
    + _private.import_line("SlidingWindowLimiter", _private.WINDOW_LIMITER)
    + r"""

seeds, requests = int(sys.argv[1]), int(sys.argv[2])
LIMIT, WINDOW = 100, 2.0


class Clock:
    def __init__(self):
        self.now, self.sleepers, self.seq = 0.0, [], itertools.count()

    def __call__(self):
        return self.now

    async def sleep(self, delay):
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self.sleepers, (self.now + max(0.0, delay), next(self.seq), future))
        await future

    async def run(self, *coros):
        tasks = [asyncio.ensure_future(c) for c in coros]
        while True:
            for _ in range(20):
                await asyncio.sleep(0)
            if all(t.done() for t in tasks):
                return [t.result() for t in tasks]
            while self.sleepers[0][2].cancelled():
                heapq.heappop(self.sleepers)
            at, _, future = heapq.heappop(self.sleepers)
            self.now = max(self.now, at)
            future.set_result(None)


async def one(kind, share, seed):
    clock = Clock()
    limiter = SlidingWindowLimiter(LIMIT, WINDOW, clock=clock, sleep=clock.sleep)
    ticketed = "sent" in inspect.signature(limiter.observe).parameters
    rng = random.Random(seed)
    rate, foreign, t = share * LIMIT / WINDOW, deque(), 0.0
    horizon = 3 * WINDOW * (requests / (LIMIT * (1 - share)) + 3)
    k = 1
    while t < horizon:
        t = k / rate if kind == "steady" else t + rng.expovariate(rate)
        foreign.append(t)
        k += 1
    window, ok, rejected, left = deque(), [], [], [requests]

    def arrive(now):
        while foreign and foreign[0] <= now:
            window.append(foreign.popleft())
        window.append(now)
        while window[0] <= now - WINDOW:
            window.popleft()
        window_sorted = sorted(window)
        count = len(window_sorted)
        reset = window_sorted[max(0, count - LIMIT)] + WINDOW
        (ok if count <= LIMIT else rejected).append(now)
        return count <= LIMIT, max(0, LIMIT - count), reset

    async def worker():
        while left[0] > 0:
            left[0] -= 1
            ticket = await limiter.acquire()
            flight = rng.uniform(0.005, 0.01)
            before = flight * rng.random()
            await clock.sleep(before)
            allowed, remaining, reset = arrive(clock())
            await clock.sleep(flight - before)
            limiter.release()
            if not allowed:
                left[0] += 1
                limiter.pause(max(1, math.ceil(reset - clock())))
            extra = {"sent": ticket} if ticketed else {}
            limiter.observe(
                limit=LIMIT,
                remaining=remaining,
                reset=time.time() + (math.ceil(reset) - clock()),
                **extra,
            )

    await clock.run(*(worker() for _ in range(8)))
    used = (len(ok) - LIMIT) / (ok[-1] - ok[LIMIT - 1]) / (LIMIT / WINDOW) / (1 - share)
    return sum(1 for r in rejected if r > 3 * WINDOW), len(rejected), used


out = {}
for kind in ("steady", "poisson"):
    for share in (0.1, 0.2, 0.4):
        runs = [asyncio.run(one(kind, share, seed)) for seed in range(seeds)]
        out[f"{kind} {share}"] = [
            sum(r[0] for r in runs), sum(r[1] for r in runs), min(r[2] for r in runs)
        ]
print(json.dumps(out))
"""
)


@dataclass(frozen=True, slots=True)
class Setup:
    """One scenario: a limit of ``limit`` per ``window`` s, ``latency`` s per request."""

    limit: int
    window: float
    latency: float
    items: int
    concurrency: int | None = None  # None: the package's default
    foreign: float = 0.0  # share of the limit another consumer spends

    def args(self) -> list[str]:
        concurrency = "" if self.concurrency is None else str(self.concurrency)
        return [
            str(self.limit),
            str(self.window),
            str(self.latency),
            str(self.items),
            concurrency,
            str(self.foreign),
        ]

    def ideal(self) -> float:
        """An ideal client's utilisation: each window's slots at once, held latency + window."""
        cycles = -(-self.items // self.limit) - 1  # the windows after the first
        rate = (self.items - self.limit) / (cycles * (self.window + self.latency))
        return rate / (self.limit / self.window)


Run = dict[str, float]


def _runs(setup: Setup, roots: dict[str, Path | None], repeats: int) -> dict[str, list[Run]]:
    """``repeats`` runs of ``setup`` per side, the sides interleaved."""
    out: dict[str, list[Run]] = {side: [] for side in roots}
    for _ in range(repeats):
        for side, root in roots.items():
            line = baseline.python(_RUN, root, *setup.args(), timeout=600)
            out[side].append(json.loads(line.strip().splitlines()[-1]))
    return out


def section(quick: bool = False) -> str:
    """The Markdown section: header correction and default concurrency, before and after."""
    base = baseline.checkout()
    roots: dict[str, Path | None] = {"after": None}
    if base is not None:
        roots = {"before": base, "after": None}
    if quick:  # the same shapes, scaled down to a few seconds
        fast = Setup(limit=40, window=0.5, latency=0.005, items=120, concurrency=8)
        foreign = Setup(40, 0.5, 0.005, 120, concurrency=8, foreign=0.2)
        slow = Setup(limit=40, window=1.0, latency=0.1, items=80)
        repeats, others = 1, 1
        seeds, requests = 1, 300
    else:
        fast = Setup(limit=100, window=2.0, latency=0.005, items=400, concurrency=8)
        foreign = Setup(100, 2.0, 0.005, 400, concurrency=8, foreign=0.2)
        slow = Setup(limit=100, window=2.0, latency=0.2, items=400)
        repeats, others = 7, 3
        seeds, requests = 5, 1000
    fast_runs = _runs(fast, roots, repeats)
    foreign_runs = _runs(foreign, roots, others)
    slow_runs = _runs(slow, roots, others)
    ideal = slow.ideal()
    virtual = {
        side: json.loads(baseline.python(_VIRTUAL, root, str(seeds), str(requests)))
        for side, root in roots.items()
    }

    def row(label: str, cell: Callable[[str], str]) -> str:
        cells = [cell(side) for side in roots]
        if len(cells) == 1:
            cells.insert(0, "n/a")
        return f"| {label} | {cells[0]} | {cells[1]} |"

    def steady(side: str) -> str:
        scores = sorted(r["steady"] for r in fast_runs[side])
        return f"{scores[0]:.3f} / {statistics.median(scores):.3f}"

    def held(side: str) -> str:
        per = [r["held"] / r["requests"] * 1000 for r in fast_runs[side]]
        return f"{statistics.median(per):.1f} (max {max(per):.1f})"

    def rejected(runs: dict[str, list[Run]]) -> Callable[[str], str]:
        return lambda side: str(sum(int(r["rejected"]) for r in runs[side]))

    def foreign_share(side: str) -> str:
        # Ours over what the other consumer leaves us; the first window's
        # slots, taken before it is seen, are left out as everywhere else.
        left = 1 - foreign.foreign
        scores = sorted(r["steady"] / left for r in foreign_runs[side])
        return f"{scores[0]:.2f} / {statistics.median(scores):.2f}"

    def late(kind: str) -> Callable[[str], str]:
        def cell(side: str) -> str:
            runs = virtual[side]
            return " · ".join(
                f"{share:.0%}: {runs[f'{kind} {share}'][0]} ({runs[f'{kind} {share}'][1]})"
                for share in (0.1, 0.2, 0.4)
            )

        return cell

    def left_to_us(kind: str) -> Callable[[str], str]:
        def cell(side: str) -> str:
            runs = virtual[side]
            return " · ".join(
                f"{share:.0%}: {runs[f'{kind} {share}'][2]:.2f}" for share in (0.1, 0.2, 0.4)
            )

        return cell

    def against_ideal(side: str) -> str:
        best = max(r["utilisation"] for r in slow_runs[side])
        return f"{best:.3f} ({best / ideal:.2f} of ideal)"

    lines = [
        "### Rate limiter: header correction and default concurrency",
        "",
        f"Fresh FakeBillabex and `bulk_upsert` per run, each in its own process, before "
        f"({baseline.BASELINE[:7]}) and after interleaved run by run; utilisation is the "
        "admitted requests past the first window's, per second, over the limit (at 5 ms "
        "counted from the first window's last arrival, so the CPU time of sending a "
        "window's worth, which the last window repeats, is left out). The virtual-time rows "
        "run the limiter alone against a simulated server, deterministic per seed.",
        "",
        "| measure | before | after |",
        "|---|---|---|",
        row(
            f"utilisation at {fast.latency * 1000:g} ms latency ({fast.limit} / {fast.window:g} s, "
            f"{fast.items} upserts, concurrency {fast.concurrency}), {repeats} runs: min / median",
            steady,
        ),
        row(
            "slots held the server already freed per 1,000 requests, same runs: median (max)",
            held,
        ),
        row(f"429s in those {repeats} runs", rejected(fast_runs)),
        row(
            f"429s with a foreign consumer spending {foreign.foreign:.0%} of the limit, "
            f"{others} runs",
            rejected(foreign_runs),
        ),
        row(
            f"utilisation with that consumer, ours over the {1 - foreign.foreign:.0%} it "
            f"leaves us, same runs: min / median",
            foreign_share,
        ),
        row(
            f"virtual time, a steady foreign consumer at 10 / 20 / 40 % of 100 / 2 s, "
            f"{seeds} runs of {requests} each: 429s after 3 windows (all 429s)",
            late("steady"),
        ),
        row("same, a Poisson foreign consumer", late("poisson")),
        row(
            "virtual time, utilisation of the share left to us, steady consumer: min",
            left_to_us("steady"),
        ),
        row("same, Poisson consumer: min", left_to_us("poisson")),
        row(
            f"utilisation at {slow.latency * 1000:g} ms latency ({slow.limit} / {slow.window:g} s, "
            f"{slow.items} upserts), default concurrency, best of {others}, vs ideal {ideal:.3f}",
            against_ideal,
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(section(quick="--quick" in sys.argv[1:]))
