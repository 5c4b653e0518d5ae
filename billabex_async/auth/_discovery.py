"""Transport layer: the authorization server's endpoints, from its RFC 8414 metadata.

``discover(base_url)`` reads ``{base_url}/.well-known/oauth-authorization-server``
and checks it before anything trusts it: the issuer must be the base URL
(RFC 8414 §3.3), and every endpoint must be https (http only on a loopback
host) and on the issuer's own origin. The token endpoint receives the client
secret, the code and the PKCE verifier: a document that sent them to another
host (a tampered or stale copy) would leak them, and Billabex serves every
endpoint from one host, so any other host is refused. A server that publishes
no metadata (404, 410) gets Billabex's known paths; a malformed or untrusted
document is an error, never a silent fallback.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import attrs
from yarl import URL

from billabex_async._types import is_loopback_host
from billabex_async._validation import check_base_url
from billabex_async.auth._endpoint import TOKEN_PATH, exchange
from billabex_async.auth._oauth import AUTHORIZE_PATH, OAuthError

__all__ = ["DiscoveryError", "ServerMetadata", "discover"]

logger = logging.getLogger("billabex_async")

WELL_KNOWN = "/.well-known/oauth-authorization-server"
REGISTER_PATH = "api/oauth/register"
DISCOVERY_TIMEOUT = 30.0  # seconds for one metadata request
MAX_DOCUMENT = 64 * 1024  # bytes; a metadata document is a few hundred
_ABSENT = frozenset({404, 410})  # statuses meaning "no metadata published"


class DiscoveryError(OAuthError):
    """The server's OAuth metadata is malformed, unreadable or points somewhere untrusted."""


@attrs.frozen
class ServerMetadata:
    """Where a Billabex authorization server takes logins, tokens and registrations.

    ``published`` is False when the server published no metadata and these are
    Billabex's known paths. ``registration_endpoint`` is None when published
    metadata offers no dynamic client registration.
    """

    issuer: str
    """The server's identifier: its base URL."""
    authorization_endpoint: str
    """Where the browser goes to log in."""
    token_endpoint: str
    """Where codes and refresh tokens are exchanged."""
    registration_endpoint: str | None
    """Where clients register (RFC 7591)."""
    scopes_supported: tuple[str, ...] | None = None
    """The scopes the server offers, if it says."""
    code_challenge_methods_supported: tuple[str, ...] = ("S256",)
    """PKCE methods it accepts (must include ``S256``)."""
    token_endpoint_auth_methods_supported: tuple[str, ...] | None = None
    """How clients may authenticate at the token endpoint."""
    published: bool = True
    """False: the server published nothing, these are Billabex's known paths."""

    @classmethod
    def known_paths(cls, base_url: str) -> ServerMetadata:
        """Billabex's documented endpoints under ``base_url``, for servers without metadata."""
        base = URL(base_url.rstrip("/"))
        return cls(
            issuer=str(base),
            authorization_endpoint=str(base / AUTHORIZE_PATH),
            token_endpoint=str(base / TOKEN_PATH),
            registration_endpoint=str(base / REGISTER_PATH),
            published=False,
        )


def _origin(url: URL) -> tuple[str, str | None, int | None]:
    # Not URL.origin(): yarl tells "https://h" from "https://h:443", the same origin.
    return url.scheme, url.host, url.port


def _short(value: object) -> str:
    return repr(value)[:200]


def _endpoint(data: dict[str, Any], name: str, issuer: URL, *, required: bool) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise DiscoveryError(f"the server metadata has no usable {name}: {_short(value)}")
    url = _url(value)
    if url is None or not url.is_absolute() or url.fragment:
        raise DiscoveryError(f"the server metadata's {name} is no absolute URL: {_short(value)}")
    if url.scheme != "https" and not (url.scheme == "http" and is_loopback_host(url.host)):
        raise DiscoveryError(
            f"the server metadata's {name} is not https (refused): {_short(value)}"
        )
    if _origin(url) != _origin(issuer):
        raise DiscoveryError(
            f"the server metadata's {name} is on another origin than the issuer "
            f"{str(issuer)!r} (refused): {_short(value)}"
        )
    return value


def _url(value: str) -> URL | None:
    try:
        return URL(value)
    except ValueError:  # yarl refuses some strings (a bad port, a broken IPv6 host)
        return None


def _strings(data: dict[str, Any], name: str) -> tuple[str, ...] | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DiscoveryError(f"the server metadata's {name} is not a list of strings")
    return tuple(value)


def parse_metadata(data: object, base_url: str) -> ServerMetadata:
    """Validate an RFC 8414 document fetched for ``base_url``; ``DiscoveryError`` if unfit.

    Unknown fields are ignored. A missing ``code_challenge_methods_supported``
    is read as S256 (OAuth 2.1 requires it); one that lacks S256 is refused.
    """
    if not isinstance(data, dict):
        raise DiscoveryError("the server metadata is not a JSON object")
    expected = URL(base_url.rstrip("/"))
    issuer = data.get("issuer")
    # RFC 8414 §3.3: identical to the URL the document was fetched for; only
    # a trailing slash is forgiven, as base URLs are compared without one.
    if not isinstance(issuer, str) or _url(issuer.rstrip("/")) != expected:
        raise DiscoveryError(
            f"the server metadata's issuer {_short(issuer)} is not {str(expected)!r} (refused)"
        )
    authorize = _endpoint(data, "authorization_endpoint", expected, required=True)
    token = _endpoint(data, "token_endpoint", expected, required=True)
    register = _endpoint(data, "registration_endpoint", expected, required=False)
    assert authorize is not None
    assert token is not None
    methods = _strings(data, "code_challenge_methods_supported") or ("S256",)
    if "S256" not in methods:
        raise DiscoveryError(f"the server does not offer S256 PKCE (it offers {list(methods)})")
    return ServerMetadata(
        issuer=str(expected),
        authorization_endpoint=authorize,
        token_endpoint=token,
        registration_endpoint=register,
        scopes_supported=_strings(data, "scopes_supported"),
        code_challenge_methods_supported=methods,
        token_endpoint_auth_methods_supported=_strings(
            data, "token_endpoint_auth_methods_supported"
        ),
    )


def metadata_url(base_url: str) -> URL:
    """RFC 8414 §3.1: the well-known segment goes between the host and any path."""
    base = URL(base_url.rstrip("/"))
    return base.with_path(WELL_KNOWN + base.path.rstrip("/"))


async def discover(
    base_url: str, *, session: aiohttp.ClientSession | None = None
) -> ServerMetadata:
    """The authorization server's endpoints for ``base_url`` (e.g. ``https://next.billabex.com``).

    Reads the RFC 8414 metadata, without following redirects; answers
    Billabex's known paths when the server publishes none (404 or 410).
    Raises ``InvalidRequestError`` for a non-https ``base_url`` (nothing sent),
    ``DiscoveryError`` for a redirect, another error status or a document that
    fails the checks in this module's docstring, and ``APIConnectionError``
    when the server does not answer.

    Args:
        base_url: The server's host root.
        session: An aiohttp session to send with (yours, not closed); None: a new one.
    """
    check_base_url(base_url)
    url = metadata_url(base_url)
    answer = await exchange(
        "GET",
        url,
        what="server metadata",
        timeout=DISCOVERY_TIMEOUT,
        limit=MAX_DOCUMENT,
        session=session,
        headers={"Accept": "application/json"},
    )
    status, raw = answer.status, answer.body
    if status in _ABSENT:
        logger.info("%s publishes no OAuth metadata: using the known paths", base_url)
        return ServerMetadata.known_paths(base_url)
    if 300 <= status < 400:
        raise DiscoveryError(f"the server metadata answered a redirect ({status}): not followed")
    if status != 200:
        raise DiscoveryError(f"the server metadata answered {status}")
    if answer.too_large:
        raise DiscoveryError(f"the server metadata is larger than {MAX_DOCUMENT} bytes")
    try:
        data = json.loads(raw)
    except ValueError:
        raise DiscoveryError("the server metadata is not JSON") from None
    metadata = parse_metadata(data, base_url)
    logger.debug("OAuth metadata for %s: %s", base_url, metadata)
    return metadata
