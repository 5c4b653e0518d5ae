"""Transport layer: OAuth token sets, saved credentials, and where they are stored."""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import attrs

from billabex_async.errors import AuthRefreshError

__all__ = ["Credentials", "FileTokenStore", "TokenSet", "TokenStore", "default_credentials_path"]

logger = logging.getLogger("billabex_async")


@attrs.frozen
class TokenSet:
    """Tokens from the token endpoint. Their values never show in a repr."""

    access_token: str = attrs.field(repr=False)
    refresh_token: str | None = attrs.field(repr=False)
    expires_at: float  # unix seconds
    scope: str | None = None
    token_type: str = "Bearer"  # noqa: S105 - a scheme name
    issued_at: float | None = None
    """Unix seconds when the token endpoint answered; None when unknown (older files)."""

    def expires_within(self, seconds: float, *, now: float | None = None) -> bool:
        """Whether the access token expires in less than ``seconds``."""
        return self.expires_at - (time.time() if now is None else now) < seconds

    @property
    def lifetime(self) -> float | None:
        """Seconds the access token was issued for, when known."""
        return None if self.issued_at is None else self.expires_at - self.issued_at


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
            "issued_at": self.tokens.issued_at,
        }

    @classmethod
    def from_text(cls, text: str | bytes, *, refused: str) -> Credentials:
        """Credentials from the JSON text a store keeps; ``AuthRefreshError(refused)`` if not JSON.

        ``refused`` says which entry is damaged and what to do (never its content).
        """
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise AuthRefreshError(refused)
        return cls.from_json(data)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Credentials:
        """Credentials from ``to_json``'s form; ``AuthRefreshError`` if a field is wrong."""
        try:
            issued_at = data.get("issued_at")
            tokens = TokenSet(
                access_token=_text(data["access_token"]),
                refresh_token=_text(data.get("refresh_token"), optional=True),
                expires_at=float(data["expires_at"]),
                scope=_text(data.get("scope"), optional=True),
                issued_at=None if issued_at is None else float(issued_at),
            )
            return cls(
                base_url=_text(data["base_url"]),
                client_id=_text(data["client_id"]),
                client_secret=_text(data.get("client_secret"), optional=True),
                tokens=tokens,
                token_endpoint=_text(data.get("token_endpoint"), optional=True),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # Never the values: they are secrets. The key or type is enough.
            raise AuthRefreshError(
                f"the stored credentials are damaged ({type(exc).__name__}: "
                f"{exc.args[0] if isinstance(exc, KeyError) else 'a field has the wrong type'}); "
                "run `billabex login` again"
            ) from None


def _text(value: object, *, optional: bool = False) -> Any:
    """A stored string field; None only where ``optional``."""
    if isinstance(value, str) or (optional and value is None):
        return value
    raise TypeError("not a string")


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
        """The stored credentials, or None when there is no file.

        A file others can read is tightened to 0600 first, with a warning (the
        tokens in it may have been read). Raises ``AuthRefreshError`` when the
        file is not valid credentials.
        """
        try:
            self._tighten()
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return Credentials.from_text(
            text,
            refused=f"{self.path} is not a credentials file (not a JSON object): "
            "run `billabex login` again",
        )

    def _tighten(self) -> None:
        if os.name != "posix":  # mode bits mean little elsewhere
            return
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if not mode & 0o077:
            return
        try:
            os.chmod(self.path, 0o600)
        except OSError as exc:
            logger.warning(
                "credentials file %s is readable by others (mode %03o) and could not be "
                "tightened (%s): chmod 600 it",
                self.path, mode, type(exc).__name__,
            )  # fmt: skip
            return
        logger.warning(
            "credentials file %s was readable by others (mode %03o): tightened to 0600; "
            "if others could read it, log in again to get new tokens",
            self.path, mode,
        )  # fmt: skip

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
