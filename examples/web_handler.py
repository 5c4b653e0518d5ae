"""Example: an aiohttp.web service that writes contacts through one BillabexClient per app.

The client opens in a ``cleanup_ctx`` when the application starts and closes
when it stops: every request shares its connection pool and its rate limiter
(the per-token window is process-wide), and nothing is opened per request.
SDK errors become HTTP answers a caller can act on.

    python examples/web_handler.py            # serves against the simulator, calls itself, exits
    BILLABEX_TOKEN=... python examples/web_handler.py --serve   # real API, port 8000
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from billabex_async import BillabexClient, Contact, RateLimit
from billabex_async.errors import APIStatusError, InvalidRequestError, RateLimitError
from billabex_async.testing import FakeBillabex

CLIENT = web.AppKey("billabex_client", BillabexClient)
SETTINGS = web.AppKey("billabex_settings", dict[str, str])


async def billabex_client(app: web.Application) -> AsyncIterator[None]:
    """Open the client at startup, close it at shutdown (aiohttp's cleanup_ctx)."""
    settings = app[SETTINGS]  # empty: BILLABEX_TOKEN / BILLABEX_BASE_URL from the environment
    async with BillabexClient(
        settings.get("token"), base_url=settings.get("base_url"), rate_limit=RateLimit()
    ) as client:
        app[CLIENT] = client
        yield


def contact_json(contact: Contact) -> dict[str, object]:
    email = contact.email
    return {
        "id": str(contact.id),
        "fullName": contact.full_name,
        "language": contact.language,
        "email": email.address if email else None,
    }


def error_response(exc: Exception) -> web.Response:
    """SDK errors as answers: bad input 400, unknown 404, rate limited 503, else 502."""
    if isinstance(exc, InvalidRequestError):
        return web.json_response({"error": str(exc)}, status=400)
    if isinstance(exc, RateLimitError):
        retry = str(int(exc.retry_after or 1))
        return web.json_response({"error": "busy"}, status=503, headers={"Retry-After": retry})
    if isinstance(exc, APIStatusError) and exc.status == 404:
        return web.json_response({"error": "unknown account or contact"}, status=404)
    return web.json_response({"error": "upstream error"}, status=502)


async def upsert_contact(request: web.Request) -> web.Response:
    """PUT /accounts/{account_id}/contacts {fullName, language, email?}."""
    body = await request.json()
    if not isinstance(body, dict):
        return web.json_response({"error": "expected a JSON object"}, status=400)
    name, language, email = body.get("fullName"), body.get("language"), body.get("email")
    if not isinstance(name, str) or not isinstance(language, str):
        return web.json_response({"error": "fullName and language are required"}, status=400)
    client = request.app[CLIENT]
    try:
        contact = await client.contacts.upsert(
            request.match_info["account_id"], full_name=name, language=language, email=email
        )
    except (InvalidRequestError, APIStatusError) as exc:
        return error_response(exc)
    return web.json_response(contact_json(contact))


async def list_contacts(request: web.Request) -> web.Response:
    """GET /accounts/{account_id}/contacts?after=CURSOR: one page of 100."""
    client = request.app[CLIENT]
    try:
        page = await client.contacts.list(
            request.match_info["account_id"], first=100, after=request.query.get("after")
        )
    except (InvalidRequestError, APIStatusError) as exc:
        return error_response(exc)
    cursor = page.page_info.end_cursor if page.page_info else None
    return web.json_response(
        {"contacts": [contact_json(c) for c in page.nodes], "next": cursor if page.nodes else None}
    )


def make_app(settings: dict[str, str] | None = None) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings or {}
    app.cleanup_ctx.append(billabex_client)
    app.router.add_put("/accounts/{account_id}/contacts", upsert_contact)
    app.router.add_get("/accounts/{account_id}/contacts", list_contacts)
    return app


async def self_test() -> int:
    """Serve against the simulator on a free port, call the service twice, stop."""
    async with FakeBillabex(rate_limit=RateLimit(300, 60.0)) as fake:
        runner = web.AppRunner(make_app({"token": fake.token, "base_url": fake.url}))
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            base = f"http://127.0.0.1:{port}/accounts/{fake.account_id}/contacts"
            async with aiohttp.ClientSession() as session:
                ada = {"fullName": "Ada Lovelace", "language": "en", "email": "ada@example.org"}
                async with session.put(base, json=ada) as resp:
                    print("PUT", resp.status, await resp.json())
                async with session.put(base, json={**ada, "language": "EN"}) as resp:
                    print("PUT (bad language)", resp.status, await resp.json())
                async with session.get(base) as resp:
                    listed = await resp.json()
                    print("GET", resp.status, listed)
        finally:
            await runner.cleanup()  # closes the BillabexClient through cleanup_ctx
    return 0 if len(listed["contacts"]) == 1 else 1


if __name__ == "__main__":
    if "--serve" in sys.argv:
        web.run_app(make_app(), host="127.0.0.1", port=8000)
    else:
        sys.exit(asyncio.run(self_test()))
