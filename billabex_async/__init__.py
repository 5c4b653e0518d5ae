"""billabex-async: the async Python SDK for the Billabex Contacts API."""

from billabex_async import errors
from billabex_async._client import DEFAULT_BASE_URL, BillabexClient
from billabex_async._http import RequestEvent, TokenProvider
from billabex_async._types import UNSET, RateLimit, Unset
from billabex_async._version import __version__
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
from billabex_async.sync import SyncChange, SyncPlan, SyncResult

__all__ = [
    "DEFAULT_BASE_URL",
    "UNSET",
    "BillabexClient",
    "BulkFailure",
    "BulkOutcome",
    "BulkReport",
    "Contact",
    "ContactCreate",
    "ContactPage",
    "ContactUpdate",
    "ContactUpsert",
    "EmailInfo",
    "EmailStatus",
    "PageInfo",
    "RateLimit",
    "RequestEvent",
    "SyncChange",
    "SyncPlan",
    "SyncResult",
    "TokenProvider",
    "Unset",
    "__version__",
    "errors",
]
