"""Test helpers: raw HTTP calls to a FakeBillabex, as any client would make them."""

from __future__ import annotations

from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from billabex_async.testing import FakeBillabex

API = "/api/public/v1"
_NO_BODY: Any = object()


async def call(
    session: aiohttp.ClientSession,
    fake: FakeBillabex,
    method: str,
    path: str,
    body: Any = _NO_BODY,
    *,
    token: str | None = None,
    anonymous: bool = False,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> tuple[int, CIMultiDictProxy[str], Any]:
    """One request (with ``token``, else fake.token, unless ``anonymous``).

    Returns status, headers and the parsed JSON body (None if empty).
    """
    sent = dict(headers or {})
    if not anonymous:
        sent["Authorization"] = f"Bearer {token or fake.token}"
    kwargs: dict[str, Any] = {"headers": sent}
    if body is not _NO_BODY:
        kwargs["json"] = body
    if data is not None:
        kwargs["data"] = data
    async with session.request(method, fake.url + API + path, **kwargs) as resp:
        raw = await resp.read()
        return resp.status, resp.headers, (await resp.json() if raw else None)


def contacts_path(fake: FakeBillabex) -> str:
    return f"/accounts/{fake.account_id}/contacts"
