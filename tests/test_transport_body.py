"""Response bodies: read decompressed, never past max_response_bytes (a gzip
bomb included), compressed answers still understood, broken ones typed."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from typing import Any

import pytest
from aiohttp import web

from billabex_async import BillabexClient, errors
from billabex_async._http._body import DEFAULT_MAX_RESPONSE_BYTES

from ._scripted import ACCOUNT, client_for, contact_json
from .conftest import TOKEN, ScriptedServer

MIB = 1024 * 1024


def page_json(size: int) -> bytes:
    """A valid page of contacts, padded with notes to about ``size`` bytes."""
    filler = "x" * max(0, size - 200)
    return json.dumps({"nodes": [contact_json(notes=filler)], "pageInfo": {}}).encode()


def raw(body: bytes, *, status: int = 200, encoding: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if encoding is not None:
        headers["Content-Encoding"] = encoding

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body, headers=headers)

    return handler


class Bomb:
    """A streamed gzip answer inflating to ``mib`` MiB of zeros, from ~1 KiB per MiB.

    After a full flush the compressor restarts, so one flushed block repeats
    for every further MiB: the server sends a 1 GiB bomb without inflating or
    compressing a gigabyte.
    """

    def __init__(self, mib: int) -> None:
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        zeros = bytes(MIB)
        self.head = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
        self.block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
        self.mib = mib

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Encoding": "gzip"})
        resp.content_type = "application/json"
        await resp.prepare(request)
        try:
            await resp.write(self.head)
            for _ in range(self.mib - 1):
                await resp.write(self.block)
        except (ConnectionError, RuntimeError):
            pass  # the client stopped reading and hung up: what we want
        # No gzip trailer: the client must stop long before it would need one.
        return resp


async def test_the_default_cap_is_a_few_mib() -> None:
    assert 4 * MIB <= DEFAULT_MAX_RESPONSE_BYTES <= 16 * MIB
    async with BillabexClient(TOKEN, base_url="http://127.0.0.1:1", rate_limit=None) as client:
        assert client._transport._max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES


async def test_a_body_over_the_cap_raises_a_typed_error(scripted: ScriptedServer) -> None:
    scripted.default = raw(page_json(3 * MIB))
    async with client_for(scripted, max_response_bytes=MIB, max_retries=3) as client:
        with pytest.raises(errors.ResponseTooLargeError) as caught:
            await client.contacts.list(ACCOUNT)
    assert isinstance(caught.value, errors.APIResponseValidationError)
    assert caught.value.limit == MIB
    assert f"max_response_bytes={MIB}" in str(caught.value)
    assert len(scripted.seen) == 1  # not retried


async def test_a_body_under_the_cap_is_read_whole(scripted: ScriptedServer) -> None:
    scripted.default = raw(page_json(MIB - 1024))
    async with client_for(scripted, max_response_bytes=MIB) as client:
        page = await client.contacts.list(ACCOUNT)
    assert page.nodes[0].notes is not None
    assert len(page.nodes[0].notes) > MIB - 2048


async def test_an_error_body_over_the_cap_is_cut_not_fatal(scripted: ScriptedServer) -> None:
    body = b'{"message": "' + b"y" * (2 * MIB) + b'"}'
    scripted.default = raw(body, status=500)
    async with client_for(scripted, max_response_bytes=MIB) as client:
        with pytest.raises(errors.InternalServerError) as caught:
            await client.contacts.list(ACCOUNT)
    assert isinstance(caught.value.body, str)
    assert len(caught.value.body) == MIB


async def test_a_gzip_bomb_stops_at_the_cap_without_inflating(scripted: ScriptedServer) -> None:
    bomb = Bomb(1024)  # 1 GiB of zeros in about 1 MB of gzip
    scripted.default = bomb
    async with client_for(scripted, max_response_bytes=MIB) as client:
        tracemalloc.start()
        try:
            with pytest.raises(errors.ResponseTooLargeError):
                await client.contacts.list(ACCOUNT)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # Inflating it all would take 1 GiB; we hold the cap and a chunk or two.
    # (The server's own count of bytes sent says nothing: socket buffers
    # take the whole megabyte of gzip whether or not the client reads it.)
    assert peak < 8 * MIB, f"peak {peak / MIB:.1f} MiB"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
async def test_compressed_answers_are_understood(scripted: ScriptedServer, encoding: str) -> None:
    body = json.dumps(contact_json(fullName="Zipped Person")).encode()
    if encoding == "gzip":
        packed = gzip.compress(body)
    elif encoding == "deflate":
        packed = zlib.compress(body)
    else:
        squeezer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        packed = squeezer.compress(body) + squeezer.flush()
    header = "gzip" if encoding == "gzip" else "deflate"
    scripted.default = raw(packed, encoding=header)
    async with client_for(scripted) as client:
        contact = await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    assert contact.full_name == "Zipped Person"
    assert scripted.seen[0].headers["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.parametrize(
    ("body", "encoding"),
    [(b"\x1f\x8b\x08\x00garbage-not-gzip", "gzip"), (b"anything", "br"), (b"x", "compress")],
)
async def test_an_undecodable_encoding_is_a_typed_error(
    scripted: ScriptedServer, body: bytes, encoding: str
) -> None:
    scripted.default = raw(body, encoding=encoding)
    async with client_for(scripted) as client:
        with pytest.raises(errors.APIResponseValidationError, match="cannot be decoded"):
            await client.contacts.list(ACCOUNT)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "8MiB"])
def test_a_bad_max_response_bytes_is_refused(bad: Any) -> None:
    with pytest.raises(errors.InvalidRequestError, match="max_response_bytes") as caught:
        BillabexClient(TOKEN, base_url="http://127.0.0.1:1", max_response_bytes=bad)
    assert caught.value.field == "max_response_bytes"


async def test_a_utf8_body_with_a_byte_order_mark_is_read(scripted: ScriptedServer) -> None:
    body = b"\xef\xbb\xbf" + json.dumps(contact_json(fullName="José Ñandú")).encode()
    scripted.default = raw(body)
    async with client_for(scripted) as client:
        contact = await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    assert contact.full_name == "José Ñandú"
