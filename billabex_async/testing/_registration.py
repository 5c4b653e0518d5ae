"""Simulator layer: the OAuth metadata documents (RFC 8414, RFC 9728) and RFC 7591 checks.

Pure functions; the handlers in ``_oauth`` serve them. Where RFC 7591 lets a
server choose, the simulator is strict: redirect URIs must be https or
loopback http without a fragment; only the authorization-code and refresh
grants, the ``code`` response type, and ``none`` or ``client_secret_post``
authentication are accepted; every scope must be a known one.
"""

from __future__ import annotations

from collections.abc import Iterable

from yarl import URL

from billabex_async._types import is_loopback_host

__all__ = [
    "AUTH_METHODS",
    "SCOPES",
    "RegistrationRefused",
    "redirect_allowed",
    "resource_metadata",
    "server_metadata",
    "validate_registration",
]

SCOPES = (
    "openid",
    "profile",
    "email",
    "accounts:read",
    "accounts:all",
    "invoices:read",
    "invoices:all",
    "credit-notes:read",
    "credit-notes:all",
    "organizations:read",
    "organizations:all",
    "communications:read",
    "dunning:manage",
)
GRANT_TYPES = ("authorization_code", "refresh_token")
AUTH_METHODS = ("none", "client_secret_post")


class RegistrationRefused(Exception):
    """An RFC 7591 error answer: ``error`` code and a description."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def server_metadata(base: str) -> dict[str, object]:
    """The RFC 8414 document of the simulator at ``base`` (its origin, the issuer)."""
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/api/oauth/authorize",
        "token_endpoint": f"{base}/api/oauth/token",
        "registration_endpoint": f"{base}/api/oauth/register",
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"],
        "grant_types_supported": list(GRANT_TYPES),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
    }


def resource_metadata(base: str) -> dict[str, object]:
    """The RFC 9728 document: the API at ``base`` is protected by the server at ``base``."""
    return {
        "resource": base,
        "authorization_servers": [base],
        "scopes_supported": list(SCOPES),
        "bearer_methods_supported": ["header"],
    }


def _redirect_uri(value: object) -> str:
    if not isinstance(value, str):
        raise RegistrationRefused("invalid_redirect_uri", "a redirect URI must be a string")
    try:
        url = URL(value)
    except ValueError:
        url = None
    ok = (
        url is not None
        and url.is_absolute()
        and not url.fragment
        and (url.scheme == "https" or (url.scheme == "http" and is_loopback_host(url.host)))
    )
    if not ok:
        raise RegistrationRefused(
            "invalid_redirect_uri",
            f"{value!r} is not an https or loopback http URI without a fragment",
        )
    return value


def _string_list(body: dict[str, object], name: str, default: list[str]) -> list[str]:
    value = body.get(name, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RegistrationRefused("invalid_client_metadata", f"{name} must be a list of strings")
    return value


def validate_registration(body: object) -> dict[str, object]:
    """The client metadata to register and echo, or ``RegistrationRefused``."""
    if not isinstance(body, dict):
        raise RegistrationRefused("invalid_client_metadata", "the body must be a JSON object")
    uris = body.get("redirect_uris")
    if not isinstance(uris, list) or not uris:
        raise RegistrationRefused("invalid_redirect_uri", "redirect_uris must list at least one")
    redirect_uris = [_redirect_uri(u) for u in uris]
    grant_types = _string_list(body, "grant_types", ["authorization_code"])
    response_types = _string_list(body, "response_types", ["code"])
    unknown = sorted(set(grant_types) - set(GRANT_TYPES))
    if unknown or "authorization_code" not in grant_types:
        raise RegistrationRefused(
            "invalid_client_metadata", f"grant_types must include authorization_code: {unknown}"
        )
    if response_types != ["code"]:
        raise RegistrationRefused("invalid_client_metadata", "response_types must be ['code']")
    # RFC 7591's default is client_secret_basic, which this server does not take.
    method = body.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise RegistrationRefused(
            "invalid_client_metadata", f"token_endpoint_auth_method must be one of {AUTH_METHODS}"
        )
    scope = body.get("scope", "accounts:all")
    if not isinstance(scope, str) or not scope.split():
        raise RegistrationRefused("invalid_client_metadata", "scope must be a non-empty string")
    unknown = sorted(set(scope.split()) - set(SCOPES))
    if unknown:
        raise RegistrationRefused("invalid_client_metadata", f"unknown scopes {unknown}")
    name = body.get("client_name")
    if name is not None and not isinstance(name, str):
        raise RegistrationRefused("invalid_client_metadata", "client_name must be a string")
    metadata: dict[str, object] = {
        "redirect_uris": redirect_uris,
        "grant_types": grant_types,
        "response_types": response_types,
        "token_endpoint_auth_method": method,
        "scope": " ".join(scope.split()),
    }
    if name is not None:
        metadata["client_name"] = name
    return metadata


def redirect_allowed(registered: Iterable[str], presented: str) -> bool:
    """Whether ``presented`` is a registered redirect URI; loopback ones match on any
    port (RFC 8252 §7.3: a native app gets whatever port is free at login time)."""
    try:
        url = URL(presented)
    except ValueError:
        return False
    for uri in registered:
        if uri == presented:
            return True
        known = URL(uri)
        if (
            known.scheme == "http"
            and is_loopback_host(known.host)
            and (known.scheme, known.host, known.path, known.query_string)
            == (url.scheme, url.host, url.path, url.query_string)
        ):
            return True
    return False
