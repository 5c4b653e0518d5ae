"""Test helper: a second scripted server, for tests that need two origins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.test_utils import TestServer

from .conftest import ScriptedServer, _not_scripted


@asynccontextmanager
async def scripted_server() -> AsyncIterator[ScriptedServer]:
    """A ScriptedServer like the ``scripted`` fixture's, as a context manager."""
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
