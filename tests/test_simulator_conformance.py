"""FakeBillabex: every response it sends validates against openapi/contacts.yaml."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest
from multidict import CIMultiDict
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from billabex_async._types import RateLimit
from billabex_async.testing import FakeBillabex

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "contacts.yaml"
API = "/api/public/v1"
# The spec's server; the fake's host is swapped for it so paths resolve.
SPEC_HOST = "https://next.billabex.com"


@attrs.frozen
class Exchange:
    method: str
    path: str
    query: dict[str, str]
    body: bytes | None
    status: int
    headers: CIMultiDict[str]
    content_type: str
    data: bytes


class Recorder:
    """Sends requests to the fake and keeps every exchange for validation."""

    def __init__(self, session: aiohttp.ClientSession, fake: FakeBillabex, clock: FakeClock):
        self.session, self.fake, self.clock = session, fake, clock
        self.exchanges: list[Exchange] = []

    async def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        token: str | None = None,
        anonymous: bool = False,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        fresh_window: bool = True,
    ) -> tuple[int, Any]:
        if fresh_window:  # the 2-per-minute window is empty again
            self.clock.now += 61.0
        sent = dict(headers or {})
        if not anonymous:
            sent["Authorization"] = f"Bearer {token or self.fake.token}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            sent["Content-Type"] = "application/json"
        url = self.fake.url + API + path
        async with self.session.request(
            method, url, params=query or {}, data=data, headers=sent
        ) as resp:
            payload = await resp.read()
            self.exchanges.append(
                Exchange(
                    method=method,
                    path=API + path,
                    query=query or {},
                    body=data,
                    status=resp.status,
                    headers=CIMultiDict(resp.headers),
                    content_type=resp.content_type,
                    data=payload,
                )
            )
            return resp.status, json.loads(payload) if payload else None


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    clock = FakeClock()
    async with (
        FakeBillabex(rate_limit=RateLimit(2, 60.0), clock=clock, max_page_size=2) as fake,
        aiohttp.ClientSession() as session,
    ):
        yield Recorder(session, fake, clock)


async def exercise(call: Recorder) -> None:
    """Every endpoint, with every status the fake can produce for it."""
    fake = call.fake
    contacts = f"/accounts/{fake.account_id}/contacts"
    ada = {"fullName": "Ada Lovelace", "language": "en", "email": "ada@example.com"}
    reader = fake.issue_token(scopes=("accounts:read",))
    # POST
    status, created = await call("POST", contacts, ada, headers={"Idempotency-Key": "k"})
    assert status == 201
    # The replay of the first answer (201), marked Idempotent-Replayed.
    assert (await call("POST", contacts, ada, headers={"Idempotency-Key": "k"}))[0] == 201
    assert call.exchanges[-1].headers["Idempotent-Replayed"] == "true"
    assert (
        await call("POST", contacts, {**ada, "language": "fr"}, headers={"Idempotency-Key": "k"})
    )[0] == 409
    assert (await call("POST", contacts, raw=b"{"))[0] == 400
    assert (await call("POST", contacts, ada, token="nope"))[0] == 401
    assert (await call("POST", contacts, ada, token=reader))[0] == 403
    assert (await call("POST", f"/accounts/{uuid.uuid4()}/contacts", ada))[0] == 404
    assert (await call("POST", contacts, {"fullName": "Ada"}))[0] == 422
    # GET (list), with pages and an empty last page
    await call("POST", contacts, {"fullName": "Grace Hopper", "language": "en"})
    await call("POST", contacts, {"fullName": "Alan Turing", "language": "en", "isPrimary": True})
    status, page = await call("GET", contacts, query={"first": "2"})
    assert status == 200
    after = page["pageInfo"]["endCursor"]
    status, page = await call("GET", contacts, query={"first": "2", "after": after})
    status, page = await call(
        "GET", contacts, query={"first": "2", "after": page["pageInfo"]["endCursor"]}
    )
    assert page["nodes"] == []
    assert (await call("GET", contacts, query={"first": "0"}))[0] == 400
    assert (await call("GET", contacts, anonymous=True))[0] == 401
    assert (await call("GET", contacts, token=fake.issue_token(scopes=())))[0] == 403
    assert (await call("GET", f"/accounts/{uuid.uuid4()}/contacts"))[0] == 404
    # PUT upsert
    upsert = contacts + "/upsert"
    assert (await call("PUT", upsert, {"fullName": "ada lovelace", "language": "fr"}))[0] == 200
    assert (await call("PUT", upsert, {"fullName": "Edsger Dijkstra", "language": "nl"}))[0] == 201
    assert (await call("PUT", upsert, raw=b"nope"))[0] == 400
    assert (await call("PUT", upsert, ada, token=reader))[0] == 403
    assert (await call("PUT", upsert, {"fullName": "X", "language": "english"}))[0] == 422
    assert (await call("PUT", f"/accounts/{uuid.uuid4()}/contacts/upsert", ada))[0] == 404
    # PATCH
    one = f"{contacts}/{created['id']}"
    assert (await call("PATCH", one, {"email": None, "role": "CFO"}))[0] == 200
    assert (await call("PATCH", one, raw=b"[1,"))[0] == 400
    assert (await call("PATCH", one, {"language": "EN"}))[0] == 422
    assert (await call("PATCH", f"{contacts}/{uuid.uuid4()}", {"notes": "x"}))[0] == 404
    fake.set_read_only(fake.account_id, created["id"])
    assert (await call("PATCH", one, {"notes": "x"}))[0] == 403
    assert (await call("DELETE", one))[0] == 403
    fake.set_read_only(fake.account_id, created["id"], None)
    # DELETE
    assert (await call("DELETE", one))[0] == 204
    assert (await call("DELETE", one))[0] == 404
    assert (await call("DELETE", one, token="nope"))[0] == 401
    # 5xx, injected, on each operation
    for method, path, body in [
        ("GET", contacts, None),
        ("POST", contacts, ada),
        ("PUT", upsert, ada),
        ("PATCH", f"{contacts}/{uuid.uuid4()}", {}),
        ("DELETE", f"{contacts}/{uuid.uuid4()}", None),
    ]:
        fake.script(status=503)
        assert (await call(method, path, body))[0] == 503
    # 429 on each operation: two requests fill the window, the third is refused
    for method, path, body in [
        ("GET", contacts, None),
        ("POST", contacts, ada),
        ("PUT", upsert, ada),
        ("PATCH", f"{contacts}/{uuid.uuid4()}", {}),
        ("DELETE", f"{contacts}/{uuid.uuid4()}", None),
    ]:
        await call("GET", contacts)
        await call("GET", contacts, fresh_window=False)
        assert (await call(method, path, body, fresh_window=False))[0] == 429


async def test_every_response_conforms_to_the_spec(recorder: Recorder) -> None:
    await exercise(recorder)
    openapi = OpenAPI.from_file_path(str(SPEC))
    seen: set[tuple[str, str, int]] = set()
    for ex in recorder.exchanges:
        request = MockRequest(
            SPEC_HOST,
            ex.method,
            ex.path,
            args=ex.query,
            data=ex.body,
            content_type="application/json",
        )
        response = MockResponse(
            ex.data, status_code=ex.status, headers=dict(ex.headers), content_type=ex.content_type
        )
        openapi.validate_response(request, response)  # raises on any mismatch
        template = ex.path.split("/contacts")[-1]
        kind = "/{id}" if template.startswith("/") and template != "/upsert" else template
        seen.add((ex.method, kind, ex.status))
        # Headers the spec promises (and our SDK reads) on every answer.
        assert "X-Request-Id" in ex.headers
        assert int(ex.headers["X-RateLimit-Limit"]) == 2
        if ex.status >= 400:
            error = json.loads(ex.data)
            assert isinstance(error["message"], str)
            assert isinstance(error["code"], str)
        if ex.status == 429:
            assert int(ex.headers["Retry-After"]) >= 1
    expected = (
        {("GET", "", s) for s in (200, 400, 401, 403, 404, 429, 503)}
        # POST 200 is allowed by the spec, but the fake always creates with
        # 201, and a replay repeats the first answer (201) rather than 200.
        | {("POST", "", s) for s in (201, 400, 401, 403, 404, 409, 422, 429, 503)}
        | {("PUT", "/upsert", s) for s in (200, 201, 400, 403, 404, 422, 429, 503)}
        | {("PATCH", "/{id}", s) for s in (200, 400, 403, 404, 422, 429, 503)}
        | {("DELETE", "/{id}", s) for s in (204, 401, 403, 404, 429, 503)}
    )
    assert expected <= seen


async def test_a_nonconforming_response_is_caught(recorder: Recorder) -> None:
    """The validator is not vacuous: a contact without fullName fails."""
    openapi = OpenAPI.from_file_path(str(SPEC))
    path = f"{API}/accounts/{uuid.uuid4()}/contacts/upsert"
    request = MockRequest(SPEC_HOST, "PUT", path, data=b"{}")
    bad = MockResponse(json.dumps({"id": str(uuid.uuid4()), "language": "en"}).encode())
    with pytest.raises(Exception, match="fullName"):
        openapi.validate_response(request, bad)
