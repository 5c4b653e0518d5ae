"""OpenTelemetry beside the aiohttp client instrumentation, and without OpenTelemetry at all.

With ``opentelemetry-instrumentation-aiohttp-client`` on the session, each
attempt is its CLIENT span and ours becomes their INTERNAL parent: one CLIENT
span per request sent, never two. Without the API installed (or with
telemetry off), nothing from ``opentelemetry`` is imported: checked in a
fresh interpreter, since this one has long imported it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import aiohttp
import pytest
from opentelemetry.instrumentation.aiohttp_client import (
    AioHttpClientInstrumentor,
    create_trace_config,
)
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind
from yarl import URL

from billabex_async import BillabexClient, ContactUpsert, errors
from billabex_async._otel import _names
from billabex_async.testing import FakeBillabex, VirtualClock
from tests._otel import Otel, otel_sdk  # noqa: F401 - the `otel` fixture

ADA = ContactUpsert(full_name="Ada Lovelace", language="en")


def _duration_scopes(reader: InMemoryMetricReader) -> list[str]:
    """The scopes that recorded an HTTP client duration (either name the conventions gave it)."""
    data = reader.get_metrics_data()
    return [
        scope.scope.name
        for resource in (data.resource_metrics if data else ())
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name in ("http.client.request.duration", "http.client.duration")
    ]


def _assert_nested(spans: list[ReadableSpan], attempts: int) -> None:
    ours = [s for s in spans if s.name == "contacts.upsert"]
    clients = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert len(ours) == 1
    assert ours[0].kind is SpanKind.INTERNAL  # not a second CLIENT span for the same request
    assert len(clients) == attempts  # theirs: one per attempt
    for child in clients:
        assert child.parent is not None
        assert child.parent.span_id == ours[0].context.span_id


async def test_a_callers_instrumented_session_nests_its_client_spans_under_ours(
    otel: Otel,
) -> None:
    tracer_provider, meter_provider = otel.tracer_provider, otel.meter_provider
    clock = VirtualClock()
    config = create_trace_config(tracer_provider=tracer_provider, meter_provider=meter_provider)
    async with (
        FakeBillabex(rate_limit=None, clock=clock) as fake,
        aiohttp.ClientSession(trace_configs=[config]) as session,
    ):
        fake.script(method="PUT", status=503, times=1)
        async with BillabexClient(
            fake.token,
            base_url=fake.url,
            rate_limit=None,
            session=session,
            clock=clock,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        ) as client:
            await client.contacts.upsert(fake.account_id, ADA)
    _assert_nested(otel.spans(), attempts=2)
    # The duration of each attempt is theirs to record: not counted twice.
    assert _duration_scopes(otel.reader) == ["opentelemetry.instrumentation.aiohttp_client"]


async def test_the_global_instrumentor_is_detected_on_the_clients_own_session(
    otel: Otel,
) -> None:
    tracer_provider, meter_provider = otel.tracer_provider, otel.meter_provider
    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        async with (
            FakeBillabex(rate_limit=None) as fake,
            BillabexClient(
                fake.token,
                base_url=fake.url,
                rate_limit=None,
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
            ) as client,
        ):
            await client.contacts.upsert(fake.account_id, ADA)
    finally:
        instrumentor.uninstrument()
    _assert_nested(otel.spans(), attempts=1)


async def test_an_uninstrumented_session_gets_our_client_span_alone(
    otel: Otel,
) -> None:
    tracer_provider = otel.tracer_provider
    async with (
        FakeBillabex(rate_limit=None) as fake,
        BillabexClient(
            fake.token, base_url=fake.url, rate_limit=None, tracer_provider=tracer_provider
        ) as client,
    ):
        await client.contacts.upsert(fake.account_id, ADA)
    [span] = otel.spans()
    assert span.kind is SpanKind.CLIENT


# A fresh interpreter: a request against the simulator, then the opentelemetry
# modules it loaded. BLOCK makes the API unimportable, as when it is not installed.
_REQUEST = """
import asyncio, json, sys
{block}
from billabex_async import BillabexClient
from billabex_async.testing import FakeBillabex

async def main():
    async with FakeBillabex(rate_limit=None) as fake:
        async with BillabexClient(fake.token, base_url=fake.url, rate_limit=None{extra}) as c:
            await c.contacts.list(fake.account_id)
            return c._transport.telemetry is not None

on = asyncio.run(main())
print(json.dumps([on, sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")]))
"""
_BLOCK = """
import importlib.abc
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "opentelemetry":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Absent())
"""


def _fresh(block: str = "", extra: str = "", env: dict[str, str] | None = None) -> Any:
    code = _REQUEST.format(block=block, extra=extra)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_without_opentelemetry_a_request_imports_nothing_of_it() -> None:
    assert _fresh(block=_BLOCK) == [False, []]


def test_telemetry_false_imports_nothing_of_it_even_when_installed() -> None:
    assert _fresh(extra=", telemetry=False") == [False, []]


def test_without_an_sdk_only_the_api_is_loaded() -> None:
    on, modules = _fresh()
    assert on
    assert "opentelemetry.trace" in modules
    # No SDK is ever configured by the client: nothing can be exported.
    assert not [m for m in modules if m.startswith("opentelemetry.sdk")]


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("GET", "/accounts/a/contacts", "contacts.list"),
        ("POST", "/accounts/a/contacts", "contacts.create"),
        ("GET", "/accounts/a/contacts/c", "contacts.get"),
        ("PATCH", "/accounts/a/contacts/c", "contacts.update"),
        ("DELETE", "/accounts/a/contacts/c", "contacts.delete"),
        ("PUT", "/accounts/a/contacts/upsert", "contacts.upsert"),
        ("PUT", "/accounts/a/contacts/c", "PUT"),  # no such call: the method alone
        ("GET", "/status", "GET"),
        ("GET", "/accounts/a/contacts/c/notes", "GET"),
    ],
)
def test_operation_names_come_from_the_path_shape(method: str, path: str, name: str) -> None:
    assert _names.operation(method, path) == name


def test_url_full_keeps_no_credentials_and_only_safe_query_values() -> None:
    url = URL("https://user:pw@api.example/v1/contacts?first=10&after=c3VyZQ&q=ada@x.example#f")
    assert (
        _names.url_full(url) == "https://api.example/v1/contacts?first=10&after=REDACTED&q=REDACTED"
    )


def test_error_type_is_the_status_of_an_http_error_else_the_class() -> None:
    status_error = errors.make_status_error(503, b"{}", headers={}, method="GET", path="/x")
    assert _names.error_type(status_error) == "503"
    assert _names.error_type(errors.APITimeoutError("slow", method="GET", path="/x")) == (
        "APITimeoutError"
    )


_LATE_SDK = """
import asyncio, json
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from billabex_async import BillabexClient
from billabex_async.testing import FakeBillabex

async def main():
    exporter = InMemorySpanExporter()
    async with FakeBillabex(rate_limit=None) as fake:
        async with BillabexClient(fake.token, base_url=fake.url, rate_limit=None) as client:
            await client.contacts.list(fake.account_id)  # no SDK yet: dropped
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            trace.set_tracer_provider(provider)
            metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
            await client.contacts.list(fake.account_id)
    return [span.name for span in exporter.get_finished_spans()]

print(json.dumps(asyncio.run(main())))
"""


def test_an_sdk_set_globally_after_the_client_is_built_gets_the_next_calls() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LATE_SDK], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout.splitlines()[-1]) == ["contacts.list"]
