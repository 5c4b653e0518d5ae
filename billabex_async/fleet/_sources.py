"""Fleet layer: where a job reads the contacts an account should hold.

A source is named by a string, so it travels in the job:

- ``fn:NAME``: an async callable registered with the worker under NAME,
  called as ``await fn(tenant, account_id)`` (or an async generator
  function), returning an iterable or async iterable of ``ContactUpsert``;
- ``https://...`` (plain ``http://`` only to loopback): a CSV or JSON Lines
  object, streamed to a temporary file (at most ``max_download_bytes``),
  then read like a file; the format comes from the path's suffix;
- ``file:///path`` or a plain path: a CSV or JSON Lines file every worker
  can read. Files are checked row by row before anything is sent, as by the CLI.
"""

from __future__ import annotations

import contextlib
import inspect
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import TypeAlias

import aiohttp
from yarl import URL

from billabex_async._types import is_loopback_host
from billabex_async.cli._rows import InputError, read_rows
from billabex_async.errors import InvalidRequestError
from billabex_async.models import ContactUpsert

__all__ = [
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "Desired",
    "Source",
    "SourceError",
    "check_source",
    "open_source",
]

Desired: TypeAlias = Iterable[ContactUpsert] | AsyncIterable[ContactUpsert]
Source: TypeAlias = Callable[[str, str], Awaitable[Desired] | AsyncIterator[ContactUpsert]]
"""A registered source: ``(tenant, account_id)`` -> the contacts the account should hold."""
DEFAULT_MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024
_CHUNK = 64 * 1024
_SUFFIXES = (".csv", ".jsonl", ".ndjson")


class SourceError(Exception):
    """The source cannot be read; ``transient`` when trying again later may work.

    Args:
        message: What went wrong, for the job's result.
        transient: True when a later try may succeed (the job is retried).
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def check_source(source: object) -> str:
    """``source`` if it names a source this module can open, else InvalidRequestError."""
    if not isinstance(source, str) or not source.strip():
        raise InvalidRequestError("source must be a non-empty string", field="source")
    if source.startswith("fn:"):
        if not source[3:].strip():
            raise InvalidRequestError("fn: needs a registered name", field="source")
        return source
    if source.startswith(("http://", "https://")):
        url = URL(source)
        if not url.host or (url.scheme == "http" and not is_loopback_host(url.host)):
            raise InvalidRequestError(
                "a source URL must be https (plain http only to localhost)", field="source"
            )
        suffix = PurePosixPath(url.path).suffix.lower()
    else:
        suffix = _local(source).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InvalidRequestError(
            "a source file must end in .csv, .jsonl or .ndjson", field="source"
        )
    return source


def _local(source: str) -> Path:
    return Path(URL(source).path) if source.startswith("file://") else Path(source)


def _rows(path: Path) -> Iterable[ContactUpsert]:
    try:
        return read_rows(path).items()
    except InputError as exc:
        raise SourceError(str(exc), transient=False) from exc


async def _download(session: aiohttp.ClientSession, source: str, folder: Path, limit: int) -> Path:
    target = folder / f"source{PurePosixPath(URL(source).path).suffix.lower()}"
    try:
        async with session.get(source, allow_redirects=False) as response:
            if response.status != 200:
                raise SourceError(
                    f"the source answered {response.status}", transient=response.status >= 500
                )
            size = 0
            with target.open("wb") as handle:
                async for chunk in response.content.iter_chunked(_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise SourceError(f"the source is over {limit} bytes", transient=False)
                    handle.write(chunk)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SourceError(
            f"the source could not be read: {type(exc).__name__}", transient=True
        ) from exc
    return target


@contextlib.asynccontextmanager
async def open_source(
    source: str,
    tenant: str,
    account_id: str,
    *,
    registered: Mapping[str, Source],
    session: aiohttp.ClientSession,
    max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
) -> AsyncIterator[Desired]:
    """The desired contacts of ``source``; a downloaded copy is removed on exit.

    Raises SourceError: an unknown registered name, a bad or unreadable file
    (permanent), a download that failed on the network or a 5xx (transient).
    """
    check_source(source)
    if source.startswith("fn:"):
        name = source[3:]
        fn = registered.get(name)
        if fn is None:
            raise SourceError(f"no source registered as {name!r}", transient=False)
        produced = fn(tenant, account_id)
        yield await produced if inspect.isawaitable(produced) else produced
    elif source.startswith(("http://", "https://")):
        with tempfile.TemporaryDirectory(prefix="billabex-fleet-") as folder:
            path = await _download(session, source, Path(folder), max_download_bytes)
            yield _rows(path)
    else:
        yield _rows(_local(source))
