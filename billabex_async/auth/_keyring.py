"""Transport layer: credentials in the operating system's keyring (optional extra)."""

from __future__ import annotations

import json
from typing import Any

from billabex_async.auth._store import Credentials

__all__ = ["KeyringTokenStore"]

SERVICE = "billabex-async"


def _keyring() -> Any:
    try:
        import keyring
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "KeyringTokenStore needs the keyring package: pip install 'billabex-async[keyring]'"
        ) from None
    return keyring


class KeyringTokenStore:
    """Credentials kept by the OS keyring (macOS Keychain, Secret Service, Windows).

    Same interface as ``FileTokenStore``; ``profile`` names the entry, so
    several logins can live side by side.
    """

    __slots__ = ("profile",)

    def __init__(self, profile: str = "default") -> None:
        self.profile = profile

    def __repr__(self) -> str:
        return f"KeyringTokenStore({self.profile!r})"

    def load(self) -> Credentials | None:
        """The stored credentials, or None; ``AuthRefreshError`` if the entry is damaged."""
        raw = _keyring().get_password(SERVICE, self.profile)
        if raw is None:
            return None
        return Credentials.from_text(
            raw,
            refused=f"the keyring entry {self.profile!r} is not credentials: "
            "run `billabex login` again",
        )

    def save(self, credentials: Credentials) -> None:
        _keyring().set_password(SERVICE, self.profile, json.dumps(credentials.to_json()))

    def clear(self) -> None:
        keyring = _keyring()
        if keyring.get_password(SERVICE, self.profile) is not None:
            keyring.delete_password(SERVICE, self.profile)
