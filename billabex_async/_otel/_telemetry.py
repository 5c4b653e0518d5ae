"""Transport layer: one span per logical call and the client's metrics, on the OpenTelemetry API.

Only the API is used, and nothing is exported without an SDK: while no
global provider is set, a call starts no span at all; a span that is not
recording (sampled out) gets no attribute or event built. The span is
CLIENT, or INTERNAL when the session already carries the aiohttp client
instrumentation, whose per-attempt CLIENT spans (and
``http.client.request.duration``) then nest under it instead of doubling it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Protocol

from opentelemetry import context, metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from billabex_async._http._attempt import Call, Response
from billabex_async._otel import _names as n
from billabex_async._otel._probes import aiohttp_instrumented, sdk_probe
from billabex_async._version import __version__
from billabex_async.errors import APIStatusError

__all__ = ["SCOPE", "Telemetry"]

SCOPE = "billabex_async"  # instrumentation scope of the tracer and the meter
# The HTTP semantic conventions' advice for http.client.request.duration.
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
# A limiter wait runs from nothing to a whole window (60 s by default) and a Retry-After.
_WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_OUTCOMES = ("succeeded", "failed", "not_attempted")
_MAX_CACHED_NAMES = 4096  # distinct (method, path) pairs remembered


class _Settled(Protocol):
    @property
    def status(self) -> str: ...


class _Record:
    """What one logical call's span has learnt so far, across its attempts."""

    __slots__ = ("call", "http_metrics", "last", "operation", "recording", "span", "waited")

    def __init__(self, call: Call, span: Span, operation: str, *, http_metrics: bool) -> None:
        self.call = call
        self.span = span
        self.operation = operation
        self.recording = span.is_recording()  # False without an SDK, or sampled out
        self.http_metrics = http_metrics  # False: the aiohttp instrumentation records them
        self.waited = 0.0  # seconds waited for limiter slots, all attempts
        self.last = "unknown"  # status or error.type of the latest attempt: why it is retried


# The call the current task is sending: the per-attempt hooks find their span here.
_CURRENT: ContextVar[_Record | None] = ContextVar("billabex_otel_call", default=None)


class Telemetry:
    """Spans and metrics for one client's requests; built only when OpenTelemetry is on.

    ``tracer_provider``/``meter_provider`` default to the global ones (set by
    the SDK or an auto-instrumentation agent).
    """

    __slots__ = (
        "_duration",
        "_instrumented",
        "_items",
        "_names",
        "_rate_limited",
        "_requests",
        "_retries",
        "_session",
        "_tracer",
        "_unset",
        "_wait",
    )

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        # Providers of the caller's own are live; the global ones may not be set yet.
        own = tracer_provider is not None or meter_provider is not None
        self._unset = None if own else sdk_probe()
        self._tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider)
        self._duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests (each attempt).",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._requests = meter.create_counter(
            "billabex.client.requests", unit="{request}", description="Attempts sent, by status."
        )
        self._rate_limited = meter.create_counter(
            "billabex.client.rate_limited", unit="{response}", description="429 answers received."
        )
        self._retries = meter.create_counter(
            "billabex.client.retries", unit="{retry}", description="Retries, by reason."
        )
        self._wait = meter.create_histogram(
            "billabex.ratelimit.wait",
            unit="s",
            description="Time each attempt waited for a client-side rate-limit slot.",
            explicit_bucket_boundaries_advisory=_WAIT_BUCKETS,
        )
        self._items = meter.create_counter(
            "billabex.bulk.items", unit="{item}", description="Bulk and sync writes, by outcome."
        )
        self._names: dict[tuple[str, str], str] = {}  # (method, path) -> operation
        self._session: object = None  # the session last checked for the aiohttp instrumentation
        self._instrumented = False

    def __repr__(self) -> str:
        return f"<Telemetry scope={SCOPE!r}>"

    def idle(self) -> bool:
        """True while no SDK is set: every span and measurement would be dropped.

        The transport asks first, so an idle telemetry costs no ``traced`` frame.
        """
        return self._unset is not None and self._unset()

    async def traced(
        self, run: Callable[[Call], Awaitable[Response]], call: Call, session: object
    ) -> Response:
        """``run(call)`` inside the call's span: current, so child spans nest under it.

        Only called when not ``idle()``: the transport runs an idle call bare.
        """
        instrumented = self._is_instrumented(session)
        name = self._operation(call.method, call.path)
        kind = SpanKind.INTERNAL if instrumented else SpanKind.CLIENT
        span = self._tracer.start_span(name, kind=kind)
        record = _Record(call, span, name, http_metrics=not instrumented)
        if record.recording:
            span.set_attributes(_request_attributes(call, name))
        current = _CURRENT.set(record)
        # Without an SDK the span is the invalid no-op one: nothing to nest under.
        attached = (
            context.attach(trace.set_span_in_context(span))
            if span.get_span_context().is_valid
            else None
        )
        try:
            response = await run(call)
        except BaseException as exc:
            if record.recording:
                error = n.error_type(exc)
                if isinstance(exc, APIStatusError):
                    span.set_attribute(n.STATUS, exc.status)
                span.set_attribute(n.ERROR_TYPE, error)
                # The type only: a server's message may quote the contact it refused.
                span.set_status(Status(StatusCode.ERROR, error))
            raise
        else:
            if record.recording:
                span.set_attribute(n.STATUS, response.status)
            return response
        finally:
            if attached is not None:
                context.detach(attached)
            _CURRENT.reset(current)
            if record.recording:
                if call.attempt > 1:
                    span.set_attribute(n.RESEND_COUNT, call.attempt - 1)
                span.set_attribute(n.RATELIMIT_WAIT, record.waited)
            span.end()

    def attempt(
        self,
        call: Call,
        status: int | None,
        error: BaseException | None,
        waited: float,
        sent_at: float,
    ) -> None:
        """One attempt ended with ``status`` (or ``error``, no answer); ``sent_at`` is monotonic."""
        record = _CURRENT.get()
        if record is None or record.call is not call:
            return
        elapsed = time.monotonic() - sent_at
        record.waited += waited
        attributes: dict[str, Any] = {n.METHOD: call.method}
        if status is not None:
            attributes[n.STATUS] = status
            if status >= 400:
                attributes[n.ERROR_TYPE] = str(status)
            record.last = str(status)
        else:
            record.last = attributes[n.ERROR_TYPE] = n.error_type(error or Exception())
        if record.http_metrics:
            url = call.url
            self._duration.record(
                elapsed,
                {
                    **attributes,
                    n.SERVER_ADDRESS: url.host or "",
                    n.SERVER_PORT: url.port or 0,
                    n.URL_SCHEME: url.scheme,
                },
            )
        by_operation = {n.OPERATION: record.operation}
        self._requests.add(1, {**attributes, **by_operation})
        self._wait.record(waited, by_operation)
        if status == 429:
            self._rate_limited.add(1, by_operation)
        if record.recording:
            event: dict[str, Any] = {
                **attributes,
                n.RESEND_COUNT: call.attempt - 1,
                n.RATELIMIT_WAIT: waited,
                n.ATTEMPT_DURATION: elapsed,
            }
            record.span.add_event("billabex.attempt", event)

    def retry(self, call: Call, delay: float) -> None:
        """The latest attempt is retried after ``delay`` seconds (0 when the limiter waits)."""
        record = _CURRENT.get()
        if record is None or record.call is not call:
            return
        self._retries.add(1, {n.OPERATION: record.operation, n.RETRY_REASON: record.last})
        if record.recording:
            event: dict[str, Any] = {n.RETRY_REASON: record.last, n.RETRY_DELAY: delay}
            record.span.add_event("billabex.retry", event)

    def counting_items(self, then: Callable[[Any], None] | None) -> Callable[[_Settled], None]:
        """An engine ``on_settled``: count each settled write by outcome, then call ``then``."""
        add = self._items.add
        by_outcome = {outcome: {n.BULK_OUTCOME: outcome} for outcome in _OUTCOMES}

        def on_settled(settled: _Settled) -> None:
            add(1, by_outcome.get(settled.status) or {n.BULK_OUTCOME: settled.status})
            if then is not None:
                then(settled)

        return on_settled

    def _operation(self, method: str, path: str) -> str:
        """``operation()``, remembered per path: paths repeat (one per account and verb)."""
        names = self._names
        name = names.get((method, path))
        if name is None:
            if len(names) >= _MAX_CACHED_NAMES:
                names.clear()
            name = names[method, path] = n.operation(method, path)
        return name

    def _is_instrumented(self, session: object) -> bool:
        """Whether ``session`` runs the aiohttp client instrumentation (asked once per session)."""
        if session is not self._session:
            self._session = session
            self._instrumented = aiohttp_instrumented(session)
        return self._instrumented


def _request_attributes(call: Call, operation: str) -> dict[str, Any]:
    """What the span knows before sending: the conventions' request attributes, no secret."""
    url = call.url
    return {
        n.METHOD: call.method,
        n.URL_FULL: n.url_full(url),
        n.SERVER_ADDRESS: url.host or "",
        n.SERVER_PORT: url.port or 0,
        n.OPERATION: operation,
    }
