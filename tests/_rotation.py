"""Test helpers for refresh-token rotation races: another process's refresh, what the server saw."""

from __future__ import annotations

import attrs

from billabex_async.auth import Credentials, refresh_tokens
from billabex_async.testing import FakeBillabex

__all__ = ["rotate", "token_calls"]


async def rotate(fake: FakeBillabex, creds: Credentials) -> Credentials:
    """What another process does: spend the refresh token, get the next tokens."""
    assert creds.tokens.refresh_token is not None
    tokens = await refresh_tokens(
        fake.url,
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        refresh_token=creds.tokens.refresh_token,
    )
    return attrs.evolve(creds, tokens=tokens)


def token_calls(fake: FakeBillabex) -> list[int | None]:
    """The statuses the token endpoint answered, in order (a spent refresh token: 400)."""
    return [r.status for r in fake.requests if r.path == "/api/oauth/token"]
