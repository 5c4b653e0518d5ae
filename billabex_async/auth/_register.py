"""Transport layer: dynamic client registration (RFC 7591), so a login needs no client made by hand.

The CLI registers itself as a native app: a public client (no secret,
``token_endpoint_auth_method: none``) protected by PKCE, as RFC 8252 advises.
A server may still issue a secret (Billabex's token endpoint accepts one in
the form): it is kept and sent. A server that registers the client for any
other token-endpoint authentication is refused here, rather than at the
first refresh.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import aiohttp
import attrs
from yarl import URL

from billabex_async._types import is_loopback_host
from billabex_async._validation import check_base_url
from billabex_async._version import __version__
from billabex_async.auth._discovery import ServerMetadata, discover
from billabex_async.auth._endpoint import exchange
from billabex_async.auth._oauth import DEFAULT_SCOPE, OAuthError
from billabex_async.errors import InvalidRequestError

__all__ = ["CLIENT_NAME", "RegisteredClient", "RegistrationError", "register_client"]

logger = logging.getLogger("billabex_async")

CLIENT_NAME = "billabex-async CLI"
REGISTER_TIMEOUT = 30.0  # seconds for the registration request
MAX_ANSWER = 64 * 1024  # bytes
# How the SDK authenticates at the token endpoint: nothing, or the secret in the form.
SUPPORTED_AUTH_METHODS = frozenset({"none", "client_secret_post"})


class RegistrationError(OAuthError):
    """The server refused the registration, or answered something unusable.

    ``error`` is the RFC 7591 code when the server sent one
    (``invalid_redirect_uri``, ``invalid_client_metadata``...).
    """


@attrs.frozen
class RegisteredClient:
    """An OAuth client the server just registered. Secrets never show in the repr.

    Times are unix seconds; ``client_secret_expires_at`` 0 means never.
    """

    client_id: str
    """The new client's id: every login and refresh sends it."""
    client_secret: str | None = attrs.field(default=None, repr=False)
    """Its secret, if the server issued one (public clients get none)."""
    client_id_issued_at: int | None = None
    """When the id was issued."""
    client_secret_expires_at: int | None = None
    redirect_uris: tuple[str, ...] = ()
    """The redirect URIs registered."""
    token_endpoint_auth_method: str = "none"  # noqa: S105 - a method name
    """How it authenticates at the token endpoint: ``none`` (PKCE only)."""
    scope: str | None = None
    """The scopes it may ask for."""
    registration_access_token: str | None = attrs.field(default=None, repr=False)
    """A token to read or update the registration (RFC 7592), if issued."""
    registration_client_uri: str | None = None
    """Where to read or update it."""


def _check_redirect_uris(redirect_uris: Sequence[str]) -> list[str]:
    if isinstance(redirect_uris, str):
        raise InvalidRequestError(
            "redirect_uris must be a list of URIs, not one string", field="redirect_uris"
        )
    uris = list(redirect_uris)
    if not uris:
        raise InvalidRequestError("redirect_uris must list at least one URI", field="redirect_uris")
    for uri in uris:
        try:
            url = URL(uri)
        except (TypeError, ValueError):
            url = None
        ok = (
            url is not None
            and url.is_absolute()
            and not url.fragment
            and (url.scheme == "https" or (url.scheme == "http" and is_loopback_host(url.host)))
        )
        if not ok:
            raise InvalidRequestError(
                f"redirect URI {uri!r} must be absolute https, or http on a loopback host "
                "(RFC 8252), without a fragment",
                field="redirect_uris",
            )
    return uris


def _optional_int(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RegistrationError(f"the registration answer's {name} is not an integer")
    return value


def _optional_str(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise RegistrationError(f"the registration answer's {name} is not a string")
    return value


def parse_registration(data: object, *, requested: Sequence[str]) -> RegisteredClient:
    """Validate an RFC 7591 answer; ``RegistrationError`` if it is unusable (no secret in it)."""
    if not isinstance(data, dict):
        raise RegistrationError("the registration answer is not a JSON object")
    client_id = _optional_str(data, "client_id")
    if client_id is None:
        raise RegistrationError("the registration answer has no client_id")
    secret = _optional_str(data, "client_secret")
    registered = data.get("redirect_uris", list(requested))
    if not isinstance(registered, list) or not all(isinstance(u, str) for u in registered):
        raise RegistrationError("the registration answer's redirect_uris is not a list of strings")
    missing = [u for u in requested if u not in registered]
    if missing:
        # The server replaced our redirect URI: the login's redirect would be refused.
        raise RegistrationError(f"the server did not register the redirect URI(s) {missing}")
    method = _optional_str(data, "token_endpoint_auth_method")
    if method is None:
        method = "client_secret_post" if secret else "none"
    if method not in SUPPORTED_AUTH_METHODS:
        raise RegistrationError(
            f"the server registered the client for {method!r} token-endpoint authentication, "
            f"which this SDK does not speak ({sorted(SUPPORTED_AUTH_METHODS)})"
        )
    if method == "client_secret_post" and secret is None:
        raise RegistrationError("the server registered a confidential client but sent no secret")
    return RegisteredClient(
        client_id=client_id,
        client_secret=secret,
        client_id_issued_at=_optional_int(data, "client_id_issued_at"),
        client_secret_expires_at=_optional_int(data, "client_secret_expires_at"),
        redirect_uris=tuple(registered),
        token_endpoint_auth_method=method,
        scope=_optional_str(data, "scope"),
        registration_access_token=_optional_str(data, "registration_access_token"),
        registration_client_uri=_optional_str(data, "registration_client_uri"),
    )


def _refusal(status: int, data: object) -> RegistrationError:
    error = data.get("error") if isinstance(data, dict) else None
    error = error if isinstance(error, str) else None
    description = data.get("error_description") if isinstance(data, dict) else None
    detail = f" ({description[:300]})" if isinstance(description, str) and description else ""
    if status in (401, 403):
        return RegistrationError(
            f"the server refused an open registration ({status}: {error or 'unauthorized'})"
            f"{detail}: create an OAuth client by hand and pass its id (--client-id)",
            error=error,
        )
    return RegistrationError(
        f"client registration refused ({status}: {error or 'error'}){detail}", error=error
    )


async def register_client(
    base_url: str,
    *,
    redirect_uris: Sequence[str],
    scope: str = DEFAULT_SCOPE,
    client_name: str = CLIENT_NAME,
    metadata: ServerMetadata | None = None,
    session: aiohttp.ClientSession | None = None,
) -> RegisteredClient:
    """Register a public OAuth client (PKCE, no secret asked) with Billabex (RFC 7591).

    ``redirect_uris``: where logins may return, e.g.
    ``["http://127.0.0.1:8765/callback"]`` (any loopback port is accepted at
    login time, RFC 8252 §7.3). ``metadata`` defaults to ``discover(base_url)``.
    Store the result's ``client_id`` (and ``client_secret``, when the server
    issued one): every later login and refresh needs them.

    Raises ``InvalidRequestError`` for bad arguments (nothing sent),
    ``RegistrationError`` when the server offers no registration, refuses it
    (``.error`` is the RFC 7591 code) or answers something unusable, and
    ``APIConnectionError`` when it does not answer. Redirects are not followed.

    Args:
        base_url: The server's host root.
        redirect_uris: Where logins may return (loopback URLs).
        scope: The scopes the client may ask for, space-separated.
        client_name: The name the server shows on its consent page.
        metadata: The server's metadata; None: ``discover(base_url)``.
        session: An aiohttp session to send with (yours, not closed); None: a new one.
    """
    check_base_url(base_url)
    uris = _check_redirect_uris(redirect_uris)
    if not client_name.strip():
        raise InvalidRequestError("client_name must not be empty", field="client_name")
    if not scope.split():
        raise InvalidRequestError("scope must name at least one scope", field="scope")
    if metadata is None:
        metadata = await discover(base_url, session=session)
    endpoint = metadata.registration_endpoint
    if endpoint is None:
        raise RegistrationError(
            "the server offers no dynamic client registration: pass a client id (--client-id)"
        )
    body = {
        "client_name": client_name,
        "redirect_uris": uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": " ".join(scope.split()),
        "software_id": "billabex-async",
        "software_version": __version__,
    }
    answer = await exchange(
        "POST",
        URL(endpoint),
        what="registration endpoint",
        timeout=REGISTER_TIMEOUT,
        limit=MAX_ANSWER,
        session=session,
        json=body,
        headers={"Accept": "application/json"},
    )
    status, raw = answer.status, answer.body
    if 300 <= status < 400:
        raise RegistrationError(f"the registration endpoint answered a redirect ({status})")
    try:
        data: object = json.loads(raw) if raw and not answer.too_large else None
    except ValueError:
        data = None
    if status == 404 and not metadata.published:
        # No metadata and nothing at the known path: no registration here.
        raise RegistrationError(
            "the server offers no dynamic client registration: pass a client id (--client-id)"
        )
    if status not in (200, 201):  # RFC 7591 says 201; tolerate 200
        raise _refusal(status, data)
    if data is None:
        raise RegistrationError(f"the registration answer ({status}) is not a JSON object")
    client = parse_registration(data, requested=uris)
    logger.info("registered OAuth client %s at %s", client.client_id, base_url)
    return client
