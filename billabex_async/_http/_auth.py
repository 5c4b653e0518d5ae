"""Transport layer: where bearer tokens come from, and single-flight refresh."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Protocol, runtime_checkable

from billabex_async._validation import check_token
from billabex_async.errors import AuthRefreshError, InvalidRequestError

__all__ = ["TokenProvider", "TokenSource"]


@runtime_checkable
class TokenProvider(Protocol):
    """Supplies access tokens, for tokens that expire (OAuth).

    ``get_token`` returns a token valid now (refreshing ahead of expiry if it
    likes); ``refresh(rejected)`` is called after the server answered 401 to
    ``rejected`` and must return a different, fresh token or raise.
    """

    async def get_token(self) -> str:
        """A token valid now; called before every attempt."""
        ...

    async def refresh(self, rejected: str) -> str:
        """A fresh token after the server answered 401 to ``rejected``; raise if there is none."""
        ...


class _StaticToken:
    """A fixed token string: nothing to refresh."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "<static token>"

    async def get_token(self) -> str:
        return self._token

    async def refresh(self, rejected: str) -> str:
        raise AuthRefreshError("the token was rejected and a fixed token cannot be refreshed")


class TokenSource:
    """The client's view of its credentials: current token plus one refresh at a time.

    A hundred requests rejected with the same stale token cause one call to the
    provider's ``refresh``; the others wait for it and reuse its result.
    """

    __slots__ = (
        "_current",
        "_lock",
        "_provider",
        "_raw",
        "can_refresh",
        "fixed",
        "rate_limit_key",
    )

    def __init__(self, token: str | TokenProvider) -> None:
        if isinstance(token, str):
            # Checked here, at construction: a bad token fails the first line
            # that builds the client, not the first request.
            token = check_token(token)
            self._provider: TokenProvider = _StaticToken(token)
            self.can_refresh = False
            # What ``get`` would always return: the transport reads it with no await.
            self.fixed: str | None = token
            # The limiter registry is keyed by a hash, never by the token itself.
            self.rate_limit_key = hashlib.sha256(token.encode()).hexdigest()
        elif isinstance(token, TokenProvider):
            self._provider = token
            self.can_refresh = True
            self.fixed = None
            key = getattr(token, "rate_limit_key", None)
            self.rate_limit_key = key if isinstance(key, str) else f"provider-{id(token)}"
        else:
            raise InvalidRequestError(
                f"token must be a string or a TokenProvider, got {type(token).__name__}",
                field="token",
            )
        self._current: str | None = None
        # The provider's own form of the token last sent (before stripping),
        # so ``refresh`` hands it back the string it knows.
        self._raw: tuple[str, str] | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<TokenSource refreshable={self.can_refresh}>"

    def _checked(self, raw: object) -> str:
        """A provider's token, checked before it goes into a header.

        Raises ``InvalidRequestError(field="token")`` (nothing is sent), never
        showing the token.
        """
        token = check_token(raw, source="the token from the provider")
        assert isinstance(raw, str)  # check_token refused anything else
        self._raw = (token, raw)
        return token

    async def get(self) -> str:
        """The token to send now."""
        raw = await self._provider.get_token()
        last = self._raw
        if last is not None and type(raw) is str and raw is last[1]:
            token = last[0]  # the very string checked last time: strings do not change
        else:
            token = self._checked(raw)
        self._current = token
        return token

    async def refresh(self, rejected: str) -> str:
        """A fresh token after ``rejected`` got a 401; single flight."""
        async with self._lock:
            if self._current is not None and self._current != rejected:
                return self._current  # someone refreshed while we waited
            raw = self._raw[1] if self._raw is not None and self._raw[0] == rejected else rejected
            token = self._checked(await self._provider.refresh(raw))
            self._current = token
            return token
