"""Transport layer: what the telemetry asks of its surroundings: an SDK set, a traced session.

Both are asked of other packages' internals, cheaply and defensively: when
an answer cannot be had, the telemetry takes its plain (slower, correct) path.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from opentelemetry import trace

__all__ = ["aiohttp_instrumented", "sdk_probe"]

_AIOHTTP_INSTRUMENTATION = "opentelemetry.instrumentation.aiohttp_client"


def aiohttp_instrumented(session: object) -> bool:
    """Whether ``session`` runs the trace config of the aiohttp client instrumentation.

    Found by its handlers' module: ``AioHttpClientInstrumentor().instrument()``
    and a session built with ``create_trace_config()`` alike.
    """
    return any(
        getattr(handler, "__module__", "").startswith(_AIOHTTP_INSTRUMENTATION)
        for config in getattr(session, "trace_configs", ())
        for handler in config.on_request_start
    )


def sdk_probe() -> Callable[[], bool] | None:
    """A check that no global provider is set yet (every span and measurement then dropped).

    ``get_tracer_provider()`` reads the environment on every call (microseconds:
    more than the rest of a no-op call), so the probe reads the API's own
    module globals instead. They are private: on an API without them, or
    when the environment names a provider to load, there is no probe and
    every call takes the full (no-op) path.
    """
    from opentelemetry.environment_variables import (
        OTEL_PYTHON_METER_PROVIDER,
        OTEL_PYTHON_TRACER_PROVIDER,
    )
    from opentelemetry.metrics import _internal as metrics_internal

    if OTEL_PYTHON_TRACER_PROVIDER in os.environ or OTEL_PYTHON_METER_PROVIDER in os.environ:
        return None
    if not hasattr(trace, "_TRACER_PROVIDER") or not hasattr(metrics_internal, "_METER_PROVIDER"):
        return None

    def unset() -> bool:
        return trace._TRACER_PROVIDER is None and metrics_internal._METER_PROVIDER is None

    return unset
