"""Transport layer: the one boundary where aiohttp's exceptions become ours."""

from __future__ import annotations

from types import TracebackType

import aiohttp

from billabex_async._http._retry import Failure
from billabex_async.errors import APIConnectionError, APITimeoutError

__all__ = ["TransportFailure", "map_aiohttp_errors", "scrub_chain"]


class TransportFailure(Exception):
    """An attempt got no HTTP answer; carries our error and whether it was sent."""

    def __init__(self, error: APIConnectionError, failure: Failure) -> None:
        super().__init__(str(error))
        self.error = error
        self.failure = failure


class map_aiohttp_errors:
    """Turn aiohttp/asyncio failures into TransportFailure, ``from`` the original.

    A failure to connect (refused, DNS, connect timeout) means the server never
    saw the request; anything after that leaves the outcome unknown. A class,
    not ``@contextmanager``: it wraps every attempt, and a generator-based
    manager costs five calls more each time.
    """

    __slots__ = ("method", "path")

    def __init__(self, method: str, path: str) -> None:
        self.method = method
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            return
        method, path = self.method, self.path
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            timeout = APITimeoutError(f"connect timed out: {exc}", method=method, path=path)
            raise TransportFailure(timeout, Failure.NOT_SENT) from exc
        if isinstance(exc, aiohttp.ClientConnectorError):
            error = APIConnectionError(f"cannot connect: {exc.os_error}", method=method, path=path)
            raise TransportFailure(error, Failure.NOT_SENT) from exc
        if isinstance(exc, TimeoutError):
            timeout = APITimeoutError(
                "timed out waiting for the response", method=method, path=path
            )
            raise TransportFailure(timeout, Failure.UNKNOWN) from exc
        if isinstance(exc, aiohttp.ClientError | OSError):
            reason = type(exc).__name__ + (f": {exc}" if str(exc) else "")
            error = APIConnectionError(f"connection failed ({reason})", method=method, path=path)
            raise TransportFailure(error, Failure.UNKNOWN) from exc


def _carries_request(exc: BaseException) -> bool:
    # aiohttp's response errors keep the RequestInfo, whose repr shows every
    # request header, Authorization included.
    return isinstance(exc, aiohttp.ClientResponseError) or hasattr(exc, "request_info")


def scrub_chain(exc: BaseException) -> None:
    """Cut every exception that carries request headers out of ``exc``'s cause/context chain.

    What remains (our errors, OSErrors, connection errors) says why it failed
    without the bearer token.
    """
    stack, seen = [exc], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.__cause__ is not None and _carries_request(node.__cause__):
            node.__cause__ = None
            node.__suppress_context__ = True
        if node.__context__ is not None and _carries_request(node.__context__):
            node.__context__ = None
        stack.extend(e for e in (node.__cause__, node.__context__) if e is not None)
