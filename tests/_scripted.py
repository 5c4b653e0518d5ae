"""Test helpers for tests against the scripted server: ids, canned answers, clients."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billabex_async import (
    BillabexClient,
    RequestEvent,
)

from .conftest import TOKEN, ScriptedServer

ACCOUNT = "0b9f6a5e-8f43-4c1b-9d1a-3f1f7e2a6c10"
CONTACT = "6c0e2b1d-7d3e-4a55-8f0f-5d8a7e3b9c21"
BASE = f"/api/public/v1/accounts/{ACCOUNT}/contacts"


def contact_json(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": CONTACT,
        "fullName": "John Smith",
        "email": {"address": "john@acme.com", "status": "Valid"},
        "language": "en",
    }
    data.update(overrides)
    return data


def reply(status: int = 200, body: Any = None, **headers: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        if body is None:
            return web.Response(status=status, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    return handler


def client_for(server: ScriptedServer, **kwargs: Any) -> BillabexClient:
    kwargs.setdefault("rate_limit", None)
    kwargs.setdefault("max_retries", 0)
    return BillabexClient(TOKEN, base_url=server.url, **kwargs)


class Sleeps:
    """Records backoff sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.calls.append(delay)


def make_client(server_url: str, sleeps: Sleeps, **kwargs: Any) -> BillabexClient:
    kwargs.setdefault("rate_limit", None)
    events: list[RequestEvent] = kwargs.pop("events", [])
    client = BillabexClient(TOKEN, base_url=server_url, on_request=events.append, **kwargs)
    client._transport._sleep = sleeps
    return client


async def reset(request: web.Request) -> web.StreamResponse:
    """Drop the connection without answering: the request was not applied."""
    assert request.transport is not None
    request.transport.abort()
    return web.Response()


class RotatingProvider:
    def __init__(self) -> None:
        self.token = "old-token"
        self.refreshes = 0

    async def get_token(self) -> str:
        return self.token

    async def refresh(self, rejected: str) -> str:
        self.refreshes += 1
        self.token = f"new-token-{self.refreshes}"
        return self.token
