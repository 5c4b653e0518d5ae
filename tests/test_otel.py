"""OpenTelemetry: one span per logical call, its attempts and retries as events, and the metrics.

Spans and metrics go to an SDK of the test's own (``tests/_otel.py``). The
server is the simulator, with scripted faults and a virtual clock shared
with the client (backoff in no wall time).
"""

from __future__ import annotations

import functools
import io
import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, export
from opentelemetry.trace import SpanKind, StatusCode

from billabex_async import BillabexClient, ContactUpsert, RateLimit, RequestEvent, errors
from billabex_async._otel import ENABLED_ENV
from billabex_async.testing import FakeBillabex, VirtualClock
from tests._otel import Otel, otel_sdk  # noqa: F401 - the `otel` fixture

_CLOCKS: dict[int, VirtualClock] = {}  # each simulator's clock, shared with its clients


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    clock = VirtualClock()
    async with FakeBillabex(rate_limit=None, clock=clock) as fake:
        _CLOCKS[id(fake)] = clock
        yield fake
    del _CLOCKS[id(fake)]


def client_for(fake: FakeBillabex, otel: Otel, **kwargs: Any) -> BillabexClient:
    kwargs.setdefault("rate_limit", None)
    return BillabexClient(
        fake.token,
        base_url=fake.url,
        clock=_CLOCKS[id(fake)],
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        **kwargs,
    )


def attributes_of(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def events(span: ReadableSpan, name: str) -> list[dict[str, Any]]:
    return [dict(e.attributes or {}) for e in span.events if e.name == name]


README = Path(__file__).resolve().parent.parent / "README.md"
ADA = ContactUpsert(full_name="Ada Lovelace", language="en", email="ada@analytical.example")


async def test_a_call_is_one_client_span_with_the_http_conventions(
    fake: FakeBillabex, otel: Otel
) -> None:
    async with client_for(fake, otel) as client:
        await client.contacts.upsert(fake.account_id, ADA)
    [span] = otel.spans()
    assert span.name == "contacts.upsert"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    port = int(fake.url.rsplit(":", 1)[1])
    assert attributes_of(span) == {
        "http.request.method": "PUT",
        "url.full": f"{fake.url}/api/public/v1/accounts/{fake.account_id}/contacts/upsert",
        "server.address": "127.0.0.1",
        "server.port": port,
        "billabex.operation": "contacts.upsert",
        "http.response.status_code": 201,  # created
        "billabex.ratelimit.wait": 0.0,
    }
    [attempt] = events(span, "billabex.attempt")
    assert attempt["http.request.resend_count"] == 0
    assert attempt["http.response.status_code"] == 201
    assert "error.type" not in attempt
    assert events(span, "billabex.retry") == []


async def test_each_verb_is_named_by_its_operation(fake: FakeBillabex, otel: Otel) -> None:
    async with client_for(fake, otel) as client:
        created = await client.contacts.create(fake.account_id, full_name="Bo", language="en")
        await client.contacts.get(fake.account_id, created.id)
        await client.contacts.update(fake.account_id, created.id, full_name="Bob")
        page = await client.contacts.list(fake.account_id, first=1)
        await client.contacts.delete(fake.account_id, created.id)
    names = [s.name for s in otel.spans()]
    assert names == [
        "contacts.create",
        "contacts.get",
        "contacts.update",
        "contacts.list",
        "contacts.delete",
    ]
    assert page.nodes


async def test_a_page_s_cursor_is_redacted_from_url_full(fake: FakeBillabex, otel: Otel) -> None:
    for i in range(3):
        fake.add_contact(fake.account_id, full_name=f"P{i}")
    async with client_for(fake, otel) as client:
        first = await client.contacts.list(fake.account_id, first=2)
        cursor = first.page_info.end_cursor if first.page_info else None
        assert cursor
        await client.contacts.list(fake.account_id, first=2, after=cursor)
    url = attributes_of(otel.spans()[1])["url.full"]
    assert url.endswith("/contacts?first=2&after=REDACTED")
    assert cursor not in url


async def test_a_retried_503_shows_both_attempts_and_the_retry(
    fake: FakeBillabex, otel: Otel
) -> None:
    fake.script(method="PUT", path_contains="/upsert", status=503, times=1)
    async with client_for(fake, otel) as client:
        await client.contacts.upsert(fake.account_id, ADA)
    [span] = otel.spans()
    first, second = events(span, "billabex.attempt")
    assert (first["http.response.status_code"], first["error.type"]) == (503, "503")
    assert (first["http.request.resend_count"], second["http.request.resend_count"]) == (0, 1)
    assert second["http.response.status_code"] == 201
    [retry] = events(span, "billabex.retry")
    assert retry["billabex.retry.reason"] == "503"
    assert retry["billabex.retry.delay"] >= 0.0
    attributes = attributes_of(span)
    assert attributes["http.request.resend_count"] == 1
    assert attributes["http.response.status_code"] == 201
    assert "error.type" not in attributes
    assert span.status.status_code is StatusCode.UNSET  # it succeeded in the end
    assert otel.count("billabex.client.retries", {"billabex.retry.reason": "503"}) == 1
    assert otel.count("billabex.client.requests", {"http.response.status_code": 503}) == 1
    assert otel.count("billabex.client.requests", {"http.response.status_code": 201}) == 1
    assert otel.count("billabex.client.rate_limited") == 0


async def test_a_429_is_counted_and_retried_with_its_reason(fake: FakeBillabex, otel: Otel) -> None:
    fake.script(method="GET", status=429, times=1)
    async with client_for(fake, otel, rate_limit=RateLimit(300, 60.0)) as client:
        await client.contacts.list(fake.account_id)
    [span] = otel.spans()
    [retry] = events(span, "billabex.retry")
    assert retry["billabex.retry.reason"] == "429"
    # The limiter holds the next attempt for the Retry-After: no sleep of its own.
    assert retry["billabex.retry.delay"] == 0.0
    assert [e["http.response.status_code"] for e in events(span, "billabex.attempt")] == [429, 200]
    assert otel.count("billabex.client.rate_limited", {"billabex.operation": "contacts.list"}) == 1
    assert otel.count("billabex.client.retries", {"billabex.retry.reason": "429"}) == 1


async def test_the_limiter_wait_is_what_the_attempts_waited(fake: FakeBillabex, otel: Otel) -> None:
    seen: list[RequestEvent] = []
    async with client_for(fake, otel, rate_limit=RateLimit(2, 60.0), on_request=seen.append) as c:
        for _ in range(3):  # the third waits a whole (virtual) window for a slot
            await c.contacts.list(fake.account_id)
    spans = otel.spans()
    waits = [attributes_of(s)["billabex.ratelimit.wait"] for s in spans]
    assert waits == [event.waited for event in seen]
    assert [events(s, "billabex.attempt")[0]["billabex.ratelimit.wait"] for s in spans] == waits
    [(_, histogram)] = otel.points("billabex.ratelimit.wait")
    assert histogram.count == 3
    assert histogram.sum == pytest.approx(sum(waits))


async def test_a_typed_error_ends_the_span_in_error(fake: FakeBillabex, otel: Otel) -> None:
    async with client_for(fake, otel) as client:
        with pytest.raises(errors.NotFoundError):
            await client.contacts.get(fake.account_id, "00000000-0000-4000-8000-000000000000")
    [span] = otel.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "404"
    attributes = attributes_of(span)
    assert (attributes["error.type"], attributes["http.response.status_code"]) == ("404", 404)
    assert otel.count("billabex.client.requests", {"error.type": "404"}) == 1


async def test_no_answer_is_an_error_type_named_by_its_class(otel: Otel) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        url, token = fake.url, fake.token
    # The simulator is gone: its port refuses connections.
    async with BillabexClient(
        token,
        base_url=url,
        rate_limit=None,
        max_retries=1,
        clock=VirtualClock(),
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
    ) as client:
        with pytest.raises(errors.APIConnectionError):
            await client.contacts.list("00000000-0000-4000-8000-000000000000")
    [span] = otel.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert attributes_of(span)["error.type"] == "APIConnectionError"
    attempts = events(span, "billabex.attempt")
    assert [a["error.type"] for a in attempts] == ["APIConnectionError"] * 2
    assert all("http.response.status_code" not in a for a in attempts)
    [retry] = events(span, "billabex.retry")
    assert retry["billabex.retry.reason"] == "APIConnectionError"
    [(point_attributes, duration)] = otel.points("http.client.request.duration")
    assert point_attributes["error.type"] == "APIConnectionError"
    assert duration.count == 2


async def test_http_client_request_duration_follows_the_conventions(
    fake: FakeBillabex, otel: Otel
) -> None:
    async with client_for(fake, otel) as client:
        await client.contacts.list(fake.account_id)
        await client.contacts.list(fake.account_id)
    [(attributes, point)] = otel.points("http.client.request.duration")
    port = int(fake.url.rsplit(":", 1)[1])
    assert attributes == {
        "http.request.method": "GET",
        "http.response.status_code": 200,
        "server.address": "127.0.0.1",
        "server.port": port,
        "url.scheme": "http",
    }
    assert point.count == 2


async def test_bulk_items_are_counted_by_outcome(fake: FakeBillabex, otel: Otel) -> None:
    items = [ContactUpsert(full_name=f"Person {i}", language="en") for i in range(5)]
    fake.script(method="PUT", path_contains="/upsert", status=422, times=1)
    async with client_for(fake, otel) as client:
        report = await client.contacts.bulk_upsert(fake.account_id, items, concurrency=1)
    assert (report.succeeded, len(report.failed)) == (4, 1)
    assert otel.count("billabex.bulk.items", {"billabex.bulk.outcome": "succeeded"}) == 4
    assert otel.count("billabex.bulk.items", {"billabex.bulk.outcome": "failed"}) == 1
    assert len([s for s in otel.spans() if s.name == "contacts.upsert"]) == 5


async def test_a_span_nests_under_the_caller_s_span(fake: FakeBillabex, otel: Otel) -> None:
    tracer = otel.tracer_provider.get_tracer("app")
    async with client_for(fake, otel) as client:
        with tracer.start_as_current_span("import job") as parent:
            await client.contacts.list(fake.account_id)
    ours = next(s for s in otel.spans() if s.name == "contacts.list")
    assert ours.parent is not None
    assert ours.parent.span_id == parent.get_span_context().span_id


async def test_no_attribute_ever_holds_the_token_or_contact_data(
    fake: FakeBillabex, otel: Otel
) -> None:
    fake.script(method="POST", status=503, times=1)
    async with client_for(fake, otel) as client:
        created = await client.contacts.create(
            fake.account_id, full_name="Grace Hopper", language="en", email="grace@navy.example"
        )
        await client.contacts.upsert(fake.account_id, ADA)
        fake.script(method="PATCH", status=503, times=1)
        await client.contacts.update(fake.account_id, created.id, email="grace@army.example")
        await client.contacts.bulk_upsert(fake.account_id, [ADA], concurrency=1)
    values: list[str] = []
    for span in otel.spans():
        values += [str(v) for v in (span.attributes or {}).values()]
        values += [str(span.status.description), span.name]
        for event in span.events:
            values += [event.name, *(str(v) for v in (event.attributes or {}).values())]
    data = otel.reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    values += [str(v) for v in (point.attributes or {}).values()]
    text = "\n".join(values)
    assert len(otel.spans()) == 4
    for secret in (fake.token, "Grace", "Hopper", "grace@navy", "Ada", "Lovelace", "analytical"):
        assert secret not in text
    assert "army" not in text


async def test_telemetry_false_records_nothing(fake: FakeBillabex, otel: Otel) -> None:
    async with client_for(fake, otel, telemetry=False) as client:
        await client.contacts.upsert(fake.account_id, ADA)
        await client.contacts.bulk_upsert(fake.account_id, [ADA], concurrency=1)
    assert otel.spans() == []
    assert otel.points("billabex.client.requests") == []
    assert otel.points("billabex.bulk.items") == []


async def test_the_environment_turns_it_off(
    fake: FakeBillabex, otel: Otel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENABLED_ENV, "false")
    async with client_for(fake, otel) as client:
        await client.contacts.upsert(fake.account_id, ADA)
    assert otel.spans() == []


async def test_the_readme_example_exports_the_span(
    fake: FakeBillabex, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    [block] = [b for b in blocks if "ConsoleSpanExporter" in b]
    out = io.StringIO()

    class Console(export.ConsoleSpanExporter):  # the example's exporter, writing to `out`
        def __init__(self) -> None:
            super().__init__(out=out)

    monkeypatch.setattr(export, "ConsoleSpanExporter", Console)
    namespace: dict[str, Any] = {
        "BillabexClient": functools.partial(BillabexClient, fake.token, base_url=fake.url),
        "account_id": fake.account_id,
    }
    body = textwrap.indent(block, "    ")
    exec(f"async def example():\n{body}\n    return provider", namespace)  # noqa: S102
    provider = await namespace["example"]()
    provider.shutdown()  # flushes the batch
    assert '"name": "contacts.upsert"' in out.getvalue()
