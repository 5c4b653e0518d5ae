"""Report: what one benchmark run measured, and with which settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.sections.limited import LimitedRun
from bench.sections.memory import MemoryRun
from bench.sections.models import ModelCost
from bench.sections.resync import ResyncRun
from bench.sections.throughput import ThroughputRun
from billabex_async import RateLimit

__all__ = ["REAL_LIMIT", "Results", "Settings"]

REAL_LIMIT = RateLimit(300, 60.0)
"""Billabex's documented limit, per access token."""


@dataclass(frozen=True, slots=True)
class Settings:
    limit: RateLimit
    limited_items: int
    limited_latency: float
    limited_jitter: float
    throughput_items: int
    throughput_latency: float
    throughput_rounds: int
    resync_contacts: int
    resync_share: float
    memory_stop_after: int
    memory_iterate: int
    model_items: int
    concurrency: int


@dataclass(slots=True)
class Results:
    settings: Settings
    environment: dict[str, str]
    contenders: list[tuple[str, str]] = field(default_factory=list)
    limited: list[LimitedRun] = field(default_factory=list)
    throughput: list[ThroughputRun] = field(default_factory=list)
    resync: ResyncRun | None = None
    memory: list[MemoryRun] = field(default_factory=list)
    model: ModelCost | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
