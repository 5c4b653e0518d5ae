"""Transport layer: what the telemetry calls things, as pure functions (no OpenTelemetry import).

Attribute names follow the OpenTelemetry HTTP client semantic conventions
where one exists; ours are under ``billabex.``. Nothing here ever reads a
header or a body: the bearer token and contact data cannot reach a span.
"""

from __future__ import annotations

from yarl import URL

from billabex_async.errors import APIStatusError

__all__ = [
    "ATTEMPT_DURATION",
    "BULK_OUTCOME",
    "ERROR_TYPE",
    "METHOD",
    "OPERATION",
    "RATELIMIT_WAIT",
    "REDACTED",
    "RESEND_COUNT",
    "RETRY_DELAY",
    "RETRY_REASON",
    "SERVER_ADDRESS",
    "SERVER_PORT",
    "STATUS",
    "URL_FULL",
    "URL_SCHEME",
    "error_type",
    "operation",
    "url_full",
]

# Semantic conventions (stable HTTP client attributes).
METHOD = "http.request.method"
STATUS = "http.response.status_code"
URL_FULL = "url.full"
URL_SCHEME = "url.scheme"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"
RESEND_COUNT = "http.request.resend_count"
# Ours.
OPERATION = "billabex.operation"
RATELIMIT_WAIT = "billabex.ratelimit.wait"  # seconds waiting for a limiter slot
ATTEMPT_DURATION = "billabex.attempt.duration"  # seconds from send to answer or failure
RETRY_REASON = "billabex.retry.reason"  # the status or error.type that was retried
RETRY_DELAY = "billabex.retry.delay"  # seconds slept before the next attempt
BULK_OUTCOME = "billabex.bulk.outcome"  # succeeded, failed or not_attempted

REDACTED = "REDACTED"
# Query parameters whose values are shown; any other value is replaced by
# REDACTED (the cursor is opaque server state; a future parameter may be a filter
# on contact data).
_SHOWN_PARAMS = frozenset({"first"})
_VERBS = {
    ("GET", False): "list",
    ("POST", False): "create",
    ("GET", True): "get",
    ("PATCH", True): "update",
    ("DELETE", True): "delete",
}


def operation(method: str, path: str) -> str:
    """The logical call a request makes, e.g. ``contacts.upsert``: the span's name.

    From the path's shape, never its ids: ``/accounts/{id}/contacts`` is
    ``contacts.list`` (GET) or ``contacts.create`` (POST), ``.../contacts/{id}``
    is ``contacts.get``/``update``/``delete``, ``.../contacts/upsert`` is
    ``contacts.upsert``. Any other path is named by its method alone, as the
    HTTP conventions name a span without a route.
    """
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[0] == "accounts" and parts[2] == "contacts":
        rest = parts[3:]
        if rest == ["upsert"] and method == "PUT":
            return "contacts.upsert"
        verb = _VERBS.get((method, bool(rest))) if len(rest) <= 1 else None
        if verb is not None:
            return f"contacts.{verb}"
    return method


def url_full(url: URL) -> str:
    """The URL for ``url.full``: no credentials, every query value but ``first`` redacted."""
    if url.user is not None or url.password is not None:
        url = url.with_user(None)
    if url.query_string:
        query = [(k, v if k in _SHOWN_PARAMS else REDACTED) for k, v in url.query.items()]
        url = url.with_query(query)
    return str(url.with_fragment(None))


def error_type(exc: BaseException) -> str:
    """``error.type`` for a call that raised: the status code of an HTTP error, else the class."""
    if isinstance(exc, APIStatusError):
        return str(exc.status)
    # The qualified name alone, as the aiohttp client instrumentation reports it.
    return type(exc).__qualname__
