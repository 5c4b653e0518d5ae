"""Transport layer: one call to the OAuth token endpoint, its answer checked, its secrets kept out.

The form sent carries secrets (client secret, refresh token, code, PKCE
verifier), so: the URL must pass the client's own https rule before anything
is sent; redirects are never followed (a 307 would re-send the form to
another origin); and whatever the server says back is redacted of those
secrets before it reaches an exception message.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import attrs
from yarl import URL

from billabex_async._validation import check_base_url, check_token, show
from billabex_async.auth._errors import (
    InvalidGrantError,
    OAuthError,
    OAuthRedirectError,
    OAuthResponseError,
)
from billabex_async.auth._redact import redact
from billabex_async.auth._store import TokenSet
from billabex_async.errors import APIConnectionError, APITimeoutError, InvalidRequestError

__all__ = ["TOKEN_PATH", "TOKEN_TIMEOUT", "Exchange", "endpoint_url", "exchange", "token_request"]

TOKEN_PATH = "api/oauth/token"  # noqa: S105 - a path, not a secret
TOKEN_TIMEOUT = 30.0  # seconds for one call to the token endpoint
DEFAULT_EXPIRES_IN = 3600.0  # RFC 6749 makes expires_in optional; Billabex tokens live 1 h
MAX_EXPIRES_IN = 366 * 86400.0  # a longer "lifetime" is a broken answer, not a token
MAX_ANSWER = 1 << 20  # bytes: a token set is a few hundred; more is not a token endpoint
_SHOWN_TEXT = 300  # characters of the server's error description quoted
_SECRET_FIELDS = ("client_secret", "refresh_token", "code", "code_verifier")
_DIGITS = re.compile(r"[0-9]{1,12}")


def endpoint_url(base_url: str, path: str) -> URL:
    """``base_url/path``, refused (``InvalidRequestError``) unless https or loopback http."""
    return check_base_url(base_url) / path


@attrs.frozen
class Exchange:
    """One OAuth answer: its status, its ``Location``, and at most ``limit`` body bytes."""

    status: int
    location: str | None
    body: bytes
    too_large: bool
    """The body went past ``limit``: ``body`` is cut there."""


async def exchange(
    method: str,
    url: URL,
    *,
    what: str,
    timeout: float,  # noqa: ASYNC109 - aiohttp's per-request total, not a cancel scope
    limit: int,
    session: aiohttp.ClientSession | None,
    **kwargs: Any,
) -> Exchange:
    """Send one OAuth request: redirects never followed, the body read up to ``limit`` bytes.

    ``what`` names the endpoint in errors: ``APITimeoutError`` when no answer
    came within ``timeout`` seconds, ``APIConnectionError`` when none came at
    all. ``kwargs`` go to aiohttp (``data=``, ``json=``, ``headers=``).
    """
    owned = session is None
    http = session or aiohttp.ClientSession()
    try:
        async with http.request(
            method,
            url,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout),
            **kwargs,
        ) as resp:
            body = bytearray()
            async for chunk in resp.content.iter_any():
                body += chunk
                if len(body) > limit:
                    break
            too_large = len(body) > limit
            return Exchange(
                resp.status, resp.headers.get("Location"), bytes(body[:limit]), too_large
            )
    except TimeoutError as exc:
        raise APITimeoutError(
            f"{what} did not answer within {timeout:.0f}s", method=method, path=url.path
        ) from exc
    except aiohttp.ClientError as exc:
        raise APIConnectionError(
            f"{what} unreachable ({type(exc).__name__})", method=method, path=url.path
        ) from exc
    finally:
        if owned:
            await http.close()


async def token_request(
    base_url: str,
    form: Mapping[str, str],
    session: aiohttp.ClientSession | None,
    *,
    clock: Callable[[], float] = time.time,
    token_endpoint: str | None = None,
) -> TokenSet:
    """POST ``form`` to the token endpoint and return the token set it answers.

    ``token_endpoint`` (from ``discover()``) defaults to Billabex's known
    path under ``base_url``; it passes the same https rule.

    Raises ``InvalidRequestError`` for an insecure ``base_url`` (nothing is
    sent), ``APIConnectionError``/``APITimeoutError`` without an answer,
    ``OAuthRedirectError`` on a 3xx, ``InvalidGrantError``/``OAuthError`` on a
    refusal and ``OAuthResponseError`` on a 200 that is not a usable token set.
    """
    url = (
        check_base_url(token_endpoint, "token_endpoint")
        if token_endpoint
        else endpoint_url(base_url, TOKEN_PATH)
    )
    secrets = [form.get(name) for name in _SECRET_FIELDS]
    answer = await exchange(
        "POST",
        url,
        what="token endpoint",
        timeout=TOKEN_TIMEOUT,
        limit=MAX_ANSWER,
        session=session,
        data=dict(form),
    )
    status, location, body = answer.status, answer.location, answer.body
    if answer.too_large:
        raise OAuthResponseError(
            f"token endpoint answered {status} with more than {MAX_ANSWER} bytes", status=status
        )
    if 300 <= status < 400:
        host = _host(location)
        raise OAuthRedirectError(
            f"token endpoint answered {status}, redirecting to {host or 'an unreadable Location'}: "
            "not followed, since it would re-send the credentials elsewhere",
            status=status,
            location_host=host,
        )
    data = _json(body)
    if status != 200 or (isinstance(data, dict) and "error" in data and "access_token" not in data):
        raise _refusal(status, data, secrets)
    if not isinstance(data, dict):
        what = "a body that is not JSON" if data is _NOT_JSON else "JSON that is not an object"
        raise OAuthResponseError(f"token endpoint answered {status} with {what}", status=status)
    return _token_set(data, previous_refresh=form.get("refresh_token"), now=clock())


_NOT_JSON = object()


def _json(body: bytes) -> object:
    try:
        return json.loads(body.decode("utf-8")) if body else None
    except ValueError:  # UnicodeDecodeError is one
        return _NOT_JSON


def _host(location: str | None) -> str | None:
    if not location:
        return None
    try:
        return URL(location).host
    except ValueError:
        return None


def _refusal(status: int, data: object, secrets: list[str | None]) -> OAuthError:
    error = data.get("error") if isinstance(data, dict) else None
    description = data.get("error_description") if isinstance(data, dict) else None
    code = redact(error[:100], secrets) if isinstance(error, str) else None
    if code == "invalid_grant":
        return InvalidGrantError(
            "the refresh token is expired or revoked: run `billabex login` again", error=code
        )
    message = f"token endpoint answered {status}: {code or 'error'}"
    if isinstance(description, str) and description:
        message += f" ({redact(description, secrets)[:_SHOWN_TEXT]})"
    return OAuthError(message, error=code)


def _token_set(data: dict[str, object], *, previous_refresh: str | None, now: float) -> TokenSet:
    access = data.get("access_token")
    if not isinstance(access, str):
        raise OAuthResponseError(
            f"token endpoint answered 200 with access_token {_kind(access)}, not a string",
            status=200,
        )
    try:
        usable = check_token(access, source="the access_token answered") == access
    except InvalidRequestError as exc:
        raise OAuthResponseError(str(exc), status=200) from None
    if not usable:
        raise OAuthResponseError("the access_token answered has surrounding whitespace", status=200)
    refresh = data.get("refresh_token")
    if refresh is not None and not isinstance(refresh, str):
        raise OAuthResponseError(
            f"token endpoint answered 200 with refresh_token {_kind(refresh)}, not a string",
            status=200,
        )
    scope, token_type = data.get("scope"), data.get("token_type")
    lifetime = _lifetime(data.get("expires_in", DEFAULT_EXPIRES_IN))
    return TokenSet(
        access_token=access,
        # Not rotated (absent or empty): the old refresh token stays valid.
        refresh_token=refresh or previous_refresh,
        expires_at=now + lifetime,
        scope=scope if isinstance(scope, str) else None,
        token_type=token_type if isinstance(token_type, str) else "Bearer",
        issued_at=now,
    )


def _kind(value: object) -> str:
    return "missing or null" if value is None else f"of type {type(value).__name__}"


def _lifetime(value: object) -> float:
    """``expires_in`` as seconds, or ``OAuthResponseError`` for what no token endpoint means."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        seconds = float(value)  # some servers send the number as a string
    if seconds is None or not math.isfinite(seconds) or not 0 <= seconds <= MAX_EXPIRES_IN:
        raise OAuthResponseError(
            f"token endpoint answered 200 with expires_in {show(value)}: expected a number of "
            f"seconds from 0 to {MAX_EXPIRES_IN:.0f}",
            status=200,
        )
    return seconds
