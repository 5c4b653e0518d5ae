"""Transport layer: getting and keeping a Billabex OAuth token (PKCE login, refresh, storage)."""

from billabex_async.auth._discovery import DiscoveryError, ServerMetadata, discover
from billabex_async.auth._keyring import KeyringTokenStore
from billabex_async.auth._login import login
from billabex_async.auth._oauth import (
    DEFAULT_SCOPE,
    REFRESH_MARGIN,
    InvalidGrantError,
    OAuthError,
    OAuthTokenProvider,
    PKCEPair,
    authorization_url,
    exchange_code,
    generate_pkce,
    refresh_tokens,
)
from billabex_async.auth._register import RegisteredClient, RegistrationError, register_client
from billabex_async.auth._store import (
    Credentials,
    FileTokenStore,
    TokenSet,
    TokenStore,
    default_credentials_path,
)

__all__ = [
    "DEFAULT_SCOPE",
    "REFRESH_MARGIN",
    "Credentials",
    "DiscoveryError",
    "FileTokenStore",
    "InvalidGrantError",
    "KeyringTokenStore",
    "OAuthError",
    "OAuthTokenProvider",
    "PKCEPair",
    "RegisteredClient",
    "RegistrationError",
    "ServerMetadata",
    "TokenSet",
    "TokenStore",
    "authorization_url",
    "default_credentials_path",
    "discover",
    "exchange_code",
    "generate_pkce",
    "login",
    "refresh_tokens",
    "register_client",
]
