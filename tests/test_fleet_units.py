"""billabex_async.fleet's parts in one process: ids, sources, enqueueing, the job, progress.

The whole fleet (worker processes, a kill, the server's view) is
tests/test_fleet_e2e.py; here each rule is pinned where it is cheap to.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("arq", reason="arq missing: pip install 'billabex-async[fleet]'")

from aiohttp import web
from arq.connections import ArqRedis
from arq.worker import Worker

from billabex_async import BillabexClient, ContactUpsert, RateLimit
from billabex_async.errors import InvalidRequestError
from billabex_async.fleet import (
    SourceError,
    _serialize,
    check_source,
    connect,
    enqueue_account,
    events_key,
    job_id,
    job_state,
    parse_job_id,
    retry_delay,
    token_store,
    worker_settings,
)
from billabex_async.fleet._sources import open_source
from billabex_async.testing import FakeBillabex
from tests._login import sign_in
from tests._redis import redis_url_or_skip

ACCOUNT = "0b9f6a5e-8f43-4c1b-9d1a-3f1f7e2a6c10"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    yield from redis_url_or_skip()


@pytest.fixture
async def arq_redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    redis = await connect(redis_url)
    await redis.flushdb()
    yield redis
    await redis.aclose()


# -- ids -------------------------------------------------------------------------


def test_a_job_id_is_keyed_by_tenant_and_account_and_reads_back() -> None:
    upper = ACCOUNT.upper()
    assert job_id("acme", upper) == job_id("acme", ACCOUNT)  # the account is canonical
    assert job_id("acme", ACCOUNT) != job_id("acme2", ACCOUNT)
    # A tenant holding the separator cannot pass for another tenant's id.
    tricky = job_id("a:b", ACCOUNT)
    assert parse_job_id(tricky) == ("a:b", ACCOUNT)
    assert tricky != job_id("a", ACCOUNT)


@pytest.mark.parametrize(
    ("tenant", "account"), [("", ACCOUNT), (" ", ACCOUNT), ("acme", "nope"), ("a\nb", ACCOUNT)]
)
def test_bad_tenants_and_accounts_are_refused(tenant: str, account: str) -> None:
    with pytest.raises(InvalidRequestError):
        job_id(tenant, account)


@pytest.mark.parametrize(
    "source",
    ["", "fn:", "http://example.com/a.csv", "https://example.com/a.txt", "contacts.xlsx"],
)
def test_sources_that_cannot_be_opened_are_refused(source: str) -> None:
    with pytest.raises(InvalidRequestError):
        check_source(source)


@pytest.mark.parametrize(
    "source",
    ["fn:crm", "https://bucket.example/x/contacts.csv?sig=1", "http://127.0.0.1:9/a.jsonl",
     "/data/a.csv", "file:///data/a.ndjson"],
)  # fmt: skip
def test_named_sources_are_accepted(source: str) -> None:
    assert check_source(source) == source


def test_retry_delay_doubles_and_is_capped() -> None:
    assert [retry_delay(n) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert retry_delay(50) == 300.0


def test_results_go_through_json_and_errors_keep_their_type() -> None:
    data = _serialize.dumps({"r": ValueError("bad row"), "s": (1, 2)})
    error = {"error": "ValueError", "message": "bad row"}
    assert _serialize.loads(data) == {"r": error, "s": [1, 2]}
    with pytest.raises(TypeError):
        _serialize.dumps(object())


# -- sources ---------------------------------------------------------------------


async def _read(source: str, **kwargs: Any) -> list[ContactUpsert]:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        registered = kwargs.pop("registered", {})
        async with open_source(
            source, "acme", ACCOUNT, registered=registered, session=session, **kwargs
        ) as desired:
            assert not isinstance(desired, AsyncIterator)
            return list(desired)  # type: ignore[arg-type]


async def test_a_csv_file_and_a_jsonl_url_give_the_same_contacts(tmp_path: Path) -> None:
    csv_file = tmp_path / "a.csv"
    csv_file.write_text("full_name,language,email\nAda Lovelace,en,ada@example.org\n")
    jsonl = b'{"fullName": "Ada Lovelace", "language": "en", "email": "ada@example.org"}\n'

    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=jsonl)

    async def busy(_: web.Request) -> web.Response:
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/a.jsonl", serve)
    app.router.add_get("/busy.csv", busy)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        from_file = await _read(str(csv_file))
        from_url = await _read(f"http://127.0.0.1:{port}/a.jsonl")
        with pytest.raises(SourceError) as missing:
            await _read(f"http://127.0.0.1:{port}/gone.csv")
        with pytest.raises(SourceError) as unavailable:
            await _read(f"http://127.0.0.1:{port}/busy.csv")
        with pytest.raises(SourceError) as big:
            await _read(f"http://127.0.0.1:{port}/a.jsonl", max_download_bytes=10)
    finally:
        await runner.cleanup()
    assert (
        from_file
        == from_url
        == [ContactUpsert(full_name="Ada Lovelace", language="en", email="ada@example.org")]
    )
    assert not missing.value.transient  # a 404 will not heal by itself
    assert unavailable.value.transient  # a 503 may: the job is tried again later
    assert not big.value.transient


async def test_a_bad_row_and_an_unknown_name_fail_for_good(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("full_name,language\nAda,english\n")
    with pytest.raises(SourceError) as row:
        await _read(str(bad))
    assert "bad.csv:2" in str(row.value)
    assert not row.value.transient
    with pytest.raises(SourceError, match="no source registered"):
        await _read("fn:crm")


async def test_a_registered_async_generator_is_a_source() -> None:
    async def crm(tenant: str, account: str) -> AsyncIterator[ContactUpsert]:
        yield ContactUpsert(full_name=f"{tenant} {account[:4]}", language="en")

    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        open_source("fn:crm", "acme", ACCOUNT, registered={"crm": crm}, session=session) as got,
    ):
        assert isinstance(got, AsyncIterator)
        names = [c.full_name async for c in got]
    assert names == ["acme 0b9f"]


# -- enqueueing ------------------------------------------------------------------


async def test_an_account_is_queued_once_and_again_after_it_finished(arq_redis: ArqRedis) -> None:
    first = await enqueue_account(arq_redis, "acme", ACCOUNT, "fn:crm")
    again = await enqueue_account(arq_redis, "acme", ACCOUNT.upper(), "fn:other")
    other_tenant = await enqueue_account(arq_redis, "globex", ACCOUNT, "fn:crm")
    assert first is not None
    assert first.job_id == job_id("acme", ACCOUNT)
    assert again is None  # queued already: one job per (tenant, account)
    assert other_tenant is not None
    state = await job_state(arq_redis, "acme", ACCOUNT)
    assert state.status == "queued"


async def test_bad_input_is_refused_before_redis_is_touched(arq_redis: ArqRedis) -> None:
    with pytest.raises(InvalidRequestError, match="unknown sync option"):
        await enqueue_account(arq_redis, "acme", ACCOUNT, "fn:crm", dry_rn=True)
    with pytest.raises(InvalidRequestError):
        await enqueue_account(arq_redis, "acme", ACCOUNT, "notes.txt")
    assert await arq_redis.dbsize() == 0


# -- the job, run by a real arq worker in this process ---------------------------


# arq's Worker.close() still calls redis-py's deprecated close().
ARQ_CLOSE = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


async def _run_burst(settings: dict[str, Any]) -> Worker:
    worker = Worker(**{**settings, "burst": True, "handle_signals": False, "poll_delay": 0.05})
    try:
        await worker.main()
    finally:
        await worker.close()
    return worker


@ARQ_CLOSE
async def test_the_job_syncs_the_account_and_stores_result_and_progress(
    redis_url: str, arq_redis: ArqRedis
) -> None:
    names = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov",
             "Donald Knuth", "Margaret Hamilton", "John McCarthy"]  # fmt: skip
    people = [
        ContactUpsert(full_name=n, language="en", email=f"{n.split()[0].lower()}@example.org")
        for n in names
    ]

    async def crm(tenant: str, account: str) -> list[ContactUpsert]:
        return people

    async with FakeBillabex(rate_limit=RateLimit(40, 1.0)) as fake:
        token = fake.token

        async def credentials(tenant: str) -> str:
            return token

        settings = worker_settings(
            redis_url=redis_url,
            credentials=credentials,
            rate_limit=RateLimit(40, 1.0),
            sources={"crm": crm},
            base_url=fake.url,
        )
        await enqueue_account(arq_redis, "acme", fake.account_id, "fn:crm", concurrency=2)
        worker = await _run_burst(settings)
        stored = sorted(c.email.address for c in fake.contacts(fake.account_id) if c.email)
        # Its result is kept unless replaced; run again: nothing changed, nothing is written.
        kept = await enqueue_account(
            arq_redis, "acme", fake.account_id, "fn:crm", replace_finished=False
        )
        assert kept is None
        assert await enqueue_account(arq_redis, "acme", fake.account_id, "fn:crm") is not None
        writes_before = sum(r.method == "PUT" for r in fake.requests)
        await _run_burst(settings)
        writes_after = sum(r.method == "PUT" for r in fake.requests)
    assert worker.jobs_complete == 1
    assert worker.jobs_failed == 0
    assert stored == sorted(p.email for p in people if p.email)
    assert writes_after == writes_before
    state = await job_state(arq_redis, "acme", fake.account_id)
    assert state.status == "complete"
    assert state.success
    assert state.result["created"] == 0
    assert state.result["unchanged"] == len(people)
    assert state.progress["state"] == "complete"
    assert state.progress["try"] == "1"
    events = await arq_redis.xrange(events_key("billabex:fleet"))
    kinds = [e[1][b"event"].decode() for e in events]
    assert kinds[0] == "started"
    assert kinds.count("finished") == 2
    assert json.loads(state.progress["failures"]) == []


@ARQ_CLOSE
async def test_without_credentials_a_tenant_signs_in_from_the_fleet_token_store(
    redis_url: str, arq_redis: ArqRedis
) -> None:
    async def crm(tenant: str, account: str) -> list[ContactUpsert]:
        return [ContactUpsert(full_name="Ada Lovelace", language="en")]

    async with FakeBillabex(rate_limit=RateLimit(40, 1.0)) as fake:
        await token_store(arq_redis, "acme").save(await sign_in(fake))
        settings = worker_settings(
            redis_url=redis_url,
            sources={"crm": crm},
            base_url=fake.url,
            rate_limit=RateLimit(40, 1.0),
        )
        await enqueue_account(arq_redis, "acme", fake.account_id, "fn:crm")
        await enqueue_account(arq_redis, "nobody", fake.account_id, "fn:crm")
        await _run_burst(settings)
        names = [c.full_name for c in fake.contacts(fake.account_id)]
    assert names == ["Ada Lovelace"]
    assert (await job_state(arq_redis, "acme", fake.account_id)).success
    # A tenant with nothing stored fails its job, with the reason.
    nobody = await job_state(arq_redis, "nobody", fake.account_id)
    assert nobody.success is False
    assert "AuthRefreshError" in nobody.progress["error"]


@ARQ_CLOSE
async def test_a_write_that_failed_on_a_5xx_runs_the_job_again_and_it_converges(
    redis_url: str, arq_redis: ArqRedis
) -> None:
    async def crm(tenant: str, account: str) -> list[ContactUpsert]:
        return [ContactUpsert(full_name="Ada Lovelace", language="en", email="ada@example.org")]

    async with FakeBillabex(rate_limit=RateLimit(40, 1.0)) as fake:
        token = fake.token

        async def credentials(tenant: str) -> str:
            return token

        fake.script(method="PUT", path_contains="/upsert", status=503, times=1)
        settings = worker_settings(
            redis_url=redis_url,
            credentials=credentials,
            sources={"crm": crm},
            base_url=fake.url,
            rate_limit=RateLimit(40, 1.0),
            max_retries=0,  # the client gives up at once: the job's retry takes over
        )
        await enqueue_account(arq_redis, "acme", fake.account_id, "fn:crm")
        worker = await _run_burst(settings)
        names = [c.full_name for c in fake.contacts(fake.account_id)]
        statuses = [r.status for r in fake.requests if r.method == "PUT"]
    assert statuses == [503, 201]
    assert names == ["Ada Lovelace"]
    assert worker.jobs_retried == 1
    state = await job_state(arq_redis, "acme", fake.account_id)
    assert state.success
    assert state.progress["try"] == "2"
    assert state.result["created"] == 1


@ARQ_CLOSE
async def test_a_failed_row_source_fails_the_job_with_its_reason(
    redis_url: str, arq_redis: ArqRedis, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("full_name,language\nAda,english\n")

    async def credentials(tenant: str) -> str:
        return "unused-token"

    settings = worker_settings(
        redis_url=redis_url, credentials=credentials, base_url="http://127.0.0.1:9"
    )
    await enqueue_account(arq_redis, "acme", ACCOUNT, str(bad))
    worker = await _run_burst(settings)
    state = await job_state(arq_redis, "acme", ACCOUNT)
    assert worker.jobs_failed == 1
    assert state.success is False
    assert state.progress["state"] == "failed"
    assert "SourceError" in state.progress["error"]


# -- the engine on a shared limiter ----------------------------------------------


async def test_bulk_upsert_follows_a_redis_limiter_with_the_default_concurrency(
    redis_url: str,
) -> None:
    """The adaptive concurrency once called the Redis limiter's async ``used()``
    as if it were the in-memory one's, and every write failed with a TypeError."""
    async with FakeBillabex(rate_limit=RateLimit(40, 1.0)) as fake:
        rate = RateLimit(40, 1.0, storage=redis_url)
        async with BillabexClient(fake.token, base_url=fake.url, rate_limit=rate) as client:
            rows = [
                ContactUpsert(full_name=name, language="en")
                for name in ("Ada Lovelace", "Grace Hopper", "Alan Turing")
            ]
            report = await client.contacts.bulk_upsert(fake.account_id, rows)
    assert report.succeeded == 3
    assert report.failed == []
