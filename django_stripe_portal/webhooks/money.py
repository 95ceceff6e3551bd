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
from django_stripe_portal.models import StripeDiscount, StripeSubscription, WebhookEvent
from django_stripe_portal.state.discounts import (
    customer_discount,
    record_discount,
    save_run_rate,
    stored_discounts,
    subscriptions_to_reprice,
)
from django_stripe_portal.webhooks.interpret import Interpretation
from django_stripe_portal.webhooks.payload import id_of
from django_stripe_portal.webhooks.run_rate import (
    DiscountTerms,
    discount_terms,
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
_STATUS_ONLY_TYPES = ("customer.subscription.deleted", "customer.subscription.paused")


def _terms_of(stored: dict[str, dict[str, Any] | None]) -> dict[str, DiscountTerms]:
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
    carried = {**discounts_carried(before_obj), **discounts_carried(obj)}
    missing = [
        identifier
        for identifier in (*needed_discounts(after_basis), *needed_discounts(before_basis))
        if identifier not in carried
    ]
    known = _terms_of(stored_discounts(missing)) if missing else {}
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


def _discount_row(obj: dict[str, Any], row: WebhookEvent) -> StripeDiscount:
    terms = discount_terms(obj)
    source = obj.get("source")
    coupon = source.get("coupon") if isinstance(source, dict) else obj.get("coupon")
    return StripeDiscount(
        stripe_id=str(obj.get("id") or "")[:255],
        customer_id=id_of(obj.get("customer"))[:255],
        subscription_id=id_of(obj.get("subscription"))[:255],
        coupon_id=id_of(coupon)[:255],
        terms=terms.as_dict() if terms is not None else None,
        deleted=row.type == "customer.discount.deleted",
        account=row.account,
        livemode=row.livemode,
        event_created_at=row.created_at,
    )


def _coupon_months(obj: dict[str, Any]) -> int:
    source = obj.get("source")
    coupon = source.get("coupon") if isinstance(source, dict) else obj.get("coupon")
    if not isinstance(coupon, dict):
        return 0
    duration = coupon.get("duration")
    if duration == "repeating":
        return int(coupon.get("duration_in_months") or 0)
    if duration == "once":
        return 1
    return FOREVER_COST_MONTHS


def _with_discount(
    basis: dict[str, Any], discount: StripeDiscount, subscription_id: str
) -> dict[str, Any]:
    """The basis with a subscription's discount added (or, deleted, taken out): the event
    may come before the subscription update that names it."""
    if discount.subscription_id != subscription_id or not basis:
        return basis
    ids = [i for i in basis.get("discounts") or [] if i != discount.stripe_id]
    if not discount.deleted:
        ids.append(discount.stripe_id)
    return {**basis, "discounts": ids}


def _coupon_cost(obj: dict[str, Any], currency: str, before: int | None, at: int) -> int | None:
    """What the coupon gives away over its duration: a month's discount on the run rate
    before it, times its months (``once``: one; ``forever``: ``FOREVER_COST_MONTHS``)."""
    terms = discount_terms(obj)
    if terms is None or before is None:
        return None
    every_month = DiscountTerms(
        terms.percent_off, terms.amount_off, terms.currency, terms.currency_options
    )
    basis = {"currency": currency, "live": True, "items": [[str(before), []]], "discounts": ["d"]}
    after = monthly_amount(basis, {"d": every_month}, at=at)
    return None if after is None else (before - after) * _coupon_months(obj)


def apply_discount_event(row: WebhookEvent, event: dict[str, Any]) -> StripeDiscount | None:
    """Store the discount and recompute the run rate of the subscriptions it changes; the
    event's row gets the named subscription's figures (and, for a new discount, what the
    coupon gives away over its duration). Inside the event's transaction."""
    obj: dict[str, Any] = event["data"]["object"]
    discount = _discount_row(obj, row)
    if not discount.stripe_id or not discount.customer_id:
        return None
    if not record_discount(discount):
        return discount
    at = int(event["created"])
    subscriptions = subscriptions_to_reprice(
        discount.customer_id, row.account, discount.subscription_id
    )
    if not subscriptions:
        return discount
    ids = [i for sub in subscriptions for i in needed_discounts(sub.run_rate_basis or {})]
    ids.append(discount.stripe_id)
    terms = _terms_of(stored_discounts(ids))
    own = customer_discount(discount.customer_id, row.account)
    own_terms = DiscountTerms.from_dict(own) if own else None
    for subscription in subscriptions:
        basis = subscription.run_rate_basis or {}
        if not obj.get("subscription_item"):  # an item's discount comes with its item
            basis = _with_discount(basis, discount, subscription.stripe_id)
        before = subscription.monthly_amount
        after = monthly_amount(basis, terms, at=at, customer_discount=own_terms)
        if after != before or basis != subscription.run_rate_basis:
            save_run_rate(subscription, after, basis)
        if subscription.stripe_id == discount.subscription_id or not discount.subscription_id:
            row.currency = str(basis.get("currency") or "")[:3]
            row.run_rate_before, row.run_rate_after = before, after
    if row.type == "customer.discount.created":
        row.discount_cost = _coupon_cost(obj, row.currency, row.run_rate_before, at)
    WebhookEvent.objects.filter(pk=row.pk).update(
        **{name: getattr(row, name) for name in MONEY_FIELDS}
    )
    return discount
