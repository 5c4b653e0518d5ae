"""The ``billabex`` command's exit codes.

A module of their own, without click: ``main`` exits 130 on a Ctrl-C that
arrives before click has loaded.
"""

from __future__ import annotations

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
