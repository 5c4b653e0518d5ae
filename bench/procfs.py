"""Bench support: what Linux's /proc says about a process (memory, CPU time) and the machine.

One reader for every measurement, in this process or in a child (``pid``).
Peak memory is the process's own ``VmHWM``: ``ru_maxrss`` survives exec, so
a child of a large bench process would report its parent's size.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path

__all__ = ["cpu_model", "cpu_seconds", "peak_bytes", "reset_peak", "rss_bytes"]

Pid = int | str
"""A process id, or ``"self"`` for the calling process."""


def _status_bytes(field: str, pid: Pid) -> int | None:
    """A ``/proc/<pid>/status`` memory field in bytes; None where there is no /proc."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # the kernel reports kB
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def peak_bytes(pid: Pid = "self") -> int:
    """Peak resident memory (``VmHWM``) of ``pid``.

    Without /proc, this process's ``ru_maxrss`` stands in (only ``"self"``).
    """
    peak = _status_bytes("VmHWM", pid)
    if peak is not None:
        return peak
    if pid != "self":
        raise RuntimeError("the peak memory of another process needs Linux /proc")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024  # bytes there, kB elsewhere


def rss_bytes(pid: Pid = "self") -> int:
    """Resident memory (``VmRSS``) of ``pid`` now; RuntimeError without /proc."""
    rss = _status_bytes("VmRSS", pid)
    if rss is None:
        raise RuntimeError("resident memory needs Linux /proc")
    return rss


def reset_peak(pid: Pid = "self") -> bool:
    """Make ``VmHWM`` start again from the current RSS (Linux >= 4.0); False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def cpu_seconds(pid: Pid = "self") -> float | None:
    """CPU time (user + system) ``pid`` has used so far; None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # utime and stime, fields 14 and 15 of stat(5), counted after the command's ")".
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    """The processor's name, for the results header."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
