"""Transport layer: the OAuth flow's errors, all ``AuthRefreshError`` (so ``BillabexError``)."""

from __future__ import annotations

from billabex_async.errors import AuthRefreshError

__all__ = [
    "InvalidGrantError",
    "LoginTimeoutError",
    "OAuthError",
    "OAuthRedirectError",
    "OAuthResponseError",
]


class OAuthError(AuthRefreshError):
    """The authorization server refused: ``error`` is its OAuth error code.

    Server text quoted in the message has every secret of the request
    (tokens, client secret, code, PKCE verifier) replaced by ``***``.

    Args:
        message: What failed, secrets redacted.
        error: The server's OAuth error code (``invalid_grant``...), if it sent one.
    """

    def __init__(self, message: str, *, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error


class InvalidGrantError(OAuthError):
    """The refresh token (or code) is expired, revoked or already used: log in again."""


class OAuthResponseError(OAuthError):
    """The token endpoint answered 200 with a body that is not a usable token set.

    ``status`` is the HTTP status; the body itself is not kept (it may hold tokens).

    Args:
        message: What does not fit.
        status: The HTTP status.
    """

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class OAuthRedirectError(OAuthError):
    """The token endpoint answered with a redirect, which is never followed.

    Following it would re-send the form (client secret, refresh token or
    code) to wherever ``Location`` points. ``status`` and ``location_host``
    say where it tried to send us.

    Args:
        message: Names the status and the host.
        status: The 3xx status.
        location_host: The host ``Location`` points to, or None.
    """

    def __init__(self, message: str, *, status: int, location_host: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.location_host = location_host


class LoginTimeoutError(OAuthError, TimeoutError):
    """Nobody approved the login in the browser in time (also a ``TimeoutError``)."""
