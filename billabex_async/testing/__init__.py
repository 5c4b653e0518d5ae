"""Testing layer: FakeBillabex, an embedded simulator of the Billabex Contacts API.

Depends on the models and the matching rules only, never on the client, so the
SDK is tested against an independent implementation of the wire format.
``VirtualClock`` shared by a client and a simulator runs rate windows in no wall time.
"""

from billabex_async.testing._clock import VirtualClock
from billabex_async.testing._core import RequestRecord
from billabex_async.testing._faults import FaultKind, Faults, ScriptedFault
from billabex_async.testing._ratelimit import Stats
from billabex_async.testing._rules import Matching
from billabex_async.testing._server import FakeBillabex

__all__ = [
    "FakeBillabex",
    "FaultKind",
    "Faults",
    "Matching",
    "RequestRecord",
    "ScriptedFault",
    "Stats",
    "VirtualClock",
]
