"""billabex-async: the async Python SDK for the Billabex Contacts API.

Every public name loads on first use (PEP 562 ``__getattr__``): a web backend
that only sends single requests never imports the bulk engine, the fuzzy
matcher or rapidfuzz, and the ``billabex`` command starts inside its own
Ctrl-C handler, before aiohttp loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from billabex_async._lazy import lazy_getattr
from billabex_async._version import __version__

if TYPE_CHECKING:
    from billabex_async import errors
    from billabex_async._client import DEFAULT_BASE_URL, BillabexClient
    from billabex_async._http import RequestEvent, TokenProvider
    from billabex_async._http._session import SharedSession
    from billabex_async._pool import ClientPool, PoolStats
    from billabex_async._types import UNSET, Clock, RateLimit, Unset
    from billabex_async.bulk import BulkFailure, BulkOutcome, BulkReport
    from billabex_async.models import (
        Contact,
        ContactCreate,
        ContactPage,
        ContactUpdate,
        ContactUpsert,
        EmailInfo,
        EmailStatus,
        PageInfo,
    )
    from billabex_async.resources import ContactsResource
    from billabex_async.sync import SyncChange, SyncPlan, SyncResult

__all__ = [
    "DEFAULT_BASE_URL",
    "UNSET",
    "BillabexClient",
    "BulkFailure",
    "BulkOutcome",
    "BulkReport",
    "ClientPool",
    "Clock",
    "Contact",
    "ContactCreate",
    "ContactPage",
    "ContactUpdate",
    "ContactUpsert",
    "ContactsResource",
    "EmailInfo",
    "EmailStatus",
    "PageInfo",
    "PoolStats",
    "RateLimit",
    "RequestEvent",
    "SharedSession",
    "SyncChange",
    "SyncPlan",
    "SyncResult",
    "TokenProvider",
    "Unset",
    "__version__",
    "errors",
]

# Public names loaded on first access: name -> the module that defines it.
_LAZY = {
    "DEFAULT_BASE_URL": "billabex_async._client",
    "BillabexClient": "billabex_async._client",
    "RequestEvent": "billabex_async._http",
    "TokenProvider": "billabex_async._http",
    "SharedSession": "billabex_async._http._session",
    "ClientPool": "billabex_async._pool",
    "PoolStats": "billabex_async._pool",
    "UNSET": "billabex_async._types",
    "Clock": "billabex_async._types",
    "RateLimit": "billabex_async._types",
    "Unset": "billabex_async._types",
    "BulkFailure": "billabex_async.bulk",
    "BulkOutcome": "billabex_async.bulk",
    "BulkReport": "billabex_async.bulk",
    **dict.fromkeys(
        (
            "Contact",
            "ContactCreate",
            "ContactPage",
            "ContactUpdate",
            "ContactUpsert",
            "EmailInfo",
            "EmailStatus",
            "PageInfo",
        ),
        "billabex_async.models",
    ),
    "ContactsResource": "billabex_async.resources",
    "SyncChange": "billabex_async.sync",
    "SyncPlan": "billabex_async.sync",
    "SyncResult": "billabex_async.sync",
}
# Subpackages that ``import billabex_async`` used to load as a side effect:
# ``billabex_async.bulk.bulk_upsert(...)`` after a bare import keeps working.
_SUBPACKAGES = frozenset({"bulk", "errors", "sync"})


# Hidden from the type checker, which sees the names through the imports
# above: a visible module ``__getattr__`` would make every misspelt name
# type-check as ``object``.
if not TYPE_CHECKING:
    __getattr__ = lazy_getattr(__name__, globals(), _LAZY, subpackages=_SUBPACKAGES)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
