"""Transport layer: OAuth token sets, saved credentials, and where they are stored."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import attrs

__all__ = ["Credentials", "FileTokenStore", "TokenSet", "TokenStore", "default_credentials_path"]


@attrs.frozen
class TokenSet:
    """Tokens from the token endpoint. Their values never show in a repr."""

    access_token: str = attrs.field(repr=False)
    refresh_token: str | None = attrs.field(repr=False)
    expires_at: float  # unix seconds
    scope: str | None = None
    token_type: str = "Bearer"  # noqa: S105 - a scheme name

    def expires_within(self, seconds: float, *, now: float | None = None) -> bool:
        """Whether the access token expires in less than ``seconds``."""
        return self.expires_at - (time.time() if now is None else now) < seconds


@attrs.frozen
class Credentials:
    """What a login leaves behind: where, which OAuth client, and the tokens."""

    base_url: str
    client_id: str
    client_secret: str | None = attrs.field(repr=False)
    tokens: TokenSet
    # Where refreshes go, when discovery found it; None: the known path under base_url.
    token_endpoint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "access_token": self.tokens.access_token,
            "refresh_token": self.tokens.refresh_token,
            "expires_at": self.tokens.expires_at,
            "scope": self.tokens.scope,
            "token_endpoint": self.token_endpoint,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Credentials:
        tokens = TokenSet(
            access_token=str(data["access_token"]),
            refresh_token=data.get("refresh_token"),
            expires_at=float(data["expires_at"]),
            scope=data.get("scope"),
        )
        return cls(
            base_url=str(data["base_url"]),
            client_id=str(data["client_id"]),
            client_secret=data.get("client_secret"),
            tokens=tokens,
            token_endpoint=data.get("token_endpoint"),
        )


class TokenStore(Protocol):
    """Where credentials are kept between runs."""

    def load(self) -> Credentials | None: ...

    def save(self, credentials: Credentials) -> None: ...

    def clear(self) -> None: ...


def default_credentials_path() -> Path:
    """``$BILLABEX_CREDENTIALS``, else ``$XDG_CONFIG_HOME/billabex/credentials.json``."""
    explicit = os.environ.get("BILLABEX_CREDENTIALS")
    if explicit:
        return Path(explicit)
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "billabex" / "credentials.json"


class FileTokenStore:
    """Credentials in a JSON file only its owner can read (0600), replaced atomically.

    A crash mid-write leaves the old file intact: the new content goes to a
    temporary file in the same folder, is flushed to disk, then renamed over it.
    """

    __slots__ = ("path",)

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_credentials_path()

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    def load(self) -> Credentials | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        return Credentials.from_json(data)

    def save(self, credentials: Credentials) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".credentials-", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(credentials.to_json(), f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
