"""Every public entry point against hostile answers: whatever is raised, or
reported as an item's failure, is a BillabexError, carries no token, and
every limiter slot taken is handed back."""

from __future__ import annotations

import gzip
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from billabex_async import BillabexClient, BulkReport, ContactUpsert, RateLimit, SyncResult, errors

from ._fakes import RecordingLimiter
from ._scripted import ACCOUNT, CONTACT, client_for, contact_json
from .conftest import TOKEN, ScriptedServer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ITEMS = [
    ContactUpsert(full_name="Ada Lovelace", language="en", email="ada@acme.test"),
    ContactUpsert(full_name="Grace Hopper", language="en", email="grace@acme.test"),
    ContactUpsert(full_name="Emmy Noether", language="de"),
]


def proper(request: web.Request) -> tuple[int, bytes]:
    """What a well-behaved server would answer this request."""
    if request.method == "DELETE":
        return 204, b""
    if request.method == "GET" and request.path.endswith("/contacts"):
        if request.query.get("after"):
            return 200, json.dumps({"nodes": [], "pageInfo": {"endCursor": None}}).encode()
        page = {"nodes": [contact_json(fullName="Old Name")], "pageInfo": {"endCursor": "c1"}}
        return 200, json.dumps(page).encode()
    return 200, json.dumps(contact_json(id=str(uuid.uuid4()))).encode()


def answer(
    status: int, body: bytes, content_type: str = "application/json", **headers: str
) -> web.Response:
    return web.Response(status=status, body=body, content_type=content_type, headers=headers)


ABSURD = {"X-RateLimit-Limit": "inf", "X-RateLimit-Remaining": "1e999", "X-RateLimit-Reset": "²"}


async def html(request: web.Request) -> web.StreamResponse:
    return answer(200, b"<html><body>Please sign in to the proxy</body></html>", "text/html")


async def bad_json(request: web.Request) -> web.StreamResponse:
    return answer(200, b'{"nodes": [{"id": ')


async def bad_utf8(request: web.Request) -> web.StreamResponse:
    return answer(200, b'{"fullName": "\xff\xfe\xfa", "nodes": []}')


async def wrong_shape(request: web.Request) -> web.StreamResponse:
    return answer(200, b"[1, 2, 3]")


async def redirect(request: web.Request) -> web.StreamResponse:
    return answer(302, b"", Location="https://elsewhere.example/login?next=x")


async def absurd_headers(request: web.Request) -> web.StreamResponse:
    status, body = proper(request)
    return answer(status, body, **ABSURD)


async def absurd_429(request: web.Request) -> web.StreamResponse:
    return answer(429, b'{"message": "slow"}', **ABSURD, **{"Retry-After": "nan"})


async def oversized(request: web.Request) -> web.StreamResponse:
    status, body = proper(request)
    if status == 200:
        data = json.loads(body)
        data["padding"] = "p" * 10_000
        body = json.dumps(data).encode()
    return answer(status, body)


async def bad_gzip(request: web.Request) -> web.StreamResponse:
    return answer(200, gzip.compress(b'{"nodes": [')[:-12], **{"Content-Encoding": "gzip"})


async def echo_401(request: web.Request) -> web.StreamResponse:
    sent = request.headers["Authorization"]
    return web.json_response({"message": f"invalid token {sent}"}, status=401)


async def reset(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.abort()
    return web.Response()


HOSTILE: dict[str, Handler] = {
    "html-200": html,
    "bad-json-200": bad_json,
    "invalid-utf8-200": bad_utf8,
    "wrong-shape-200": wrong_shape,
    "redirect-302": redirect,
    "absurd-headers": absurd_headers,
    "429-absurd": absurd_429,
    "oversized": oversized,
    "bad-gzip": bad_gzip,
    "401-echo": echo_401,
    "reset": reset,
}


async def consume(agen: Any) -> list[Any]:
    return [x async for x in agen]


ENTRY_POINTS: dict[str, Callable[[BillabexClient], Awaitable[Any]]] = {
    "list": lambda c: c.contacts.list(ACCOUNT),
    "iterate": lambda c: consume(c.contacts.iterate(ACCOUNT)),
    "get": lambda c: c.contacts.get(ACCOUNT, CONTACT),
    "create": lambda c: c.contacts.create(ACCOUNT, full_name="Ada", language="en"),
    "update": lambda c: c.contacts.update(ACCOUNT, CONTACT, full_name="Ada"),
    "delete": lambda c: c.contacts.delete(ACCOUNT, CONTACT),
    "upsert": lambda c: c.contacts.upsert(ACCOUNT, full_name="Ada", language="en"),
    "contacts.bulk_upsert": lambda c: c.contacts.bulk_upsert(ACCOUNT, ITEMS),
    "contacts.bulk_upsert_iter": lambda c: consume(c.contacts.bulk_upsert_iter(ACCOUNT, ITEMS)),
    "bulk_upsert": lambda c: c.bulk_upsert([(ACCOUNT, i) for i in ITEMS]),
    "bulk_upsert_iter": lambda c: consume(c.bulk_upsert_iter([(ACCOUNT, i) for i in ITEMS])),
    "sync": lambda c: c.contacts.sync(ACCOUNT, ITEMS),
    "sync-dry-run": lambda c: c.contacts.sync(ACCOUNT, ITEMS, dry_run=True),
}


def reported_errors(result: Any) -> list[BaseException]:
    """The per-item errors a bulk report or sync result holds."""
    if isinstance(result, BulkReport | SyncResult):
        found: list[BaseException] = [f.error for f in result.failed]
        if isinstance(result, SyncResult):
            found += [c.error for c in result.failed_deletes if c.error is not None]
        if result.error is not None:
            found.append(result.error)
        return found
    if isinstance(result, list):
        return [e for x in result for e in [getattr(x, "error", None)] if e is not None]
    return []


def assert_typed(exc: BaseException) -> None:
    assert isinstance(exc, errors.BillabexError), f"{type(exc).__name__}: {exc}"
    node: BaseException | None = exc
    while node is not None:
        assert TOKEN not in str(node)
        assert TOKEN not in repr(node)
        node = node.__cause__ or node.__context__


@pytest.mark.parametrize("hostile", list(HOSTILE))
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
async def test_every_failure_is_a_billabex_error(
    scripted: ScriptedServer, entry: str, hostile: str
) -> None:
    scripted.default = HOSTILE[hostile]
    client = client_for(
        scripted, rate_limit=RateLimit(1000, 60.0), max_retries=1, max_response_bytes=4096
    )
    async with client:
        limiter = RecordingLimiter()
        client._transport._limiter = limiter
        client._transport._clock = limiter.clock
        client._transport._sleep = limiter.clock.sleep
        try:
            result = await ENTRY_POINTS[entry](client)
        except Exception as exc:  # noqa: BLE001 - the point: what type it is
            assert_typed(exc)
        else:
            for error in reported_errors(result):
                assert_typed(error)
    assert limiter.in_flight == 0
    assert limiter.acquired == len(scripted.seen) or hostile == "reset"


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
async def test_a_closed_client_fails_typed_everywhere(scripted: ScriptedServer, entry: str) -> None:
    client = client_for(scripted, rate_limit=RateLimit(1000, 60.0))
    async with client:
        limiter = RecordingLimiter()
        client._transport._limiter = limiter
    try:
        result = await ENTRY_POINTS[entry](client)
    except Exception as exc:  # noqa: BLE001
        assert isinstance(exc, errors.ClientClosedError), repr(exc)  # noqa: PT017
    else:
        found = reported_errors(result)
        assert found
        assert all(isinstance(e, errors.ClientClosedError) for e in found), found
    assert scripted.seen == []
    assert limiter.acquired == 0


async def test_one_undecodable_answer_fails_one_bulk_item_not_the_run(
    scripted: ScriptedServer,
) -> None:
    served = 0

    async def mostly_fine(request: web.Request) -> web.StreamResponse:
        nonlocal served
        served += 1
        if served % 8 == 5:
            return answer(200, b"<html>gateway hiccup</html>", "text/html")
        status, body = proper(request)
        return answer(status, body)

    scripted.default = mostly_fine
    items = [
        ContactUpsert(full_name=f"Q{i:03} Z{i * 7919 % 1000:03}", language="en") for i in range(40)
    ]
    async with client_for(scripted, max_retries=0) as client:
        report = await client.contacts.bulk_upsert(ACCOUNT, items, concurrency=1)
    assert report.total == 40
    assert report.succeeded == 35
    assert len(report.failed) == 5
    assert all(isinstance(f.error, errors.APIResponseValidationError) for f in report.failed)
    assert report.error is None


async def test_an_unexpected_exception_fails_its_item_only(scripted: ScriptedServer) -> None:
    scripted.default = absurd_headers
    async with client_for(scripted) as client:
        real = client.contacts._transport

        class Flaky:
            calls = 0

            async def request(self, *args: Any, **kwargs: Any) -> Any:
                self.calls += 1
                if self.calls == 2:
                    raise KeyError("a bug in one item's path")
                return await real.request(*args, **kwargs)

        client.contacts._transport = Flaky()  # type: ignore[assignment]
        report = await client.contacts.bulk_upsert(ACCOUNT, ITEMS, concurrency=1)
    assert report.total == 3
    assert report.succeeded == 2
    [failure] = report.failed
    assert isinstance(failure.error, KeyError)


def test_the_readme_error_table_lists_every_exception_and_all_are_billabex_errors() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Errors", 1)[1].split("\n## ", 1)[0]
    assert "Everything raised derives from `billabex_async.errors.BillabexError`" in section
    table = "\n".join(line for line in section.splitlines() if line.startswith("| `"))
    builtins = {"APIStatusError", "ValueError", "RuntimeError"}
    listed = set(re.findall(r"`([A-Za-z]+Error)`", table)) - builtins
    public = {
        name
        for name in errors.__all__
        if isinstance(getattr(errors, name), type)
        and issubclass(getattr(errors, name), Exception)
        and name not in ("BillabexError", "APIStatusError")
    }
    assert public - listed == set(), "missing from the README's error table"
    assert listed - public == set(), "in the README's table but not in errors"
    for name in public:
        assert issubclass(getattr(errors, name), errors.BillabexError), name
