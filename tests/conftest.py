"""Shared fixtures: a scripted aiohttp server for transport and client tests."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from billabex_async._ratelimit import registry as _shared

TOKEN = "sk-test-7f3a9c1e5b2d4086"  # a fake bearer token; tests assert it never leaks

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.define
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@attrs.define
class ScriptedServer:
    """A real HTTP server on 127.0.0.1 whose answers the test scripts, in order.

    ``script(handler)`` queues a handler for the next request; with nothing
    queued the ``default`` handler answers. Every request is recorded in ``seen``.
    """

    server: TestServer
    default: Handler
    queue: deque[Handler] = attrs.field(factory=deque)
    seen: list[Seen] = attrs.field(factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/")).rstrip("/")

    def script(self, *handlers: Handler) -> None:
        self.queue.extend(handlers)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode()
        self.seen.append(
            Seen(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        handler = self.queue.popleft() if self.queue else self.default
        return await handler(request)


async def _not_scripted(request: web.Request) -> web.StreamResponse:
    return web.json_response({"message": "not scripted", "code": "test.unscripted"}, status=500)


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    app = web.Application()
    holder: list[ScriptedServer] = []

    async def dispatch(request: web.Request) -> web.StreamResponse:
        return await holder[0].handle(request)

    app.router.add_route("*", "/{tail:.*}", dispatch)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    holder.append(ScriptedServer(server=server, default=_not_scripted))
    try:
        yield holder[0]
    finally:
        await server.close()


@pytest.fixture(autouse=True)
def _fresh_rate_limit_windows() -> Iterator[None]:
    """Each test starts as a fresh process does: no token's window left by an earlier test.

    Clients on one token share its limiter for as long as any of them lives,
    and a closed client lingers until the garbage collector breaks its cycles.
    """
    yield
    _shared._SHARED.clear()
