"""Simulator layer: stale reads — list pages that show API writes only after a lag."""

from __future__ import annotations

import bisect
import heapq
from collections import deque

from billabex_async.testing._store import Account

__all__ = ["StaleReads"]


class _Lagging:
    """One account's writes that its list pages do not show yet."""

    __slots__ = ("due", "ghosts", "lists", "pending")

    def __init__(self) -> None:
        self.lists = 0
        """List requests this account has answered."""
        # Per contact (creation sequence number), its unlanded writes, oldest
        # first, each as (list count it lands after, the JSON shown until then;
        # None: the contact did not exist yet).
        self.pending: dict[int, deque[tuple[int, bytes | None]]] = {}
        # The same writes in landing order, so landing costs only what lands.
        self.due: deque[tuple[int, int]] = deque()
        # Sorted sequence numbers of deleted contacts that pages still show.
        self.ghosts: list[int] = []


class StaleReads:
    """Makes list pages lag behind writes by ``lag`` list requests, as a projection would.

    A write through the API (create, upsert, update, delete) shows in an
    account's list pages from the ``lag + 1``-th list request of that account
    after it; until then pages show the contact as it was (or not at all, if
    the write created it; still there, if it deleted it). Upsert matching and
    every other handler read the store itself, so writes land at once: only
    listing is stale. ``lag == 0`` shows every write at once, at no cost.
    Direct changes (``add_contact``, ``seed_contacts``...) are never delayed.
    """

    __slots__ = ("_accounts", "lag")

    def __init__(self, lag: int = 0) -> None:
        if lag < 0:
            raise ValueError(f"read_lag must be >= 0 list requests, got {lag}")
        self.lag = lag
        self._accounts: dict[str, _Lagging] = {}

    def __repr__(self) -> str:
        waiting = sum(len(state.due) for state in self._accounts.values())
        return f"<StaleReads lag={self.lag} writes not yet listed={waiting}>"

    def written(self, account: Account, seq: int, before: bytes | None) -> None:
        """Record a write of contact ``seq``; ``before`` is its JSON until then (None: new)."""
        if not self.lag:
            return
        state = self._accounts.setdefault(account.id, _Lagging())
        lands_after = state.lists + self.lag
        state.pending.setdefault(seq, deque()).append((lands_after, before))
        state.due.append((lands_after, seq))
        if seq not in account.by_seq and seq not in state.ghosts:
            bisect.insort(state.ghosts, seq)

    def page(self, account: Account, after_seq: int, first: int) -> list[tuple[int, bytes]]:
        """Up to ``first`` (sequence number, JSON) of the listed contacts after ``after_seq``.

        Counts as one list request of the account: writes that are due land first.
        """
        state = self._accounts.get(account.id)
        if state is None:
            if not self.lag:
                return [(record.seq, record.wire()) for record in account.page(after_seq, first)]
            state = self._accounts[account.id] = _Lagging()
        state.lists += 1
        self._land(account, state)
        start = bisect.bisect_right(account.seqs, after_seq)
        ghosts = state.ghosts[bisect.bisect_right(state.ghosts, after_seq) :]
        rows: list[tuple[int, bytes]] = []
        # Both lists are sorted: merged, they are the listing order.
        for seq in heapq.merge(account.seqs[start:], ghosts):
            waiting = state.pending.get(seq)
            if waiting is None:
                wire: bytes | None = account.by_seq[seq].wire()
            else:
                wire = waiting[0][1]
            if wire is not None:
                rows.append((seq, wire))
                if len(rows) == first:
                    break
        return rows

    def settle(self) -> None:
        """Land every pending write: list pages show the store as it is."""
        self._accounts.clear()

    @staticmethod
    def _land(account: Account, state: _Lagging) -> None:
        while state.due and state.due[0][0] < state.lists:
            _, seq = state.due.popleft()
            waiting = state.pending[seq]
            waiting.popleft()
            if not waiting:
                del state.pending[seq]
                if seq not in account.by_seq:
                    del state.ghosts[bisect.bisect_left(state.ghosts, seq)]
