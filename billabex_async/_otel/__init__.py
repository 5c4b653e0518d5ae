"""Transport layer: OpenTelemetry spans and metrics, loaded only when opentelemetry-api is there.

On by default wherever the API is importable, as OpenTelemetry asks of natively
instrumented libraries: the API alone is a no-op, and an application that
configures an SDK (or runs an auto-instrumentation agent) gets the spans with
no code. ``BillabexClient(telemetry=False)``, or
``OTEL_PYTHON_INSTRUMENTATION_BILLABEX_ENABLED=false`` in the environment,
turns it off: then nothing from ``opentelemetry`` is imported, and the
transport's hooks are a single ``is None`` test each.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from billabex_async._otel._telemetry import Telemetry

__all__ = ["ENABLED_ENV", "count_items", "load"]

logger = logging.getLogger("billabex_async")

ENABLED_ENV = "OTEL_PYTHON_INSTRUMENTATION_BILLABEX_ENABLED"
_OFF = frozenset({"false", "0", "no", "off"})


def load(
    enabled: bool = True,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> Telemetry | None:
    """The client's telemetry, or None when it is off or opentelemetry-api is not installed."""
    if not enabled or os.environ.get(ENABLED_ENV, "").strip().lower() in _OFF:
        return None
    try:
        from billabex_async._otel._telemetry import Telemetry
    except ImportError as exc:  # the [otel] extra is not installed: telemetry stays off
        logger.debug("OpenTelemetry off: %s", exc)
        return None
    return Telemetry(tracer_provider, meter_provider)


def count_items(
    contacts: object, on_settled: Callable[[Any], None] | None
) -> Callable[[Any], None] | None:
    """``on_settled`` for an engine writing through ``contacts``, counting outcomes when on.

    Unchanged (None stays None) when the client has no telemetry, or
    ``contacts`` is a double without a transport.
    """
    transport = getattr(contacts, "_transport", None)
    telemetry: Telemetry | None = getattr(transport, "telemetry", None)
    if telemetry is None:
        return on_settled
    return telemetry.counting_items(on_settled)
