"""Send the signals of one event, each receiver in its own savepoint.

Runs inside the transaction that holds the event's lock. A receiver that raises is
rolled back to its savepoint and recorded; the others still run (like
``Signal.send_robust``, but a database error in one receiver cannot poison the
transaction for the rest, and the failure is kept on the event row).

The savepoint is opened only when a receiver sends its first SQL statement: receivers
that never touch the database (an email, a task enqueue) cost no round trips.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from django.db import DEFAULT_DB_ALIAS, connections
from django.dispatch import Signal

from django_stripe_portal import signals
from django_stripe_portal.configurations.drift import configuration_drifted
from django_stripe_portal.events import (
    ACCOUNT_APPLICATION_EVENTS,
    ENTITLEMENT_EVENTS,
    HANDLED_EVENTS,
    SUBSCRIPTION_EVENTS,
    ChangeKind,
)
from django_stripe_portal.models import (
    PortalConfiguration,
    PortalSession,
    StripeSubscription,
    WebhookEvent,
)
from django_stripe_portal.portal.return_links import is_own_return_link
from django_stripe_portal.state.subscriptions import ENDED_STATUSES
from django_stripe_portal.webhooks.interpret import Interpretation
from django_stripe_portal.webhooks.retention import accepted_retention_offer
from django_stripe_portal.webhooks.state_writes import StateWritten

logger = logging.getLogger("django_stripe_portal.webhooks")

#: What ``WebhookEvent.last_error`` keeps of one failure.
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class ReceiverFailure:
    """One receiver that raised: where, and a short traceback summary."""

    signal_name: str
    receiver: str
    summary: str

    def __str__(self) -> str:
        return f"{self.signal_name} → {self.receiver}: {self.summary}"


def is_handled(event_type: str) -> bool:
    """False for types the app does not act on and no per-type receiver listens to."""
    if event_type in HANDLED_EVENTS or event_type in ACCOUNT_APPLICATION_EVENTS:
        return True
    per_type = signals.connected_event_signal(event_type)
    return per_type is not None and per_type.has_listeners(WebhookEvent)


def _summarize(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f' (File "{frames[-1].filename}", line {frames[-1].lineno}, in {frames[-1].name})'
    text = "".join(traceback.format_exception_only(exc)).strip() + (where if frames else "")
    return text[:MAX_ERROR_CHARS]


def _receiver_name(receiver: Any) -> str:
    return f"{getattr(receiver, '__module__', '?')}.{getattr(receiver, '__qualname__', receiver)}"


def send_guarded(
    guard: LazySavepoint,
    signal: Signal,
    signal_name: str,
    sender: type[Any],
    failures: list[ReceiverFailure],
    **named: Any,
) -> None:
    """Call each live receiver in a savepoint of its own (``guard``, an execute wrapper
    installed once a dispatch, begun again for each receiver); record (never raise) what
    they raise."""
    # Django ≥ 5.0 splits receivers into sync and async lists; the private accessor is
    # the only way to wrap each receiver in its own savepoint (and, asked once, it is
    # also ``has_listeners``' answer: catch-up sends two signals an event).
    sync_receivers, async_receivers = signal._live_receivers(sender)
    if not sync_receivers and not async_receivers:
        return
    calls = [*sync_receivers, *(async_to_sync(r) for r in async_receivers)]
    for receiver in calls:
        guard.begin()
        try:
            receiver(signal=signal, sender=sender, **named)
        except Exception as exc:
            guard.roll_back()
            name = _receiver_name(getattr(receiver, "awaitable", receiver))
            logger.exception("Receiver %s of %s failed", name, signal_name)
            failures.append(ReceiverFailure(signal_name, name, _summarize(exc)))
        else:
            guard.release()


#: True while a lazy savepoint sends its SAVEPOINT statement, which comes through every
#: installed wrapper: an inner one must not open its own before the outer one's.
_opening: ContextVar[bool] = ContextVar("opening_savepoint", default=False)


class LazySavepoint:
    """An execute wrapper that opens a savepoint just before the first statement a
    receiver (or, in ``receive_batch``, an event) sends, and undoes that work (and its
    on_commit callbacks) alone. Nested ones open their savepoints in nesting order."""

    def __init__(self) -> None:
        #: The default connection, looked up once (``django.db.connection`` looks it up
        #: on every attribute, and a savepoint is made for every receiver and event).
        self.connection = connections[DEFAULT_DB_ALIAS]
        self.begin()

    def begin(self) -> None:
        """Start over (a dispatch's next receiver): no savepoint yet, and the on_commit
        callbacks registered so far are not this one's to drop."""
        self.sid: str | None = None
        self._callbacks_before = len(self.connection.run_on_commit)

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        if self.sid is None and not _opening.get() and self.connection.in_atomic_block:
            token = _opening.set(True)
            try:
                self.sid = self.connection.savepoint()
            finally:
                _opening.reset(token)
        return execute(sql, params, many, context)

    def roll_back(self) -> None:
        del self.connection.run_on_commit[self._callbacks_before :]
        if self.sid is not None:
            # A failed ORM write (or inner atomic(savepoint=False)) marked the whole
            # transaction for rollback, and Django refuses any statement, the rollback to
            # the savepoint too, while it is marked: cleared first, as atomic() does. The
            # savepoint undoes the work, so the rest may go on.
            self.connection.needs_rollback = False
            try:
                self.connection.savepoint_rollback(self.sid)
                self.connection.savepoint_commit(self.sid)
            except Exception:
                self.connection.needs_rollback = True
                raise

    def release(self) -> None:
        if self.sid is not None:
            self.connection.savepoint_commit(self.sid)


def dispatch_event(
    row: WebhookEvent,
    event: dict[str, Any],
    meaning: Interpretation,
    written: StateWritten | None,
) -> list[ReceiverFailure]:
    """Send every signal the event calls for; ``written`` is what its state write left
    (``webhooks.state_writes``), already run by the caller in the same transaction."""
    event_type = row.type
    obj: dict[str, Any] = event["data"]["object"]
    failures: list[ReceiverFailure] = []
    domain: list[tuple[str, type[Any], dict[str, Any]]] = []
    # Older than the stored state: a newer event wrote the subscription already.
    stale = event_type in SUBSCRIPTION_EVENTS and written is not None and not written.applied

    if stale:
        assert written is not None
        domain.extend(_stale_subscription_signals(meaning, written.row))
    elif event_type in SUBSCRIPTION_EVENTS and written is not None:
        domain.extend(_subscription_signals(meaning, written.row, stale=False))
    elif event_type == "billing_portal.session.created" and written is not None:
        # A session this app opened is announced by the redirect view once it has saved
        # it (with its user); announcing it here too would send the signal twice when the
        # webhook arrives first. A row this event stored on an earlier attempt (whose
        # receiver failed) is announced again: a retry is the whole dispatch again.
        seen_here = written.row.source == PortalSession.Source.WEBHOOK
        if seen_here and not is_own_return_link(obj.get("return_url")):
            domain.append(
                ("portal_session_created", PortalSession, {"portal_session": written.row})
            )
    elif event_type in ENTITLEMENT_EVENTS and written is not None:
        change = written.entitlements
        if change is not None and change.applied and change.changed:
            domain.append(
                (
                    "entitlements_changed",
                    WebhookEvent,
                    {
                        "customer_id": change.row.customer_id,
                        "added": change.added,
                        "removed": change.removed,
                    },
                )
            )
    elif event_type in (
        "billing_portal.configuration.created",
        "billing_portal.configuration.updated",
    ):
        configuration = PortalConfiguration.objects.filter(stripe_id=str(obj.get("id"))).first()
        domain.append(
            (
                "portal_configuration_changed",
                WebhookEvent,
                {"configuration": configuration, "drifted": configuration_drifted(obj)},
            )
        )
    if ChangeKind.RETENTION_ACCEPTED in meaning.kinds:
        accepted = accepted_retention_offer(row, meaning)
        if accepted is not None:
            domain.append(
                (
                    "retention_offer_accepted",
                    WebhookEvent,
                    {
                        "subscription": accepted.subscription,
                        "coupon": accepted.coupon,
                        "portal_session": accepted.portal_session,
                    },
                )
            )
    if ChangeKind.PAYMENT_METHOD_CHANGED in meaning.kinds:
        domain.append(
            ("payment_method_changed", WebhookEvent, {"customer_id": meaning.customer_id})
        )
    if ChangeKind.CUSTOMER_DETAILS_CHANGED in meaning.kinds:
        domain.append(
            (
                "customer_details_changed",
                WebhookEvent,
                {
                    "customer_id": meaning.customer_id,
                    "previous_attributes": meaning.previous_attributes,
                },
            )
        )

    # One execute wrapper for the dispatch, begun again for each receiver.
    guard = LazySavepoint()
    per_type = signals.connected_event_signal(event_type)
    with guard.connection.execute_wrapper(guard):
        send_guarded(
            guard,
            signals.webhook_received,
            "webhook_received",
            WebhookEvent,
            failures,
            event=row,
            data=obj,
            stale=stale,
        )
        if per_type is not None:
            send_guarded(
                guard,
                per_type,
                event_type,
                WebhookEvent,
                failures,
                event=row,
                data=obj,
                stale=stale,
            )
        for name, sender, extra in domain:
            signal = getattr(signals, name)
            send_guarded(guard, signal, name, sender, failures, event=row, data=obj, **extra)
    return failures


def _stale_subscription_signals(
    meaning: Interpretation, subscription: StripeSubscription
) -> list[tuple[str, type[Any], dict[str, Any]]]:
    """Domain signals speak of what is true now, so a stale event sends none (a late plan
    change after a deletion is no plan change) but one: ``subscription_canceled`` for a
    late ``customer.subscription.deleted`` whose subscription has ended. A subscription
    ends once and never comes back, and the newer event that overtook the deletion sent
    no such signal, so this is the only one it will ever get."""
    if ChangeKind.CANCELED in meaning.kinds and subscription.status in ENDED_STATUSES:
        return [
            signal
            for signal in _subscription_signals(meaning, subscription, stale=True)
            if signal[0] == "subscription_canceled"
        ]
    return []


def _subscription_signals(
    meaning: Interpretation, subscription: Any, *, stale: bool
) -> list[tuple[str, type[Any], dict[str, Any]]]:
    """``subscription`` is the stored row: for a late (``stale``) event it already shows
    the newer state, which is what a receiver should act on."""
    base = {"subscription": subscription, "stale": stale}
    kinds = meaning.kinds
    out: list[tuple[str, type[Any], dict[str, Any]]] = []
    if ChangeKind.CANCELED in kinds:
        extra = {**base, "cancellation_details": meaning.cancellation_details}
        out.append(("subscription_canceled", WebhookEvent, extra))
    if ChangeKind.CANCEL_SCHEDULED in kinds:
        extra = {**base, "cancellation_details": meaning.cancellation_details}
        out.append(("subscription_cancel_scheduled", WebhookEvent, extra))
    if ChangeKind.REACTIVATED in kinds:
        out.append(("subscription_reactivated", WebhookEvent, base))
    if ChangeKind.PAUSED in kinds:
        extra = {**base, "resumes_at": meaning.resumes_at}
        out.append(("subscription_paused", WebhookEvent, extra))
    if ChangeKind.RESUMED in kinds:
        out.append(("subscription_resumed", WebhookEvent, {**base, "resumes_at": None}))
    if ChangeKind.PLAN_CHANGED in kinds:
        extra = {
            **base,
            "previous_prices": meaning.previous_prices,
            "new_prices": meaning.new_prices,
        }
        out.append(("subscription_plan_changed", WebhookEvent, extra))
    if ChangeKind.QUANTITY_CHANGED in kinds:
        extra = {
            **base,
            "previous_quantity": meaning.previous_quantity,
            "new_quantity": meaning.new_quantity,
        }
        out.append(("subscription_quantity_changed", WebhookEvent, extra))
    return out
