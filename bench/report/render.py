"""Report: bench/results.md's header and sections 1 and 2 (rate-limited run, throughput)."""

from __future__ import annotations

import importlib.util

from bench.report.costs import memory_section, model_section, resync_section
from bench.report.markdown import duration, table
from bench.report.results import Results

__all__ = ["render"]


def _limited(r: Results) -> list[str]:
    s = r.settings
    limit = s.limit
    out = [
        "## 1. Under the rate limit",
        "",
        f"{s.limited_items} upserts of new contacts against the embedded simulator enforcing a "
        f"sliding window of **{limit.requests} requests per {limit.window:g} s** per token "
        f"(Billabex's 300 per 60 s, compressed 30×), {s.limited_latency * 1000:g} ms latency "
        f"± {s.limited_jitter * 1000:g} ms. A fresh simulator (fresh token, empty window) per "
        "contender; every count below is the server's, from its request log. "
        "Ours is configured with the server's limit.",
        "",
    ]
    rows = [
        [
            f"{x.key}. {x.label}",
            "—" if x.error else f"{x.wall:.2f}",
            x.requests,
            x.rejected,
            x.audit.lost,
            x.audit.duplicated,
            "n/a" if x.utilisation is None else f"{x.utilisation:.2f}",
            x.max_in_window,
            x.error or "",
        ]
        for x in r.limited
    ]
    header = ["contender", "wall time (s)", "requests sent", "429s", "lost", "duplicated"]
    out += table([*header, "utilisation", "max in one window", "error"], rows)
    out += [
        "![Requests per second over time per contender, 429s in red](ratelimited.png)",
        "",
        "- **lost**: items sent that no stored contact carries afterwards; **duplicated**: items "
        "held by two stored contacts.",
        f"- **utilisation**: a sliding window starts empty, so the first {limit.requests} requests "
        "are free at t=0; utilisation is the admitted requests *after* those, per second from "
        f"the first admitted arrival to the last, divided by {limit.requests}/{limit.window:g} s. "
        f"A perfect client scores 1.00 (it finishes at {limit.window:g} s × "
        f"(⌈{s.limited_items}/{limit.requests}⌉ − 1) plus latency); n/a when nothing past the "
        "first window got through.",
        "- The simulator counts rejected requests in the window too, as the API guide says "
        "Billabex does (a 429 burns budget); its Retry-After is whole seconds, at least 1.",
        "",
    ]
    ours = next((x for x in r.limited if x.key == "A"), None)
    if ours is not None and ours.error is None:
        met = (
            ours.utilisation is not None
            and ours.utilisation >= 0.95
            and ours.rejected == 0
            and ours.audit.lost == 0
        )
        util = "n/a" if ours.utilisation is None else f"{ours.utilisation:.2f}"
        out += [
            f"Targets for ours (utilisation ≥ 0.95, zero 429s, nothing lost): "
            f"utilisation {util}, {ours.rejected} 429s, {ours.audit.lost} lost: "
            f"**{'met' if met else 'NOT met'}**.",
            "",
        ]
    return out


def _throughput(r: Results) -> list[str]:
    s = r.settings
    out = [
        "## 2. Without a limit",
        "",
        f"{s.throughput_items} upserts of new contacts, no rate limit on the server or in ours, "
        f"{s.throughput_latency * 1000:g} ms simulated latency. The simulator runs in **its own "
        "process** (`python -m billabex_async.testing --rate-limit none`), a fresh one per run, "
        "so its CPU does not compete with the client's in one event loop (with two cores or more, "
        "each has one). Its fuzzy-name matching grows with the account, the same for every "
        f"contender. Best of {s.throughput_rounds} rounds, contenders interleaved round by round; "
        "requests counted by the server (minus the audit's own GETs). **Client CPU** is this "
        "process's CPU time per upsert (the server's is not in it), the median of the rounds: "
        "it varies far less than wall time when other work shares the machine.",
        "",
    ]
    base = next((x for x in r.throughput if x.key == "C" and x.error is None), None)
    rows = []
    for x in r.throughput:
        ratio = f"{x.per_second / base.per_second:.2f}×" if base and not x.error else "—"
        rows.append(
            [
                f"{x.key}. {x.label}",
                "—" if x.error else f"{x.per_second:,.0f}",
                ratio,
                " / ".join(f"{w:.2f}" for w in x.walls),
                f"{x.cpu_us:.0f}",
                f"{x.server_cpu_us:.0f}" if x.server_cpu_us else "?",
                x.requests,
                x.audit.lost,
                x.audit.duplicated,
                x.error or "",
            ]
        )
    header = ["contender", "upserts/s", "vs C", "wall time per round (s)", "client CPU (µs/upsert)"]
    header.append("server CPU (µs/upsert)")
    out += table([*header, "requests", "lost", "duplicated", "error"], rows)
    if base is not None and base.server_cpu_us:
        out += [
            f"The simulator itself spends about {base.server_cpu_us:.0f} µs of CPU per upsert "
            f"(at most ~{1e6 / base.server_cpu_us:,.0f}/s on its core), the same order as the "
            f"clients; {s.concurrency} requests in flight at {s.throughput_latency * 1000:g} ms "
            f"would allow {s.concurrency / s.throughput_latency:,.0f}/s. So the concurrent "
            "contenders A, C and D are bound by CPU on both sides, and their wall times move "
            "between rounds by more than they differ whenever anything else runs on the "
            "machine; the client CPU column is the steadier comparison. D has no limiter here, "
            "so it runs every item at once (up to aiohttp's 100 connections), not 16.",
            "",
        ]
    if any(x.key == "E" for x in r.throughput):
        out += [
            "E's client CPU is httpx's (httpcore's connection pool and anyio locks)."
            + (
                " Here `sniffio` is not installed, so httpcore also retries `import sniffio` "
                "on every lock it creates, a few hundred µs per request more."
                if importlib.util.find_spec("sniffio") is None
                else ""
            ),
            "",
        ]
    ours = next((x for x in r.throughput if x.key == "A" and x.error is None), None)
    if ours is not None and base is not None:
        share = ours.per_second / base.per_second
        out += [
            f"Target for ours (≥ 0.8× the raw aiohttp gather, C): **{share:.2f}×**, "
            f"{'met' if share >= 0.8 else 'NOT met'}.",
            "",
        ]
    return out


def render(r: Results) -> str:
    s = r.settings
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m bench` (`make bench`); every figure below comes from "
        f"one run, all contenders on the same machine, in {duration(r.seconds)}.",
        "",
    ]
    lines += table(["", ""], list(r.environment.items()))
    lines += ["Contenders (the same upserts: random 12-letter names, unique emails):", ""]
    lines += [f"- **{key}.** {label}" for key, label in r.contenders]
    lines += [
        "",
        f"Every concurrent contender, ours included, runs {s.concurrency} requests at a time "
        "(D: as many as its limiter lets through). E's client is generated at bench time by "
        "openapi-python-client from `openapi/contacts.yaml` into a temporary directory.",
        "",
    ]
    lines += [f"> {note}" for note in r.notes] + ([""] if r.notes else [])
    for part in (_limited, _throughput, resync_section, memory_section, model_section):
        lines += part(r)
    return "\n".join(lines).rstrip() + "\n"
