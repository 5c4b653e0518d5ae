"""Performance support: the scripts the limiter section runs in fresh interpreters, either package.

Each is Python source for ``bench.baseline.python``: it imports whichever
``billabex_async`` the child's path holds, so before and after run the same code.
"""

from __future__ import annotations

from bench import _private

__all__ = ["RUN", "VIRTUAL"]

# One run, in a fresh interpreter: argv = limit, window, latency, items,
# concurrency ("" for the default), foreign share. Prints one JSON line.
RUN = r"""
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
VIRTUAL = (
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
