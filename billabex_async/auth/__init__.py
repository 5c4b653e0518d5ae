"""Transport layer: getting and keeping a Billabex OAuth token (PKCE login, refresh, storage).

A service that refreshes stored tokens needs ``OAuthTokenProvider`` and a
store only; the interactive login (which imports ``aiohttp.web`` for its
callback server), discovery, registration, the keyring store and the Redis
store load on first access (PEP 562 ``__getattr__``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from billabex_async._lazy import lazy_getattr
from billabex_async.auth._async_store import AsyncTokenStore, as_async_store
from billabex_async.auth._oauth import (
    DEFAULT_SCOPE,
    REFRESH_FRACTION,
    REFRESH_MARGIN,
    InvalidGrantError,
    LoginTimeoutError,
    OAuthError,
    OAuthRedirectError,
    OAuthResponseError,
    PKCEPair,
    authorization_url,
    exchange_code,
    generate_pkce,
    refresh_tokens,
)
from billabex_async.auth._provider import OAuthTokenProvider
from billabex_async.auth._store import (
    Credentials,
    FileTokenStore,
    TokenSet,
    TokenStore,
    default_credentials_path,
)

if TYPE_CHECKING:
    from billabex_async.auth._discovery import DiscoveryError, ServerMetadata, discover
    from billabex_async.auth._keyring import KeyringTokenStore
    from billabex_async.auth._login import login
    from billabex_async.auth._redis_store import RedisTokenStore
    from billabex_async.auth._register import RegisteredClient, RegistrationError, register_client

__all__ = [
    "DEFAULT_SCOPE",
    "REFRESH_FRACTION",
    "REFRESH_MARGIN",
    "AsyncTokenStore",
    "Credentials",
    "DiscoveryError",
    "FileTokenStore",
    "InvalidGrantError",
    "KeyringTokenStore",
    "LoginTimeoutError",
    "OAuthError",
    "OAuthRedirectError",
    "OAuthResponseError",
    "OAuthTokenProvider",
    "PKCEPair",
    "RedisTokenStore",
    "RegisteredClient",
    "RegistrationError",
    "ServerMetadata",
    "TokenSet",
    "TokenStore",
    "as_async_store",
    "authorization_url",
    "default_credentials_path",
    "discover",
    "exchange_code",
    "generate_pkce",
    "login",
    "refresh_tokens",
    "register_client",
]

# Public names loaded on first access: name -> the module that defines it.
_LAZY = {
    "DiscoveryError": "billabex_async.auth._discovery",
    "ServerMetadata": "billabex_async.auth._discovery",
    "discover": "billabex_async.auth._discovery",
    "KeyringTokenStore": "billabex_async.auth._keyring",
    "login": "billabex_async.auth._login",
    "RedisTokenStore": "billabex_async.auth._redis_store",
    "RegisteredClient": "billabex_async.auth._register",
    "RegistrationError": "billabex_async.auth._register",
    "register_client": "billabex_async.auth._register",
}

# Hidden from the type checker, which sees the names through the imports
# above: a visible module ``__getattr__`` would make every misspelt name
# type-check as ``object``.
if not TYPE_CHECKING:
    __getattr__ = lazy_getattr(__name__, globals(), _LAZY)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
