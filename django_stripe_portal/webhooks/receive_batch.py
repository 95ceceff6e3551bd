"""Many accepted events at once (a page of catch-up's listing), each stored once and
processed oldest first, as ``receive_event`` does for one in sync mode.

The rows are inserted with one ``INSERT … ON CONFLICT DO NOTHING RETURNING``: the same
store-once claim as a delivery's, for the whole batch (an id stored already, or being
stored by a live delivery right now, is not returned; PostgreSQL makes the insert wait
for that delivery's transaction first). Then each new event's state write and signals
run, in order, inside the batch's one transaction, each event in a savepoint of its own
(opened with its first statement): a state write that raises rolls back that event's
work only and leaves its row ``failed``; a receiver that raises fails that event only,
as in a delivery. One commit per batch instead of one per event. The subscription writes
of subscriptions that one event of the batch names go in one statement before the first
event is processed (``state.subscription_batch``); an event that fails has its row put
back as it was.

Everything an event needs is prepared before its batch's transaction begins (on SQLite
that transaction is the one write lock). So a batch ends before an event whose insert
reads what an earlier event of the batch writes (a change linked to a portal visit that
a ``billing_portal.session.created`` of the batch opens), and after an event whose row
a later event's preparation reads (a discount's terms, read for a run rate).

A crash mid-batch rolls the whole batch back: none of its rows is stored, so receiving
the events again (catch-up run again) stores and dispatches each of them once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from django_stripe_portal.conf import get_settings
from django_stripe_portal.events import COUPON_EVENTS, DISCOUNT_EVENTS
from django_stripe_portal.models import PortalSession, WebhookEvent
from django_stripe_portal.settled_weeks import forget_settled_after
from django_stripe_portal.state.row_writes import PreparedNewRows
from django_stripe_portal.state.subscription_batch import SubscriptionBatch
from django_stripe_portal.state.subscriptions import SubscriptionAccountMismatch, SubscriptionWrite
from django_stripe_portal.webhooks.dispatch import LazySavepoint, dispatch_event, is_handled
from django_stripe_portal.webhooks.interpret import Interpretation
from django_stripe_portal.webhooks.process import Outcome, error_text, failure_text
from django_stripe_portal.webhooks.receive import (
    new_event_row,
    payload_texts,
    receive_event,
    stored_elsewhere,
)
from django_stripe_portal.webhooks.state_writes import (
    PreparedStateWrite,
    SessionSeenWrite,
    StateWritten,
    SubscriptionStateWrite,
    prepare_state_write,
)

logger = logging.getLogger("django_stripe_portal.webhooks")

Status = WebhookEvent.Status

#: Events whose state write a later event's preparation reads (``webhooks.money`` reads
#: stored discounts): the batch ends after one.
_READ_WHEN_PREPARING = frozenset((*DISCOUNT_EVENTS, *COUPON_EVENTS))
_SESSION_CREATED = "billing_portal.session.created"


@dataclass
class _Claim:
    """One event of a batch: its place in the input, its row and its prepared write."""

    index: int
    event: dict[str, Any]
    meaning: Interpretation
    row: WebhookEvent
    state_write: PreparedStateWrite | None
    #: False: preparing the state write raised; it is prepared again in the event's
    #: savepoint, where a failure is kept on its row.
    prepared: bool
    #: Its subscription write, sent with the batch's others (``_write_subscriptions``):
    #: the batch and its place there.
    batched: tuple[SubscriptionBatch, int] | None = None
    written: SubscriptionWrite | SubscriptionAccountMismatch | None = None
    #: Its portal session, inserted with the batch's others (``_write_sessions``).
    session: StateWritten | None = None


def receive_batch(
    accepted: Sequence[tuple[dict[str, Any], Interpretation]], *, received_via: str
) -> list[Outcome | Exception]:
    """Store and process ``accepted`` events (``accept_event``'s answers) in their order
    (sync mode); for each, its outcome, or the exception that kept it from being stored
    (its row could not be built, or it failed and could not be stored as failed)."""
    window = get_settings().VISIT_WINDOW
    results: list[Outcome | Exception] = [Outcome.NOT_STORED] * len(accepted)
    batch: list[_Claim] = []
    visited: set[str] = set()  # customers whose portal session the batch stores
    for index, (event, meaning) in enumerate(accepted):
        if meaning.change_kind and meaning.customer_id in visited:
            _store_and_process(batch, results, received_via)
            batch, visited = [], set()
        try:
            claim = _claim(index, event, meaning, window, received_via)
        except Exception as exc:  # the caller reports it, as for an event it could not accept
            results[index] = exc
            continue
        batch.append(claim)
        if claim.row.type == _SESSION_CREATED:
            visited.add(meaning.customer_id)
        elif claim.row.type in _READ_WHEN_PREPARING:
            _store_and_process(batch, results, received_via)
            batch, visited = [], set()
    _store_and_process(batch, results, received_via)
    return results


def _claim(
    index: int,
    event: dict[str, Any],
    meaning: Interpretation,
    window: int,
    received_via: str,
) -> _Claim:
    status = Status.PROCESSED if is_handled(event["type"]) else Status.IGNORED
    row = new_event_row(event, meaning, status, window, received_via)
    try:
        state_write, prepared = prepare_state_write(row, event, meaning), True
    except Exception:
        state_write, prepared = None, False
    return _Claim(index, event, meaning, row, state_write, prepared)


def _store_and_process(
    batch: list[_Claim], results: list[Outcome | Exception], received_via: str
) -> None:
    if not batch:
        return
    try:
        claims = _insert(batch)  # compiled before the transaction (SQLite's write lock)
        with transaction.atomic():
            inserted = claims.run()
            new = [claim for claim in batch if claim.row.stripe_id in inserted]
            _write_subscriptions(new)
            _write_sessions(new)
            for claim in batch:
                values = inserted.get(claim.row.stripe_id)
                if values is None:
                    results[claim.index] = stored_elsewhere(claim.row.stripe_id)
                else:
                    claim.row.portal_session_id = values[0]
                    results[claim.index] = _process(claim)
            if inserted:  # events days old, after an outage: forget the days they touch
                forget_settled_after(
                    min(claim.row.created_at for claim in batch if claim.row.stripe_id in inserted)
                )
    except Exception:
        # Building the insert, the insert or the commit failed (no event's own work: that
        # is in its savepoint), and nothing of the batch is stored: each event goes the way
        # of a delivery.
        logger.exception(
            "Storing %d Stripe events at once failed; receiving them one at a time", len(batch)
        )
        for claim in batch:
            try:
                results[claim.index] = receive_event(
                    claim.event, claim.meaning, received_via=received_via
                )
            except Exception as exc:
                results[claim.index] = exc


def _insert(batch: list[_Claim]) -> PreparedNewRows:
    """The batch's one insert; each payload as its JSON text where that stands for it
    (``receive.payload_texts``): catch-up read each event from its own compact
    ``json.dumps``, so on every database, not only where the database parses it."""
    return PreparedNewRows(
        [claim.row for claim in batch],
        key="stripe_id",
        returning=("portal_session",),
        json_texts=[payload_texts(claim.meaning) for claim in batch],
        compact_texts=True,
    )


def _write_subscriptions(new: list[_Claim]) -> None:
    """The subscription writes of the batch's new events in one statement
    (``SubscriptionBatch``), each subscription that only one event of the batch names:
    a subscription named twice is written one event at a time, so that each event's
    receivers see the row as that event left it. (A receiver that reads another
    subscription's row may see a later event of the batch written already.)

    If the statement fails, none is written and each is sent in its event's turn; so is
    one whose row a live delivery inserted after the batch read the rows (PostgreSQL):
    the batch only updates rows it read, so that undoing a failing event's write never
    deletes or overwrites a row it did not write."""
    counts = Counter(
        claim.state_write.statement.row.stripe_id
        for claim in new
        if isinstance(claim.state_write, SubscriptionStateWrite)
    )
    once = [
        (claim, claim.state_write.statement)
        for claim in new
        if isinstance(claim.state_write, SubscriptionStateWrite)
        and counts[claim.state_write.statement.row.stripe_id] == 1
    ]
    if len(once) < 2:
        return
    batch = SubscriptionBatch([statement for _, statement in once])
    try:
        with transaction.atomic():
            written = batch.run()
    except Exception:
        logger.exception("Writing %d subscriptions at once failed; writing each alone", len(once))
        for _, statement in once:  # the statement's rows were rolled back: each as it comes
            statement.row._state.adding = True
        return
    for place, ((claim, _), write) in enumerate(zip(once, written, strict=True)):
        if write is not None:  # None: a live delivery inserted the row meanwhile, see below
            claim.batched, claim.written = (batch, place), write


def _write_sessions(new: list[_Claim]) -> None:
    """The portal sessions of the batch's new ``billing_portal.session.created`` events,
    inserted unless stored (``PreparedNewRows``), before the first event is processed: a
    session alone costs its own statement and savepoint in its event's turn.

    A session stored already, or named twice in the batch, is left to its event's turn
    (which reads the stored row); so is every one if the statement fails. An event that
    fails has the row it inserted deleted (``_process``), as its savepoint would have. No
    event of the batch reads it: a page ends before a change that a visit of the page
    would link (``receive_batch``). (A receiver that reads sessions may see a later event's
    of the batch already stored, as for subscriptions.)"""
    sessions = [
        (claim, claim.state_write.row)
        for claim in new
        if isinstance(claim.state_write, SessionSeenWrite)
    ]
    counts = Counter(row.stripe_id for _, row in sessions)
    once = [(claim, row) for claim, row in sessions if counts[row.stripe_id] == 1]
    if len(once) < 2:
        return
    rows = [row for _, row in once]
    try:
        with transaction.atomic():
            inserted = PreparedNewRows(rows, key="stripe_id", returning=("configuration",)).run()
    except Exception:
        logger.exception("Writing %d portal sessions at once failed; writing each alone", len(once))
        for row in rows:  # rolled back: each is sent in its event's turn
            row.pk, row._state.adding = None, True
        return
    for claim, row in once:
        values = inserted.get(row.stripe_id)
        if values is not None:
            row.configuration_id = values[0]
            claim.session = StateWritten(row, True)


def _undo_session(row: PortalSession) -> None:
    """Take back a session ``_write_sessions`` inserted, as the event's savepoint would
    have: one DELETE, no model signals (nothing outside the page's transaction saw it, and
    no other event of the batch links it)."""
    connection = connections[row._state.db or DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {quote(PortalSession._meta.db_table)} WHERE {quote('id')} = %s",  # noqa: S608
            [row.pk],
        )


def _state_written(claim: _Claim) -> StateWritten | None:
    """Run the event's state write, or finish the one its batch sent."""
    if claim.session is not None:
        return claim.session
    if claim.written is not None:
        if isinstance(claim.written, SubscriptionAccountMismatch):
            raise claim.written
        assert isinstance(claim.state_write, SubscriptionStateWrite)
        return claim.state_write.finish(claim.written)
    state_write = claim.state_write
    if not claim.prepared:
        state_write = prepare_state_write(claim.row, claim.event, claim.meaning)
    return state_write.run() if state_write is not None else None


def _process(claim: _Claim) -> Outcome:
    """State write and signals of a newly stored event, in a savepoint of the batch's
    transaction; the row was inserted with the outcome written ahead."""
    row, event, meaning = claim.row, claim.event, claim.meaning
    # Opened with the event's first statement: an event that sends none costs no round trip.
    savepoint = LazySavepoint()
    try:
        with savepoint.connection.execute_wrapper(savepoint):
            written = _state_written(claim)
            failures = dispatch_event(row, event, meaning, written)
    except Exception as exc:
        savepoint.roll_back()
        if claim.batched is not None:  # its row, written with the batch's others
            claim.batched[0].undo(claim.batched[1])
        if claim.session is not None:  # its session, inserted with the batch's others
            _undo_session(claim.session.row)
        logger.error(
            "Processing Stripe event %s failed; stored as failed",
            row.stripe_id,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        _store_failure(row, error_text(exc))
        return Outcome.FAILED
    savepoint.release()
    if failures:
        _store_failure(row, failure_text(failures))
        return Outcome.FAILED
    return Outcome(row.status)


def _store_failure(row: WebhookEvent, error: str) -> None:
    row.status, row.last_error, row.processed_at = Status.FAILED, error, None
    WebhookEvent.objects.filter(pk=row.pk).update(
        status=row.status, last_error=row.last_error, processed_at=None
    )
