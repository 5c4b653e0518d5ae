"""What a fresh interpreter loads: the lazy-import checks of the package and of the pytest plugin.

Each probe runs in a new interpreter, since a test process has long imported
everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

# Never needed to send one request: loaded on first use only.
HEAVY = [
    "billabex_async.bulk",
    "billabex_async.sync",
    "billabex_async._matching",
    "billabex_async._matching.index",
    "rapidfuzz",
    "billabex_async.testing",
    "billabex_async.auth",
    "billabex_async._pool",  # many tenants in one process: not a single request's need
    "aiohttp.web",
    "importlib.metadata",
    "cattrs",  # the converter: built by the first structure or unstructure
    # The [cli] extra: a library user may not have them installed.
    "click",
    "rich",
]


def fresh(code: str) -> object:
    """Run ``code`` in a new interpreter; it ends by printing one JSON value."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(done.stdout.splitlines()[-1])


def loaded_after(statements: str) -> list[str]:
    """Which of HEAVY a fresh interpreter holds after running ``statements``."""
    code = f"import json, sys\n{statements}\nprint(json.dumps(sorted(sys.modules)))"
    loaded = fresh(code)
    assert isinstance(loaded, list)
    return [name for name in HEAVY if name in loaded]
