"""What an event did to the run rate, kept on its ``WebhookEvent`` row at ingest
(``currency``, ``run_rate_before``, ``run_rate_after``, ``discount_cost``,
``cancel_reason``), so that ``activity.revenue`` sums columns and never reads a
payload (payloads may be pruned).

A subscription event's figures come from its payload: the object after, the object with
``previous_attributes`` over it before (``webhooks.run_rate``). The terms of discounts a
payload names by id only are read from the discounts stored from ``customer.discount.*``
events: one query, sent only for such a payload. A discount event changes the run rate of
the subscription it names (or of all the customer's, for the customer's own discount):
those are recomputed from their stored basis, here, inside the event's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django_stripe_portal.events import SUBSCRIPTION_EVENTS, ChangeKind
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from django_stripe_portal.state.discounts import (
    save_run_rate,
    stored_discounts,
)
from django_stripe_portal.webhooks.discount_terms import DiscountTerms
from django_stripe_portal.webhooks.interpret import Interpretation
from django_stripe_portal.webhooks.run_rate import (
    discounts_carried,
    monthly_amount,
    needed_discounts,
    run_rate_basis,
)

#: The columns of ``WebhookEvent`` this module fills.
MONEY_FIELDS = [
    "currency",
    "run_rate_before",
    "run_rate_after",
    "discount_cost",
    "cancel_reason",
]
#: The months a ``forever`` coupon's cost is counted for (``docs/activity.md``).
FOREVER_COST_MONTHS = 12
_CANCELLATIONS = (ChangeKind.CANCELED, ChangeKind.CANCEL_SCHEDULED)


@dataclass
class EventMoney:
    currency: str = ""
    before: int | None = None
    after: int | None = None
    #: Terms of the discounts the payload named by id only, as stored (for the row write).
    known: dict[str, DiscountTerms] = field(default_factory=dict)
    #: What the subscription row gets: currency, monthly_amount, run_rate_basis.
    row_values: dict[str, Any] | None = None


#: Fields of ``previous_attributes`` that can change the run rate.
_RUN_RATE_FIELDS = frozenset(
    ("items", "plan", "quantity", "status", "pause_collection", "discounts", "discount")
)
#: Fields ``run_rate.discounts_carried`` reads: where ``previous_attributes`` names none,
#: the object before carries the discounts it carries after.
_CARRIED_FIELDS = frozenset(("discounts", "discount", "items", "plan", "quantity"))
_STATUS_ONLY_TYPES = ("customer.subscription.deleted", "customer.subscription.paused")


def terms_of(stored: dict[str, dict[str, Any] | None]) -> dict[str, DiscountTerms]:
    """Stored terms as ``DiscountTerms`` (discounts whose coupon is unknown left out)."""
    return {key: DiscountTerms.from_dict(terms) for key, terms in stored.items() if terms}


def _before_object(
    event_type: str, obj: dict[str, Any], previous: dict[str, Any], at: int
) -> dict[str, Any]:
    """The subscription as it was before the event. A deletion or a pause rarely says the
    status it left: it was paying, unless its trial had not ended yet."""
    before = {**obj, **previous}  # fields absent from previous_attributes did not change
    if event_type in ("customer.subscription.deleted", "customer.subscription.paused") and (
        "status" not in previous
    ):
        ended = obj.get("ended_at") or at
        trial_end = obj.get("trial_end")
        trialing = isinstance(trial_end, int) and trial_end > int(ended or 0)
        before["status"] = "trialing" if trialing else "active"
        if event_type == "customer.subscription.paused":
            before["pause_collection"] = previous.get("pause_collection")
    return before


def subscription_event_money(event: dict[str, Any]) -> EventMoney:
    """Currency and run rate before and after a ``customer.subscription.*`` event."""
    event_type: str = event["type"]
    obj: dict[str, Any] = event["data"]["object"]
    previous: dict[str, Any] = event["data"].get("previous_attributes") or {}
    at = int(event["created"])
    after_basis = run_rate_basis(obj)
    before_obj = _before_object(event_type, obj, previous, at)
    changed = event_type in _STATUS_ONLY_TYPES or not _RUN_RATE_FIELDS.isdisjoint(previous)
    before_basis = run_rate_basis(before_obj) if changed else after_basis
    carried = discounts_carried(obj)
    if not _CARRIED_FIELDS.isdisjoint(previous):  # else before carries the same discounts
        carried = {**discounts_carried(before_obj), **carried}
    missing = [
        identifier
        for identifier in (*needed_discounts(after_basis), *needed_discounts(before_basis))
        if identifier not in carried
    ]
    known = terms_of(stored_discounts(missing)) if missing else {}
    terms = {**known, **carried}
    after = monthly_amount(after_basis, terms, at=at)
    if event_type == "customer.subscription.created":
        before: int | None = 0
    else:
        before = monthly_amount(before_basis, terms, at=at)
    currency = str(after_basis["currency"] or before_basis["currency"])[:3]
    row_values = {
        "currency": str(after_basis["currency"])[:3],
        "monthly_amount": after,
        "run_rate_basis": after_basis,
    }
    return EventMoney(currency, before, after, known, row_values)


def feedback_of(meaning: Interpretation) -> str:
    """A cancellation's reason as the report groups it: the custom option, else Stripe's."""
    if not any(kind in meaning.kinds for kind in _CANCELLATIONS):
        return ""
    details = meaning.cancellation_details
    return str(details.get("feedback_option") or details.get("feedback") or "")[:255]


def read_event_money(
    row: WebhookEvent, event: dict[str, Any], meaning: Interpretation
) -> EventMoney:
    """Fill ``row``'s money columns a subscription event sets (before it is inserted)."""
    row.cancel_reason = feedback_of(meaning)
    if row.type not in SUBSCRIPTION_EVENTS:
        return EventMoney()
    try:
        money = subscription_event_money(event)
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError):
        return EventMoney()  # previous_attributes the app cannot read: no figures
    row.currency, row.run_rate_before, row.run_rate_after = (
        money.currency,
        money.before,
        money.after,
    )
    return money


def with_customer_discount(
    subscription: StripeSubscription, terms: dict[str, Any], row: WebhookEvent, at: int
) -> None:
    """The customer has a discount of their own (the subscription write read its terms):
    apply it to a subscription without discounts of its own, and to the event's figures.
    Two UPDATEs, for such customers only."""
    basis = subscription.run_rate_basis or {}
    if not basis or needed_discounts(basis):
        return
    customer_terms = DiscountTerms.from_dict(terms)
    amount = monthly_amount(basis, {}, at=at, customer_discount=customer_terms)
    if amount != subscription.monthly_amount:
        save_run_rate(subscription, amount, basis)
    for name in ("run_rate_before", "run_rate_after"):
        value = getattr(row, name)
        if value:
            figure_basis = {"currency": row.currency, "live": True, "items": [[str(value), []]]}
            figure = monthly_amount(figure_basis, {}, at=at, customer_discount=customer_terms)
            setattr(row, name, figure)
    if row.pk is not None:
        WebhookEvent.objects.filter(pk=row.pk).update(
            run_rate_before=row.run_rate_before, run_rate_after=row.run_rate_after
        )
