"""bench/results.md, sections 3 to 5: what a re-sync, memory and the models cost."""

from __future__ import annotations

from _bench_markdown import duration, table
from _bench_results import REAL_LIMIT, Results

__all__ = ["memory_section", "model_section", "resync_section"]


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
    out += [
        f"A sync of up to {REAL_LIMIT.requests} requests also fits in one window's burst: on a "
        "token with nothing else in its window it finishes in seconds, not the projected time.",
        "",
    ]
    return out


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
        "Through `billabex_async._converter` (cattrs), one at a time.",
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
