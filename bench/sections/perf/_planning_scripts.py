"""Performance support: the scripts the planning section runs in fresh interpreters, either package.

Each prints its figures on stdout for ``bench.sections.perf.planning``; peak
memory is the child's own ``VmHWM`` (``bench.procfs``).
"""

from __future__ import annotations

from bench import _private

__all__ = ["ADDS", "CLI", "PLAN", "PREFIXED"]

# Two random capitalised 6-letter words (13 characters), as in the other benchmarks.
_NAMES = """
import random, string
def word(rng):
    return "".join(rng.choices(string.ascii_lowercase, k=6)).capitalize()
def names(n, rng):
    return [f"{word(rng)} {word(rng)}" for _ in range(n)]
"""

# Peak RSS of the running script (its own VmHWM), printed by each measurement below.
_PEAK = "from bench.procfs import peak_bytes as peak\n"

# Plan SIZE desired items (no emails) against SIZE listed contacts: a quarter each
# unchanged, another role, a one-letter rename, someone new. Prints CPU s, peak bytes.
PLAN = (
    _NAMES
    + _PEAK
    + """
import asyncio, resource, sys, time, uuid
from billabex_async.models import Contact, ContactUpsert
from billabex_async.sync import plan_sync
size = int(sys.argv[1])
rng = random.Random(size)
listed = names(size, rng)
class Listing:
    async def iterate(self, account, page_size=100):
        for name in listed:
            yield Contact(id=uuid.UUID(int=rng.getrandbits(128), version=4), full_name=name,
                          language="en", email=None, role=None, notes=None, is_primary=None,
                          read_only_reason=None)
items = []
for i, name in enumerate(listed):
    if i % 4 == 2:
        name = name[:-1] + "q"
    elif i % 4 == 3:
        name = f"{word(rng)} {word(rng)}"
    items.append(ContactUpsert(full_name=name, language="en", role="r" if i % 4 else None))
started = time.process_time()
import inspect
# The guard's override appeared after the baseline, which has no guard to lift.
guarded = "max_delete_share" in inspect.signature(plan_sync).parameters
extra = {"max_delete_share": 1.0} if guarded else {}
plan = asyncio.run(plan_sync(Listing(), uuid.uuid4(), items, delete_missing=True, **extra))
cpu = time.process_time() - started
print(cpu, peak(), len(plan.changes))
"""
)

# The real command in this process, its peak RSS printed on exit (the CLI exits via sys.exit).
CLI = (
    _PEAK
    + """
import atexit, resource, sys
atexit.register(lambda: print("PEAK", peak()))
sys.argv = ["billabex", "--rate-limit", "off", "contacts", "sync", *sys.argv[1:], "--dry-run"]
from billabex_async.cli import main
main()
"""
)

# SIZE contacts stored one by one in the simulator: the slowest single add, and all of them
# (CPU seconds).
ADDS = (
    _NAMES
    + """
import asyncio, sys, time
from billabex_async.testing import FakeBillabex
size = int(sys.argv[1])
async def main():
    async with FakeBillabex(rate_limit=None) as fake:
        # CPU time: on a shared machine a preempted add would look slow in wall time.
        worst, started = 0.0, time.process_time()
        for name in names(size, random.Random(size)):
            t = time.process_time()
            fake.add_contact(fake.account_id, full_name=name)
            worst = max(worst, time.process_time() - t)
        print(worst, time.process_time() - started)
asyncio.run(main())
"""
)

# SIZE names sharing their first 8 characters ("Christopher " and 6 random letters) added
# to a Matcher one by one, then one lookup in ten of them with the last letter changed.
# Prints the CPU seconds of the adds and of the lookups.
PREFIXED = (
    _private.import_line("Matcher", _private.MATCHER)
    + """
import random, string, sys, time
size = int(sys.argv[1])
rng = random.Random(size)
names = ["Christopher " + "".join(rng.choices(string.ascii_lowercase, k=6)) for _ in range(size)]
matcher = Matcher()
started = time.process_time()
for key, name in enumerate(names):
    matcher.add(key, name, None)
added = time.process_time()
for name in names[::10]:
    assert matcher.find_by_name(name[:-1] + "#") is not None
print(added - started, time.process_time() - added)
"""
)
