"""Transport layer: session use, auth, retries. aiohttp lives only here."""

from billabex_async._http._attempt import RequestEvent, Response
from billabex_async._http._auth import TokenProvider, TokenSource
from billabex_async._http._transport import Transport

__all__ = [
    "RequestEvent",
    "Response",
    "TokenProvider",
    "TokenSource",
    "Transport",
]
