"""The rows an event writes before any signal is sent: the subscription (with its run
rate), the portal session seen in ``billing_portal.session.created``, a discount or
coupon (``webhooks.discounts``), a connected account's authorization
(``account.application.*``, ``state.accounts``), or a customer's active entitlements.

Each write is compiled by :func:`prepare_state_write` before the dispatch transaction
begins (on SQLite that transaction is the database's one write lock) and sent by
:meth:`PreparedStateWrite.run` inside it, one statement each.

Sessions: the redirect view saves its own (``source="app"``) with an upsert in which
its values win; this side only ever inserts (``source="webhook"``) and does nothing
when the row exists, so whichever arrives first, an app row keeps its ``user`` and
``return_to``. Nothing of the session URL is read: it is a bearer credential.

Every row written carries the event's ``account`` (``""``: the platform), so a
connected account's customer is never stored as a platform customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connections, router
from django.db.models import BigIntegerField
from django.db.models.expressions import RawSQL

from django_stripe_portal.events import (
    ACCOUNT_APPLICATION_EVENTS,
    COUPON_EVENTS,
    DISCOUNT_EVENTS,
    ENTITLEMENT_EVENTS,
    SUBSCRIPTION_EVENTS,
)
from django_stripe_portal.models import PortalConfiguration, PortalSession, WebhookEvent
from django_stripe_portal.state.accounts import PreparedAuthorizationWrite
from django_stripe_portal.state.entitlements import EntitlementsWrite
from django_stripe_portal.state.row_writes import PreparedInsert
from django_stripe_portal.state.subscriptions import (
    CHANGED_STAGE,
    CREATED_STAGE,
    DELETED_STAGE,
    PreparedSubscriptionWrite,
    SubscriptionWrite,
)
from django_stripe_portal.webhooks.discounts import apply_coupon_event, apply_discount_event
from django_stripe_portal.webhooks.entitlement_summaries import (
    PreparedEntitlementsWrite,
    prepare_entitlements_write,
)
from django_stripe_portal.webhooks.interpret import Interpretation
from django_stripe_portal.webhooks.money import with_customer_discount
from django_stripe_portal.webhooks.payload import (
    customer_account_of,
    customer_of,
    id_of,
    run_rate_values,
    stripe_time,
    subscription_values,
)
from django_stripe_portal.webhooks.run_rate import NOT_PAYING_STATUSES


@dataclass(frozen=True)
class StateWritten:
    """What one state write left: the stored row, and whether this event wrote it
    (False: a newer event had written the subscription, or the session existed)."""

    row: Any
    applied: bool
    #: For an entitlement summary: what it added and removed.
    entitlements: EntitlementsWrite | None = None


#: ``StripeSubscription.event_stage`` of each event type (the others: changed).
_STAGES = {
    "customer.subscription.created": CREATED_STAGE,
    "customer.subscription.deleted": DELETED_STAGE,
}


class SubscriptionStateWrite:
    """A subscription event's write: the conditional upsert (``statement``), then the
    customer's own discount applied where the statement found one (:meth:`finish`)."""

    def __init__(
        self,
        event: dict[str, Any],
        event_time: datetime,
        status: str | None,
        account: str,
        meaning: Interpretation,
        event_row: WebhookEvent,
    ) -> None:
        obj: dict[str, Any] = event["data"]["object"]
        at = int(event_time.timestamp())
        self.event_row, self.at = event_row, at
        if meaning.subscription_fields is not None:
            values = dict(meaning.subscription_fields)
        else:
            values = subscription_values(obj, run_rate=False)
        values.update(
            meaning.run_rate
            if meaning.run_rate is not None
            else run_rate_values(obj, at=at, known=meaning.known_discounts)
        )
        values["account"] = account
        if status is not None:
            values["status"] = status
            if status in NOT_PAYING_STATUSES:
                values["monthly_amount"] = 0
        # What the event says of its place among others of the same second.
        values["event_stage"] = _STAGES.get(str(event["type"]), CHANGED_STAGE)
        previous = event["data"].get("previous_attributes")
        before = previous.get("status") if isinstance(previous, dict) else None
        values["previous_status"] = before[:30] if isinstance(before, str) else ""
        self.statement = PreparedSubscriptionWrite(str(obj["id"]), values, event_time)

    def run(self) -> StateWritten:
        return self.finish(self.statement.run())

    def finish(self, write: SubscriptionWrite) -> StateWritten:
        """What follows the statement (sent alone, or in a page's ``SubscriptionBatch``)."""
        if write.customer_discount is not None:
            with_customer_discount(
                write.subscription, write.customer_discount, self.event_row, self.at
            )
        return StateWritten(write.subscription, write.applied)


#: The output field of that lookup (a configuration's pk): one instance, not one a session.
_CONFIGURATION_ID = BigIntegerField()


def _configuration_subquery(stripe_id: str, account: str) -> RawSQL:
    """The pk of the stored configuration ``stripe_id`` of ``account``, looked up by the
    session's INSERT itself. One text per database, so that INSERT is compiled once too
    (``PreparedInsert``), where a ``Subquery`` would compile it for every session."""
    sql = _configuration_sql(router.db_for_read(PortalConfiguration))
    return RawSQL(sql, [stripe_id, account], output_field=_CONFIGURATION_ID)  # noqa: S611  (quoted names, bound params)


@cache
def _configuration_sql(using: str) -> str:
    """What ``PortalConfiguration.objects.filter(stripe_id=…, account=…).values("pk")[:1]``
    compiles to, written once per database (``stripe_id`` is unique)."""
    quote = connections[using].ops.quote_name
    table = quote(PortalConfiguration._meta.db_table)
    return (
        f"SELECT {quote('id')} FROM {table} "  # noqa: S608
        f"WHERE {quote('stripe_id')} = %s AND {quote('account')} = %s LIMIT 1"
    )


class SessionSeenWrite:
    """A ``billing_portal.session.created``'s write: insert the session unless it exists
    (``statement``); a catch-up page sends its sessions' rows together (``receive_batch``)."""

    def __init__(self, obj: dict[str, Any], event_time: datetime, account: str) -> None:
        flow = obj.get("flow")
        flow_type = flow.get("type") if isinstance(flow, dict) else None
        self.row = PortalSession(
            stripe_id=str(obj["id"]),
            customer_id=customer_of(obj),
            customer_account=customer_account_of(obj),
            configuration_id=_configuration_subquery(id_of(obj.get("configuration")), account),
            flow_type=str(flow_type or "")[:40],
            locale=str(obj.get("locale") or "")[:20],
            livemode=bool(obj.get("livemode")),
            created_at=stripe_time(obj.get("created")) or event_time,
            source=PortalSession.Source.WEBHOOK,
            account=account,
        )
        self.statement = PreparedInsert(self.row, returning=("pk", "configuration"))

    def run(self) -> StateWritten:
        inserted = self.statement.run()
        if inserted is None:
            return StateWritten(PortalSession.objects.get(stripe_id=self.row.stripe_id), False)
        self.row.configuration_id = inserted[1]
        return StateWritten(self.row, True)


class _DiscountWrite:
    """A discount or coupon event (``webhooks.discounts``): rare, run as it comes."""

    def __init__(self, row: WebhookEvent, event: dict[str, Any]) -> None:
        self.row, self.event = row, event

    def run(self) -> StateWritten | None:
        apply = apply_coupon_event if self.row.type in COUPON_EVENTS else apply_discount_event
        written = apply(self.row, self.event)
        return None if written is None else StateWritten(written, True)


class _AuthorizationWrite:
    def __init__(self, account: str, event_type: str, event_time: datetime) -> None:
        self.statement = PreparedAuthorizationWrite(account, event_type, event_time)

    def run(self) -> StateWritten:
        return StateWritten(self.statement.row, self.statement.run())


class _EntitlementsWrite:
    def __init__(self, summary: dict[str, Any], event_time: datetime, account: str) -> None:
        self.statement: PreparedEntitlementsWrite = prepare_entitlements_write(
            summary, account=account, event_created_at=event_time
        )

    def run(self) -> StateWritten:
        write = self.statement.run()
        return StateWritten(write.row, write.applied, entitlements=write)


PreparedStateWrite = (
    SubscriptionStateWrite
    | SessionSeenWrite
    | _DiscountWrite
    | _AuthorizationWrite
    | _EntitlementsWrite
)


def prepare_state_write(
    row: WebhookEvent, event: dict[str, Any], meaning: Interpretation
) -> PreparedStateWrite | None:
    """The row write the event calls for, compiled but not sent (None: it writes none)."""
    obj: dict[str, Any] = event["data"]["object"]
    if row.type in SUBSCRIPTION_EVENTS:
        return SubscriptionStateWrite(
            event, row.created_at, meaning.subscription_status, row.account, meaning, row
        )
    if row.type in DISCOUNT_EVENTS or row.type in COUPON_EVENTS:
        return _DiscountWrite(row, event)
    if row.type in ACCOUNT_APPLICATION_EVENTS and row.account:
        return _AuthorizationWrite(row.account, row.type, row.created_at)
    if row.type == "billing_portal.session.created":
        return SessionSeenWrite(obj, row.created_at, row.account)
    if row.type in ENTITLEMENT_EVENTS:
        return _EntitlementsWrite(obj, row.created_at, row.account)
    return None
