"""Transport layer: session use, auth, rate limiting, retries. aiohttp lives only here."""

from billabex_async._http._attempt import RequestEvent, Response
from billabex_async._http._auth import TokenProvider, TokenSource
from billabex_async._http._limiter import Limiter, SlidingWindowLimiter
from billabex_async._http._shared import shared_memory_limiter
from billabex_async._http._transport import Transport

__all__ = [
    "Limiter",
    "RequestEvent",
    "Response",
    "SlidingWindowLimiter",
    "TokenProvider",
    "TokenSource",
    "Transport",
    "shared_memory_limiter",
]
