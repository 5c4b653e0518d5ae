"""Simulator layer: FakeBillabex's observation and control — stats, the request log, faults."""

from __future__ import annotations

from billabex_async.testing._core import Core, RequestRecord
from billabex_async.testing._faults import FaultKind, Faults, ScriptedFault
from billabex_async.testing._ratelimit import Stats
from billabex_async.testing._rules import Matching

__all__ = ["SimulatorControl"]


class SimulatorControl:
    """What a test reads and steers on a running simulator, besides its contacts."""

    _core: Core

    @property
    def stats(self) -> Stats:
        """Live counters (requests, 429s, max arrivals in a window, arrival times)."""
        return self._core.stats

    def reset_stats(self) -> None:
        """Zero the counters and arrival lists; rate-limit windows are kept."""
        stats = self._core.stats
        stats.requests = stats.rate_limited = stats.max_in_window = stats.foreign = 0
        stats.arrivals.clear()
        stats.rejected.clear()

    @property
    def matching(self) -> Matching:
        """The upsert matching rules in force (assign to change them; contacts are re-indexed)."""
        return self._core.store.matching

    @matching.setter
    def matching(self, matching: Matching) -> None:
        self._core.store.matching = matching

    @property
    def requests(self) -> list[RequestRecord]:
        """The request log, oldest first (bounded by ``log_limit``); no tokens."""
        return list(self._core.log)

    @property
    def faults(self) -> Faults:
        """The random faults in force; assign a new Faults to change them."""
        return self._core.injector.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._core.injector.faults = faults

    def script(
        self,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        kind: FaultKind = "status",
        status: int = 503,
        times: int = 1,
        delay: float = 0.0,
    ) -> ScriptedFault:
        """Arm a fault for the next ``times`` API requests matching method and path.

        Scripted faults win over random ones, never touch /status, and come
        after auth and the rate limit. Kinds are described at FaultKind.

        Args:
            method: Only requests with this HTTP method (None: any).
            path_contains: Only requests whose path contains this (None: any).
            kind: What happens: ``status``, ``status_after``, ``reset_before``,
                ``reset_after`` or ``delay``.
            status: The status the ``status`` kinds answer.
            times: How many matching requests it applies to.
            delay: Seconds a ``delay`` fault waits (on the simulator's clock).

        Returns:
            The armed fault (``.remaining`` counts down).
        """
        method = None if method is None else method.upper()
        fault = ScriptedFault(
            kind=kind,
            status=status,
            method=method,
            path_contains=path_contains,
            remaining=times,
            delay=delay,
        )
        return self._core.injector.script(fault)

    def settle_reads(self) -> None:
        """Make every write so far visible in list pages (ends the ``read_lag`` wait)."""
        self._core.reads.settle()

    def clear_script(self) -> None:
        """Disarm every scripted fault."""
        self._core.injector.scripted.clear()
