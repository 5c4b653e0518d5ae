"""Transport layer: reading a response body, decompressed, never past a size cap."""

from __future__ import annotations

import zlib

import aiohttp

from billabex_async.errors import APIResponseValidationError, ResponseTooLargeError

__all__ = [
    "ACCEPT_ENCODING",
    "CHUNK",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "BodyTooLarge",
    "UnsupportedEncoding",
    "fits_one_read",
    "read_answer",
    "read_body",
]

# Bytes, decompressed; a page of 100 contacts is about 30 KB.
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
CHUNK = 64 * 1024  # bytes read or inflated at a time
# What we advertise, and so all we must decode: aiohttp would add br/zstd when
# their packages happen to be installed, and inflate them itself, unbounded
# on older aiohttp versions.
ACCEPT_ENCODING = "gzip, deflate"


class BodyTooLarge(Exception):
    """The body passed the cap; ``head`` is what was read up to it (not copied)."""

    def __init__(self, head: bytearray) -> None:
        super().__init__(f"body larger than {len(head)} bytes")
        self.head = head


class UnsupportedEncoding(Exception):
    """A Content-Encoding we did not ask for."""


def fits_one_read(resp: aiohttp.ClientResponse, limit: int) -> bool:
    """Not compressed, and a Content-Length within ``limit``: ``resp.read()`` is bounded.

    The parser stops at Content-Length, so one read takes no more than that.
    """
    length = resp.content_length
    return length is not None and length <= limit and "Content-Encoding" not in resp.headers


async def read_body(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, decompressed, or ``BodyTooLarge`` once it passes ``limit`` bytes.

    The request is sent with aiohttp's decompression off: inflating here, at
    most ``CHUNK`` bytes per step, keeps a gzip bomb from ever taking more
    than ``limit`` of memory, whatever the aiohttp version.
    """
    if fits_one_read(resp, limit):
        return await resp.read()
    encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip", "deflate", ""):
        raise UnsupportedEncoding(encoding)
    out = bytearray()
    inflater: zlib._Decompress | None = None
    async for chunk in resp.content.iter_chunked(CHUNK):
        if encoding in ("identity", ""):
            out += chunk
        else:
            if inflater is None:
                inflater = _inflater(encoding, chunk)
            data = chunk
            while data:
                out += inflater.decompress(data, CHUNK)
                if len(out) > limit:
                    break
                data = inflater.unconsumed_tail
        if len(out) > limit:
            raise _too_large(out, limit)
    if inflater is not None:
        out += inflater.flush()
    if len(out) > limit:
        raise _too_large(out, limit)
    return bytes(out)


def _too_large(out: bytearray, limit: int) -> BodyTooLarge:
    del out[limit:]  # in place: no second copy of up to ``limit`` bytes
    return BodyTooLarge(out)


def _inflater(encoding: str, first: bytes) -> zlib._Decompress:
    if encoding == "deflate" and first and (first[0] & 0x0F) != 8:
        return zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send
    return zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected


async def read_answer(resp: aiohttp.ClientResponse, limit: int, *, method: str, path: str) -> bytes:
    """``read_body`` for the transport: a 2xx that is too large or undecodable raises.

    ``ResponseTooLargeError`` or ``APIResponseValidationError``; an error
    status keeps what fits (its message is at the start), or nothing.
    """
    status = resp.status
    try:
        return await read_body(resp, limit)
    except BodyTooLarge as exc:
        if not 200 <= status < 300:
            return bytes(exc.head)
        raise ResponseTooLargeError(
            f"{method} {path} -> {status}: the body passed max_response_bytes={limit} "
            "(counted decompressed), so reading stopped; the server handled the request, "
            "only its answer was not read",
            status=status,
            limit=limit,
        ) from None
    except (UnsupportedEncoding, zlib.error) as exc:
        if not 200 <= status < 300:
            return b""
        raise APIResponseValidationError(
            f"{method} {path} -> {status}: the body cannot be decoded "
            f"({type(exc).__name__}: {exc})",
            status=status,
            body=None,
        ) from None
