"""The README's quickstart runs as written against the simulator, as the README tells a user."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from tests._quickstart import QUICKSTART_PRINTS, first_python_block
from tests._simulator_process import WAIT, simulator


async def test_the_quickstart_runs_as_is_with_the_printed_exports(tmp_path: Path) -> None:
    script = tmp_path / "quickstart.py"
    script.write_text(first_python_block())
    # A user's shell: none of our variables but the ones the simulator printed.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLABEX_")}
    async with simulator("--port", "0") as (server, banner):
        assert set(banner.exports) == {"BILLABEX_BASE_URL", "BILLABEX_TOKEN", "BILLABEX_ACCOUNT_ID"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            cwd=tmp_path,
            env={**env, **banner.exports},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), WAIT)
        assert proc.returncode == 0, err.decode()
        # What the block's comments promise.
        assert out.decode().splitlines() == QUICKSTART_PRINTS
        server.send_signal(signal.SIGINT)
        stopped, _ = await asyncio.wait_for(server.communicate(), WAIT)
    # It reached this simulator and no other server: an upsert, an update, the list pages.
    served = re.search(rb"stopped after (\d+) requests \(0 429s\)", stopped)
    assert served is not None
    assert int(served[1]) >= 3
