"""Transport layer: the one boundary where aiohttp's exceptions become ours."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp

from billabex_async._http._retry import Failure
from billabex_async.errors import APIConnectionError, APITimeoutError

__all__ = ["TransportFailure", "map_aiohttp_errors"]


class TransportFailure(Exception):
    """An attempt got no HTTP answer; carries our error and whether it was sent."""

    def __init__(self, error: APIConnectionError, failure: Failure) -> None:
        super().__init__(str(error))
        self.error = error
        self.failure = failure


@contextmanager
def map_aiohttp_errors(method: str, path: str) -> Iterator[None]:
    """Turn aiohttp/asyncio failures into TransportFailure, ``from`` the original.

    A failure to connect (refused, DNS, connect timeout) means the server never
    saw the request; anything after that leaves the outcome unknown.
    """
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        timeout = APITimeoutError(f"connect timed out: {exc}", method=method, path=path)
        raise TransportFailure(timeout, Failure.NOT_SENT) from exc
    except aiohttp.ClientConnectorError as exc:
        error = APIConnectionError(f"cannot connect: {exc.os_error}", method=method, path=path)
        raise TransportFailure(error, Failure.NOT_SENT) from exc
    except TimeoutError as exc:
        timeout = APITimeoutError("timed out waiting for the response", method=method, path=path)
        raise TransportFailure(timeout, Failure.UNKNOWN) from exc
    except (aiohttp.ClientError, OSError) as exc:
        reason = type(exc).__name__ + (f": {exc}" if str(exc) else "")
        error = APIConnectionError(f"connection failed ({reason})", method=method, path=path)
        raise TransportFailure(error, Failure.UNKNOWN) from exc
