"""Transport layer: the interactive login — a loopback redirect catcher for the browser flow."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

import aiohttp
from aiohttp import web

from billabex_async.auth._discovery import ServerMetadata, discover
from billabex_async.auth._endpoint import TOKEN_PATH, endpoint_url
from billabex_async.auth._errors import LoginTimeoutError, OAuthError
from billabex_async.auth._oauth import (
    DEFAULT_SCOPE,
    authorization_url,
    exchange_code,
    generate_pkce,
)
from billabex_async.auth._register import register_client
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
    client_id: str | None = None,
    client_secret: str | None = None,
    scope: str = DEFAULT_SCOPE,
    open_browser: Callable[[str], object],
    port: int = 0,
    approval_timeout: float = LOGIN_TIMEOUT,
    session: aiohttp.ClientSession | None = None,
    metadata: ServerMetadata | None = None,
) -> Credentials:
    """Run the authorization-code + PKCE flow and return the new credentials.

    Finds the endpoints with ``discover(base_url)`` unless ``metadata`` is
    given. Without a ``client_id``, first registers a public client for this
    login's exact redirect URI (``register_client``): the credentials then
    carry its id, and its secret if the server issued one; save them and
    reuse that client next time. Listens on ``127.0.0.1:port`` (0 = any free
    port) for the redirect, calls ``open_browser(url)`` with the authorization
    URL (``webbrowser.open``, or print it), checks ``state``, then exchanges
    the code. Raises ``InvalidRequestError`` before anything starts if
    ``base_url`` is not https (or http to loopback), ``OAuthError`` on a
    denied consent, a wrong state or a refused exchange (its subclasses
    ``DiscoveryError`` and ``RegistrationError`` for those steps), and
    ``LoginTimeoutError`` (an ``OAuthError`` and a ``TimeoutError``) when
    nobody answers within ``approval_timeout`` seconds.

    Args:
        base_url: The server's host root.
        client_id: An OAuth client's id; None registers one.
        client_secret: That client's secret, if it has one.
        scope: The scopes asked for, space-separated.
        open_browser: Called with the authorization URL (``webbrowser.open``).
        port: The loopback port to listen on; 0 picks a free one.
        approval_timeout: Seconds to wait for the user's approval.
        session: An aiohttp session to send with (yours, not closed); None: a new one.
        metadata: The server's metadata; None: ``discover(base_url)``.

    Returns:
        Credentials to save in a ``TokenStore``.
    """
    endpoint_url(base_url, TOKEN_PATH)  # the code and secret will go there: check it first
    if metadata is None:
        metadata = await discover(base_url, session=session)
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
        if client_id is None:
            # Registered after binding, for the exact URI: a server that matches
            # redirect URIs strictly accepts it too (RFC 8252 only asks that any
            # loopback port be accepted).
            client = await register_client(
                base_url,
                redirect_uris=[redirect_uri],
                scope=scope,
                metadata=metadata,
                session=session,
            )
            client_id, client_secret = client.client_id, client.client_secret
        url = authorization_url(
            base_url,
            client_id=client_id,
            redirect_uri=redirect_uri,
            state=state,
            code_challenge=pkce.challenge,
            scope=scope,
            authorization_endpoint=metadata.authorization_endpoint,
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
        token_endpoint=metadata.token_endpoint,
    )
    logger.info("logged in to %s as client %s", base_url, client_id)
    return Credentials(
        base_url=base_url.rstrip("/"),
        client_id=client_id,
        client_secret=client_secret,
        tokens=tokens,
        token_endpoint=metadata.token_endpoint,
    )
