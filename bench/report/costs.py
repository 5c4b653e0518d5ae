"""Report: bench/results.md's sections 3 to 5, what a re-sync, memory and the models cost."""

from __future__ import annotations

from bench import _private
from bench.report.markdown import duration, table
from bench.report.results import REAL_LIMIT, Results
from bench.sections.resync import ResyncRun

__all__ = ["MEMORY_TARGET_MB", "memory_section", "model_section", "resync_section"]

MEMORY_TARGET_MB = 100.0
"""The most peak RSS a cancelled million-item bulk_upsert may add: streaming holds nothing."""
PAGE = 100
"""Contacts per listed page, as sync lists them."""


def resync_section(r: Results) -> list[str]:
    x = r.resync
    if x is None:
        return []
    per_second = REAL_LIMIT.requests / REAL_LIMIT.window

    def projected(requests: int) -> str:
        return duration(requests / per_second)

    rows = [
        [
            "`client.contacts.sync` (lists, then writes what changed)",
            f"{x.sync.requests:,}",
            f"{x.sync.reads:,} GET + {x.sync.writes:,} PUT",
            projected(x.sync.requests),
            f"{x.sync.seconds:.1f}",
            "yes" if x.sync.converged else "**no**",
        ],
        [
            "`client.contacts.bulk_upsert` of all",
            f"{x.bulk.requests:,}",
            f"{x.bulk.writes:,} PUT",
            projected(x.bulk.requests),
            f"{x.bulk.seconds:.1f}",
            "yes" if x.bulk.converged else "**no**",
        ],
        [
            "sequential loop (B), by definition",
            f"{x.contacts:,}",
            f"{x.contacts:,} PUT",
            projected(x.contacts),
            "not run",
            "only without 429s",
        ],
    ]
    out = [
        "## 3. Re-sync of 10,000 contacts, 1 % changed",
        "",
        f"The simulator is seeded with {x.contacts:,} contacts; the desired list is the same "
        f"contacts with {x.changed} changed (a third each: new name, new language, new email). "
        "sync and bulk_upsert each run for real against a freshly seeded simulator with no rate "
        "limit on either side, to count requests quickly; the time at the real limit is "
        f"projected as requests ÷ {per_second:g} per second ({REAL_LIMIT.requests} per "
        f"{REAL_LIMIT.window:g} s). The sequential loop is not run: it sends one PUT per "
        f"contact, {x.contacts:,} requests by definition.",
        "",
    ]
    header = ["approach", "requests sent", "of which", "projected at 300/60 s"]
    out += table([*header, "measured locally, unlimited (s)", "account matches desired"], rows)
    errors = [e for e in (x.sync.error, x.bulk.error) if e]
    if errors:
        out += [f"Errors: {'; '.join(errors)}", ""]
    out += _unchanged(x)
    out += [
        f"A sync of up to {REAL_LIMIT.requests} requests also fits in one window's burst: on a "
        "token with nothing else in its window it finishes in seconds, not the projected time.",
        "",
    ]
    return out


def _unchanged(x: ResyncRun) -> list[str]:
    """The same account re-synced with nothing changed: one listing, no write."""
    u = x.unchanged
    if u is None:
        return []
    most = -(-x.contacts // PAGE) + 1  # every page, then the empty one that ends the listing
    met = u.error is None and u.requests <= most and u.writes == 0
    return [
        f"Re-sync of the {x.contacts:,} contacts with nothing changed (`delete_missing=True`): "
        f"{u.requests:,} requests ({u.reads:,} GET, {u.writes:,} writes) in {u.seconds:.1f} s"
        + (f", error: {u.error}" if u.error else "")
        + f". Target (at most {most} requests, no writes): **{'met' if met else 'NOT met'}**.",
        "",
    ]


def memory_section(r: Results) -> list[str]:
    if not r.memory:
        return []
    rows = [
        [m.what, f"{m.items:,}", f"{m.added_mb:.1f}", f"{m.baseline_mb:.1f}", f"{m.seconds:.1f}"]
        for m in r.memory
    ]
    out = [
        "## 4. Memory",
        "",
        "Each job runs in a fresh process (the simulator in another one, so its store does not "
        "count): peak RSS (`VmHWM`) minus the RSS just before the work, both from "
        "`/proc/self/status`, the peak reset to the current RSS first (`/proc/self/clear_refs`). "
        "The bulk stream repeats every 2,000 people so the simulator matches them by email "
        "instead of fuzzy-matching a growing account; the client's work per item is the same.",
        "",
    ]
    out += table(["work", "items", "peak RSS added (MB)", "RSS before (MB)", "seconds"], rows)
    if not all(m.peak_reset for m in r.memory):
        out += ["(The peak could not be reset here: figures may include import-time peaks.)", ""]
    bulk = next((m for m in r.memory if m.what.startswith("bulk_upsert")), None)
    if bulk is not None:
        met = bulk.added_mb < MEMORY_TARGET_MB
        out += [
            f"Target for the cancelled bulk_upsert (peak RSS added < {MEMORY_TARGET_MB:g} MB): "
            f"{bulk.added_mb:.1f} MB, **{'met' if met else 'NOT met'}**.",
            "",
        ]
    return out


def model_section(r: Results) -> list[str]:
    m = r.model
    if m is None:
        return []
    rows = [
        [
            "structure `Contact` from a response dict",
            f"{m.items:,}",
            f"{m.structure_seconds:.2f}",
            f"{m.structure_us:.1f}",
        ],
        [
            "unstructure `ContactUpsert` to a request dict",
            f"{m.items:,}",
            f"{m.unstructure_seconds:.2f}",
            f"{m.unstructure_us:.1f}",
        ],
    ]
    out = [
        "## 5. Model cost",
        "",
        f"Through `{_private.STRUCTURE[1][0]}` (cattrs), one at a time.",
        "",
    ]
    out += table(["operation", "items", "seconds", "µs per item"], rows)
    per_request = 1e6 / (REAL_LIMIT.requests / REAL_LIMIT.window)
    out.append(
        f"Per upsert (one of each): {m.per_upsert_us:.1f} µs. At the real limit a request "
        f"slot lasts {per_request / 1000:,.0f} ms, so the models take "
        f"{m.per_upsert_us / per_request:.4%} of it: not a bottleneck."
    )
    ours = next((x for x in r.throughput if x.key == "A" and x.error is None), None)
    if ours is not None:
        out.append(
            f"At unlimited local speed (section 2: {ours.per_second:,.0f} upserts/s, "
            f"{ours.cpu_us:.0f} µs of client CPU per upsert) they are "
            f"{m.per_upsert_us / ours.cpu_us:.1%} of the client's CPU: not the bottleneck there "
            "either."
        )
    return [*out, ""]
