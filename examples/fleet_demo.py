"""Example (``make fleet-demo``): a fleet of 4 workers syncing 3 tenants x 10 accounts.

Starts a local redis-server (on a free port) and the simulator with one token
per tenant (each with its own limit: 100 requests per 2 s, Billabex's 300 per
60 s compressed), queues one sync per account (tenant-0 from CSV files,
tenant-1 from JSON Lines files, tenant-2 from the registered ``fn:people``
source), starts 4 worker processes (examples/fleet_worker.py), SIGKILLs one
as soon as it reports progress on a job, and waits until the others have
finished everything, the killed worker's job included (arq gives it to
another worker once its claim expires: the job timeout + 10 s). Then it
prints, per tenant, what the server saw: requests, how full the tenant's
window was while it had work (utilisation), 429s, contacts stored against
expected, duplicates. Exit status 1 if any account did not converge.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # fleet_worker, when this file is loaded by path
    sys.path.insert(0, str(HERE))

from fleet_redis import redis_server  # noqa: E402
from fleet_worker import account_people  # noqa: E402

from billabex_async import ContactUpsert, RateLimit  # noqa: E402
from billabex_async.fleet import connect, enqueue_account, events_key, job_id, job_state  # noqa: E402
from billabex_async.testing import FakeBillabex, RequestRecord  # noqa: E402

__all__ = ["FleetRun", "TenantReport", "main", "run_fleet", "utilisation"]

WORKER = HERE / "fleet_worker.py"
PREFIX = "billabex:fleet"
_ACCOUNT_IN_PATH = re.compile(r"/accounts/([0-9a-fA-F-]{36})")


@dataclass(frozen=True)
class TenantReport:
    """What the server saw of one tenant."""

    tenant: str
    requests: int
    rate_limited: int
    utilisation: float
    stored: int
    expected: int
    duplicates: int
    converged: int
    """Accounts holding exactly the expected contacts."""
    accounts: int


@dataclass
class FleetRun:
    """One run: per-tenant reports, which worker was killed, and the killed job's tries."""

    reports: list[TenantReport]
    killed_pid: int | None = None
    killed_job: str | None = None
    killed_job_tries: int | None = None
    exit_codes: list[int | None] = field(default_factory=list)
    arrivals: dict[str, list[float]] = field(default_factory=dict)
    """Each tenant's request arrivals on the simulator's clock."""
    wall: float = 0.0


def utilisation(arrivals: Sequence[float], limit: int, window: float) -> float:
    """How full the tenant's window was, on average, while it had work: 1.0 is the limit.

    A busy period is a run of arrivals with no gap longer than ``window`` (a
    sender held back by the limit never waits that long). Its first window
    is left out: a sliding window only fills up then, whatever the sender.
    Over the rest, the server's count of arrivals in the last ``window``
    seconds is integrated (an arrival counts for one window from its time)
    and divided by ``limit`` x the time. None busy for over a window: 0.0.
    """
    times = sorted(arrivals)
    area = span = 0.0
    start = 0
    for i in range(1, len(times) + 1):
        if i < len(times) and times[i] - times[i - 1] <= window:
            continue
        period, start = times[start:i], i
        begin, end = period[0] + window, period[-1]
        if end <= begin:
            continue
        area += sum(max(0.0, min(t + window, end) - max(t, begin)) for t in period)
        span += end - begin
    return area / (limit * span) if span else 0.0


def _write_source(folder: Path, tenant: str, account: str, people: list[ContactUpsert]) -> str:
    fields = [{"full_name": p.full_name, "language": p.language, "email": p.email} for p in people]
    if tenant.endswith("0"):
        path = folder / f"{account}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["full_name", "language", "email"])
            writer.writeheader()
            writer.writerows(fields)
        return str(path)
    if tenant.endswith("1"):
        path = folder / f"{account}.jsonl"
        path.write_text("".join(json.dumps(f) + "\n" for f in fields))
        return f"file://{path}"
    return "fn:people"


async def _kill_on_progress(
    redis: aioredis.Redis, job: str, pids: set[int], done_at_least: int
) -> int:
    """Wait until a worker reports ``done_at_least`` writes on ``job``, then SIGKILL it; its pid.

    Progress events are coalesced (one per 0.25 s at most): a job that
    finishes without one at that count raises RuntimeError instead of waiting.
    """
    last = "0"
    while True:
        answer = await redis.xread({events_key(PREFIX): last}, block=1000, count=100)
        for _, entries in answer:
            for entry_id, raw in entries:
                last = entry_id
                event = {k.decode(): v.decode() for k, v in raw.items()}
                pid = int(event.get("worker", ":0").rpartition(":")[2])
                progressed = int(event.get("done", "0")) >= done_at_least
                if event.get("job_id") != job or pid not in pids:
                    continue
                if event.get("event") == "finished":
                    raise RuntimeError(f"{job} finished before it showed {done_at_least} writes")
                if event.get("event") == "progress" and progressed:
                    os.kill(pid, signal.SIGKILL)
                    return pid


def _tenant_requests(
    log: list[RequestRecord], owner: dict[str, str]
) -> dict[str, list[RequestRecord]]:
    by_tenant: dict[str, list[RequestRecord]] = {}
    for record in log:
        match = _ACCOUNT_IN_PATH.search(record.path)
        if match and match.group(1) in owner:
            by_tenant.setdefault(owner[match.group(1)], []).append(record)
    return by_tenant


async def run_fleet(
    redis_url: str,
    *,
    tenants: int = 3,
    accounts: int = 10,
    people: int = 10,
    workers: int = 4,
    limit: int = 50,
    window: float = 4.0,
    job_timeout: float = 8.0,
    max_jobs: int = 2,
    kill_after: int = 1,
    kill_account: int = 9,
    concurrency: int | None = 2,
    deadline: float = 120.0,
) -> FleetRun:
    """Run the whole scenario against ``redis_url`` (an empty Redis); the run's figures."""
    started = time.monotonic()
    async with FakeBillabex(rate_limit=RateLimit(limit, window)) as fake:
        names = [f"tenant-{i}" for i in range(tenants)]
        tokens = {name: fake.issue_token() for name in names}
        owned = {name: [fake.create_account() for _ in range(accounts)] for name in names}
        owner = {account: name for name, ids in owned.items() for account in ids}
        with tempfile.TemporaryDirectory(prefix="billabex-fleet-demo-") as tmp:
            folder = Path(tmp)
            token_file = folder / "tokens.json"
            token_file.touch(mode=0o600)
            token_file.write_text(json.dumps(tokens))
            env = {
                **os.environ,
                "BILLABEX_BASE_URL": fake.url,
                "BILLABEX_FLEET_REDIS": redis_url,
                "BILLABEX_FLEET_TOKENS": str(token_file),
                "BILLABEX_FLEET_RATE": f"{limit}/{window:g}",
                "BILLABEX_FLEET_JOB_TIMEOUT": str(job_timeout),
                "BILLABEX_FLEET_MAX_JOBS": str(max_jobs),
                "BILLABEX_FLEET_PEOPLE": str(people),
                "BILLABEX_FLEET_BURST": "1",
            }
            arq = await connect(redis_url)
            try:
                # Queued while the workers start: they take jobs as soon as they are up.
                procs = [
                    await asyncio.create_subprocess_exec(sys.executable, str(WORKER), env=env)
                    for _ in range(workers)
                ]
                for index in range(accounts):  # one account of each tenant in turn
                    for name in names:
                        account = owned[name][index]
                        desired = account_people(name, account, people)
                        source = _write_source(folder, name, account, desired)
                        await enqueue_account(arq, name, account, source, concurrency=concurrency)
                run = FleetRun(reports=[])
                try:
                    async with asyncio.timeout(deadline):
                        pids = {p.pid for p in procs}
                        run.killed_job = job_id(names[0], owned[names[0]][kill_account])
                        run.killed_pid = await _kill_on_progress(
                            arq, run.killed_job, pids, kill_after
                        )
                        run.exit_codes = [await p.wait() for p in procs]
                finally:
                    for proc in procs:
                        if proc.returncode is None:
                            proc.kill()
                            await proc.wait()
                states = {
                    account: await job_state(arq, owner[account], account) for account in owner
                }
            finally:
                await arq.aclose()
        if run.killed_job is not None:
            killed = next(s for s in states.values() if s.job_id == run.killed_job)
            run.killed_job_tries = int(killed.progress.get("try", "0"))
        by_tenant = _tenant_requests(fake.requests, owner)
        for name in names:
            records = by_tenant.get(name, [])
            run.arrivals[name] = [r.time for r in records]
            stored = expected = duplicates = converged = 0
            for account in owned[name]:
                want = {p.email for p in account_people(name, account, people)}
                emails = [c.email.address for c in fake.contacts(account) if c.email is not None]
                stored += len(emails)
                expected += len(want)
                duplicates += len(emails) - len(set(emails))
                converged += set(emails) == want and len(emails) == len(want)
            run.reports.append(
                TenantReport(
                    tenant=name,
                    requests=len(records),
                    rate_limited=sum(r.status == 429 for r in records),
                    utilisation=utilisation([r.time for r in records], limit, window),
                    stored=stored,
                    expected=expected,
                    duplicates=duplicates,
                    converged=converged,
                    accounts=accounts,
                )
            )
    run.wall = time.monotonic() - started
    return run


def table(run: FleetRun, limit: int, window: float) -> str:
    head = f"{'tenant':<10}{'requests':>9}{'util':>7}{'429s':>6}{'stored/expected':>17}"
    head += f"{'dups':>6}{'converged':>11}"
    lines = [f"limit per tenant: {limit} requests per {window:g} s", head, "-" * len(head)]
    for r in run.reports:
        lines.append(
            f"{r.tenant:<10}{r.requests:>9}{r.utilisation:>7.2f}{r.rate_limited:>6}"
            f"{f'{r.stored}/{r.expected}':>17}{r.duplicates:>6}{f'{r.converged}/{r.accounts}':>11}"
        )
    lines.append(
        f"killed worker pid {run.killed_pid} on {run.killed_job}; that job took "
        f"{run.killed_job_tries} tries; wall {run.wall:.1f} s"
    )
    return "\n".join(lines)


async def main() -> int:
    limit, window = 50, 4.0
    async with redis_server() as url:
        run = await run_fleet(url, limit=limit, window=window)
    print(table(run, limit, window))
    ok = all(r.converged == r.accounts and not r.duplicates for r in run.reports)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
