"""Transport layer: the interactive login — a loopback redirect catcher for the browser flow."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

import aiohttp
from aiohttp import web

from billabex_async.auth._endpoint import TOKEN_PATH, endpoint_url
from billabex_async.auth._errors import LoginTimeoutError, OAuthError
from billabex_async.auth._oauth import (
    DEFAULT_SCOPE,
    authorization_url,
    exchange_code,
    generate_pkce,
)
from billabex_async.auth._store import Credentials

__all__ = ["login"]

logger = logging.getLogger("billabex_async")

CALLBACK_PATH = "/callback"
LOGIN_TIMEOUT = 300.0  # seconds the user has to approve in the browser

_DONE_PAGE = (
    "<!doctype html><title>Billabex login</title>"
    "<p>{message}</p><p>You can close this tab and return to the terminal.</p>"
)


async def login(
    base_url: str,
    *,
    client_id: str,
    client_secret: str | None = None,
    scope: str = DEFAULT_SCOPE,
    open_browser: Callable[[str], object],
    port: int = 0,
    approval_timeout: float = LOGIN_TIMEOUT,
    session: aiohttp.ClientSession | None = None,
) -> Credentials:
    """Run the authorization-code + PKCE flow and return the new credentials.

    Listens on ``127.0.0.1:port`` (0 = any free port) for the redirect, calls
    ``open_browser(url)`` with the authorization URL (``webbrowser.open``, or
    print it), checks ``state``, then exchanges the code. Raises
    ``InvalidRequestError`` before anything starts if ``base_url`` is not
    https (or http to loopback), ``OAuthError`` on a denied consent, a wrong
    state or a refused exchange, and ``LoginTimeoutError`` (an ``OAuthError``
    and a ``TimeoutError``) when nobody answers within ``approval_timeout``
    seconds.
    """
    endpoint_url(base_url, TOKEN_PATH)  # the code and secret will go there: check it first
    pkce = generate_pkce()
    state = secrets.token_urlsafe(24)
    loop = asyncio.get_running_loop()
    result: asyncio.Future[str] = loop.create_future()

    async def callback(request: web.Request) -> web.Response:
        query = request.query
        if query.get("state") != state:
            # Not the redirect we asked for (a forged or stale one): abort.
            if not result.done():
                result.set_exception(
                    OAuthError("the redirect's state does not match: login aborted")
                )
            return web.Response(
                text=_DONE_PAGE.format(message="Login failed: bad state."),
                status=400,
                content_type="text/html",
            )
        if "error" in query:
            error = query["error"]
            text = (
                "consent was denied"
                if error == "access_denied"
                else f"authorization failed: {error}"
            )
            if not result.done():
                result.set_exception(OAuthError(text, error=error))
            return web.Response(
                text=_DONE_PAGE.format(message=f"Login failed: {text}."), content_type="text/html"
            )
        code = query.get("code")
        if not code:
            if not result.done():
                result.set_exception(OAuthError("the redirect carried no authorization code"))
            return web.Response(
                text=_DONE_PAGE.format(message="Login failed."),
                status=400,
                content_type="text/html",
            )
        if not result.done():
            result.set_result(code)
        return web.Response(
            text=_DONE_PAGE.format(message="Logged in to Billabex."), content_type="text/html"
        )

    app = web.Application()
    app.router.add_get(CALLBACK_PATH, callback)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        bound = runner.addresses[0][1]
        redirect_uri = f"http://127.0.0.1:{bound}{CALLBACK_PATH}"
        url = authorization_url(
            base_url,
            client_id=client_id,
            redirect_uri=redirect_uri,
            state=state,
            code_challenge=pkce.challenge,
            scope=scope,
        )
        open_browser(url)
        try:
            code = await asyncio.wait_for(result, approval_timeout)
        except TimeoutError:
            raise LoginTimeoutError(
                f"nobody approved the login within {approval_timeout:.0f}s: run it again"
            ) from None
    finally:
        await runner.cleanup()
    tokens = await exchange_code(
        base_url,
        client_id=client_id,
        client_secret=client_secret,
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=pkce.verifier,
        session=session,
    )
    logger.info("logged in to %s as client %s", base_url, client_id)
    return Credentials(
        base_url=base_url.rstrip("/"),
        client_id=client_id,
        client_secret=client_secret,
        tokens=tokens,
    )
