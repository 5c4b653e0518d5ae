"""Bulk layer: many upserts under one rate limit, streamed, with a per-item report.

Written against the public ``ContactsResource`` only: every request goes
through the client's limiter and retry policy like any single call. One core
(``_engine``) serves the four public forms: one account or many, a report
or a stream of outcomes.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable
from typing import Any
from uuid import UUID

from billabex_async._engine import DEFAULT_CANCEL_GRACE, DEFAULT_CONCURRENCY, engine_for
from billabex_async._engine.conflicts import Op
from billabex_async._engine.engine import LOOKAHEAD, Engine, ProgressCallback
from billabex_async._engine.op import upsert_op
from billabex_async._engine.outcomes import Settled, account_key
from billabex_async._engine.report import BulkFailure, BulkOutcome, BulkReport, Status
from billabex_async._validation import check_idempotency_key
from billabex_async.errors import InvalidRequestError
from billabex_async.models import ContactUpsert
from billabex_async.resources import ContactsResource

__all__ = [
    "DEFAULT_CANCEL_GRACE",
    "DEFAULT_CONCURRENCY",
    "LOOKAHEAD",
    "BulkFailure",
    "BulkOutcome",
    "BulkReport",
    "ProgressCallback",
    "Status",
    "bulk_upsert",
    "bulk_upsert_account",
    "iter_upsert",
    "iter_upsert_pairs",
]

Items = Iterable[ContactUpsert] | AsyncIterable[ContactUpsert]
Pairs = Iterable[tuple[str | UUID, ContactUpsert]] | AsyncIterable[tuple[str | UUID, ContactUpsert]]


def _outcome(settled: Settled) -> BulkOutcome:
    op = settled.op
    return BulkOutcome(
        op.index,
        op.item,
        op.account,
        settled.status,
        settled.contact,
        settled.error,
        op.idempotency_key,
    )


def _start(
    report: BulkReport | None, resume_from: BulkReport | None
) -> tuple[BulkReport, Callable[[int], bool] | None]:
    """The report to fill and, when resuming, which input indices are already done.

    A resumed run takes the previous run's ``run_id`` (so every item it sends
    again carries the same key) and skips the items before its
    ``resume_from`` that did not fail.
    """
    report = BulkReport() if report is None else report
    if resume_from is not None:
        if report is resume_from or report.total:
            raise InvalidRequestError(
                "resuming fills a new report: pass a fresh BulkReport as report=", field="report"
            )
        report.run_id = resume_from.run_id
    check_idempotency_key(report.key_for(0))  # a run_id set by hand must make valid keys
    if resume_from is None:
        return report, None
    done = resume_from.resume_from
    # Bounded by the failures the report already holds, whatever the input size.
    failed = frozenset(f.index for f in resume_from.failed if f.index < done)

    def skip(index: int) -> bool:
        return index < done and index not in failed

    return report, skip


def _make_op(
    contacts: ContactsResource, report: BulkReport, account_id: str | UUID | None
) -> Callable[[int, Any], Op]:
    """What the engine builds each op with: of one account's items, or of pairs when None."""
    upsert, key_for, partial = contacts.upsert, report.key_for, functools.partial

    def item_op(account: str, index: int, item: ContactUpsert) -> Op:
        # Once per item, on the engine's hot path. A partial, not a wrapping
        # coroutine: one coroutine per item, the upsert's own.
        key = key_for(index)
        return upsert_op(
            index, account, item, partial(upsert, account, item, idempotency_key=key), key
        )

    if account_id is not None:
        return partial(item_op, account_key(account_id))

    def pair_op(index: int, pair: tuple[str | UUID, ContactUpsert]) -> Op:
        account_id, item = pair
        return item_op(account_key(account_id), index, item)

    return pair_op


def _engine(
    contacts: ContactsResource,
    account_id: str | UUID | None,
    source: Items | Pairs,
    concurrency: int | None,
    on_progress: ProgressCallback | None,
    report: BulkReport | None,
    cancel_grace: float,
    resume_from: BulkReport | None,
) -> tuple[Engine[Any], BulkReport]:
    """The engine of one bulk run, and the report it fills.

    ``account_id`` None: ``source`` holds ``(account_id, contact)`` pairs, and
    a 403/404 stops that account only.
    """
    report, skip = _start(report, resume_from)
    engine: Engine[Any] = engine_for(
        contacts,
        source,
        _make_op(contacts, report, account_id),
        concurrency=concurrency,
        report=report,
        on_progress=on_progress,
        cancel_grace=cancel_grace,
        per_account=account_id is None,
        skip=skip,
    )
    return engine, report


async def _iterate(
    contacts: ContactsResource, account_id: str | UUID | None, source: Items | Pairs, *args: Any
) -> AsyncGenerator[BulkOutcome, None]:
    engine, _ = _engine(contacts, account_id, source, *args)
    # aclosing: when our caller stops early, the engine's shutdown runs now.
    async with contextlib.aclosing(engine.run()) as settled_items:
        async for settled in settled_items:
            yield _outcome(settled)


async def _drain(
    contacts: ContactsResource, account_id: str | UUID | None, source: Items | Pairs, *args: Any
) -> BulkReport:
    engine, report = _engine(contacts, account_id, source, *args)
    await engine.drain()
    return report


def iter_upsert(
    contacts: ContactsResource,
    account_id: str | UUID,
    items: Iterable[ContactUpsert] | AsyncIterable[ContactUpsert],
    *,
    concurrency: int | None = None,
    report: BulkReport | None = None,
    on_progress: ProgressCallback | None = None,
    cancel_grace: float = DEFAULT_CANCEL_GRACE,
    resume_from: BulkReport | None = None,
) -> AsyncGenerator[BulkOutcome, None]:
    """Upsert ``items`` into one account, yielding each item's outcome as it completes.

    Same semantics as ``bulk_upsert_account``; pass a ``report`` to read the
    totals, including the items settled after you stop iterating. Stopping
    early (``break``, then ``aclose()``, or leaving ``contextlib.aclosing``)
    works like a cancellation. Items skipped by ``resume_from`` yield nothing.

    Args:
        contacts: The resource to send through (``client.contacts``).
        account_id: The account every item goes to.
        items: ``ContactUpsert`` items, an iterable or async iterable.
        concurrency: Requests in flight; None follows the rate limit.
        on_progress: ``on_progress(done, total)`` after each item settles;
            ``total`` is None until the input is read to its end.
        report: A ``BulkReport`` filled in place (kept when cancelled).
        cancel_grace: Seconds in-flight requests get to finish on cancellation.
        resume_from: A previous run's report: finish its job with the same input.

    Yields:
        A ``BulkOutcome`` per item sent, in completion order.
    """
    args = (concurrency, on_progress, report, cancel_grace, resume_from)
    return _iterate(contacts, account_id, items, *args)


def iter_upsert_pairs(
    contacts: ContactsResource,
    pairs: Iterable[tuple[str | UUID, ContactUpsert]]
    | AsyncIterable[tuple[str | UUID, ContactUpsert]],
    *,
    concurrency: int | None = None,
    report: BulkReport | None = None,
    on_progress: ProgressCallback | None = None,
    cancel_grace: float = DEFAULT_CANCEL_GRACE,
    resume_from: BulkReport | None = None,
) -> AsyncGenerator[BulkOutcome, None]:
    """``iter_upsert`` over ``(account_id, contact)`` pairs of many accounts.

    Args:
        contacts: The resource to send through (``client.contacts``).
        pairs: ``(account_id, ContactUpsert)`` pairs, an iterable or async iterable.
        concurrency: Requests in flight; None follows the rate limit.
        on_progress: ``on_progress(done, total)`` after each item settles;
            ``total`` is None until the input is read to its end.
        report: A ``BulkReport`` filled in place (kept when cancelled).
        cancel_grace: Seconds in-flight requests get to finish on cancellation.
        resume_from: A previous run's report: finish its job with the same input.

    Yields:
        A ``BulkOutcome`` per item sent, in completion order.
    """
    return _iterate(
        contacts, None, pairs, concurrency, on_progress, report, cancel_grace, resume_from
    )


async def bulk_upsert_account(
    contacts: ContactsResource,
    account_id: str | UUID,
    items: Iterable[ContactUpsert] | AsyncIterable[ContactUpsert],
    *,
    concurrency: int | None = None,
    on_progress: ProgressCallback | None = None,
    report: BulkReport | None = None,
    cancel_grace: float = DEFAULT_CANCEL_GRACE,
    resume_from: BulkReport | None = None,
) -> BulkReport:
    """Upsert many contacts of one account, ``concurrency`` requests at a time.

    ``concurrency=None`` (the default) follows the client's rate limit and
    the latency measured: enough requests in flight to send a window's
    allowance within a tenth of the window (at most the limit, and 100);
    8 when the client has no rate limit. An int fixes it.
    ``items`` (iterable or async iterable) is read lazily: at most
    ``4 * concurrency`` items are held, whatever its length. Items the server
    would match to the same contact (same email, or fuzzy-matching names) are
    never in flight together and go in input order, so the result is what a
    sequential loop gives. Per-item failures land in ``report.failed``.

    A 401, or a 403/404 refusing the account, stops the run: nothing more is
    read or sent, ``report.error`` says why, items read but not sent count in
    ``report.not_attempted``. On cancellation, reading and sending stop,
    in-flight requests get ``cancel_grace`` seconds to finish (a second
    cancellation cuts that short; the ones cut off fail with
    ``OutcomeUnknownError``), then ``CancelledError`` propagates. Pass your
    own ``report`` to keep the consistent partial report in that case.

    Every item is sent with the Idempotency-Key ``report.key_for(index)``.
    ``resume_from``, a previous run's report (even a copy saved before that
    run ended), finishes its job: give the same input again; the items it
    finished are skipped (``report.skipped``) and every other one is sent
    again with the key it had, so nothing is applied twice. The new report
    covers the whole input and can itself be resumed from.

    Args:
        contacts: The resource to send through (``client.contacts``).
        account_id: The account every item goes to.
        items: ``ContactUpsert`` items, an iterable or async iterable.
        concurrency: Requests in flight; None follows the rate limit.
        on_progress: ``on_progress(done, total)`` after each item settles;
            ``total`` is None until the input is read to its end.
        report: A ``BulkReport`` filled in place (kept when cancelled).
        cancel_grace: Seconds in-flight requests get to finish on cancellation.
        resume_from: A previous run's report: finish its job with the same input.

    Returns:
        The report of the run; per-item failures are in it, not raised.
    """
    args = (concurrency, on_progress, report, cancel_grace, resume_from)
    return await _drain(contacts, account_id, items, *args)


async def bulk_upsert(
    contacts: ContactsResource,
    pairs: Iterable[tuple[str | UUID, ContactUpsert]]
    | AsyncIterable[tuple[str | UUID, ContactUpsert]],
    *,
    concurrency: int | None = None,
    on_progress: ProgressCallback | None = None,
    report: BulkReport | None = None,
    cancel_grace: float = DEFAULT_CANCEL_GRACE,
    resume_from: BulkReport | None = None,
) -> BulkReport:
    """``bulk_upsert_account`` over ``(account_id, contact)`` pairs of many accounts.

    Conflicts are per account. A 401 stops the run; a 403/404 on an account
    stops that account only (its later items count as not attempted).
    ``resume_from`` works as there, with the same pairs in the same order.

    Args:
        contacts: The resource to send through (``client.contacts``).
        pairs: ``(account_id, ContactUpsert)`` pairs, an iterable or async iterable.
        concurrency: Requests in flight; None follows the rate limit.
        on_progress: ``on_progress(done, total)`` after each item settles;
            ``total`` is None until the input is read to its end.
        report: A ``BulkReport`` filled in place (kept when cancelled).
        cancel_grace: Seconds in-flight requests get to finish on cancellation.
        resume_from: A previous run's report: finish its job with the same input.

    Returns:
        One report for every account.
    """
    return await _drain(
        contacts, None, pairs, concurrency, on_progress, report, cancel_grace, resume_from
    )
