"""Discount and coupon events: what they change in the run rate.

``customer.discount.*`` stores the discount (``StripeDiscount``) and recomputes the run
rate of the subscription it names, or of all the customer's for the customer's own
discount, from their stored ``run_rate_basis``. Since API 2025-09-30 a discount names
its coupon by id: the terms then come from the coupon the app stored from ``coupon.*``
events (``StripeCoupon``), and a coupon that arrives later fills the discounts waiting
for it. Inside the event's transaction; discount and coupon events are rare.
"""

from __future__ import annotations

from typing import Any

from django_stripe_portal.models import StripeCoupon, StripeDiscount, WebhookEvent
from django_stripe_portal.state.discounts import (
    customer_discount,
    record_coupon,
    record_discount,
    save_run_rate,
    stored_discounts,
    subscriptions_to_reprice,
    waiting_for_coupon,
)
from django_stripe_portal.webhooks.discount_terms import DiscountTerms, coupon_terms, discount_terms
from django_stripe_portal.webhooks.money import FOREVER_COST_MONTHS, MONEY_FIELDS, terms_of
from django_stripe_portal.webhooks.payload import id_of
from django_stripe_portal.webhooks.run_rate import (
    monthly_amount,
    needed_discounts,
)


def _coupon_of(obj: dict[str, Any]) -> Any:
    source = obj.get("source")
    return source.get("coupon") if isinstance(source, dict) else obj.get("coupon")


def _discount_row(obj: dict[str, Any], row: WebhookEvent) -> StripeDiscount:
    terms = discount_terms(obj)
    coupon_id = id_of(_coupon_of(obj))[:255]
    end = obj.get("end") if isinstance(obj.get("end"), int) else None
    if terms is None and coupon_id:
        known = (
            StripeCoupon.objects.filter(stripe_id=coupon_id, account=row.account)
            .values_list("terms", flat=True)
            .first()
        )
        if known:
            terms = DiscountTerms.from_dict({**known, "end": end})
    return StripeDiscount(
        stripe_id=str(obj.get("id") or "")[:255],
        customer_id=id_of(obj.get("customer"))[:255],
        subscription_id=id_of(obj.get("subscription"))[:255],
        coupon_id=coupon_id,
        terms=terms.as_dict() if terms is not None else None,
        end=end,
        deleted=row.type == "customer.discount.deleted",
        account=row.account,
        livemode=row.livemode,
        event_created_at=row.created_at,
    )


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


def _coupon_cost(
    terms: DiscountTerms | None, currency: str, before: int | None, at: int
) -> int | None:
    """What the coupon gives away over its duration: a month's discount on the run rate
    before it, times its months (``once``: one; ``forever``: ``FOREVER_COST_MONTHS``)."""
    if terms is None or before is None:
        return None
    months = {"once": 1, "repeating": terms.months or 0}.get(terms.duration, FOREVER_COST_MONTHS)
    every_month = DiscountTerms(
        terms.percent_off, terms.amount_off, terms.currency, terms.currency_options
    )
    basis = {"currency": currency, "live": True, "items": [[str(before), []]], "discounts": ["d"]}
    after = monthly_amount(basis, {"d": every_month}, at=at)
    return None if after is None else (before - after) * months


def _reprice(
    discount: StripeDiscount, account: str, at: int, row: WebhookEvent | None, item_level: bool
) -> None:
    """Recompute the subscriptions the discount changes; ``row`` (the event) gets the
    figures of the subscription it names."""
    subscriptions = subscriptions_to_reprice(
        discount.customer_id, account, discount.subscription_id
    )
    if not subscriptions:
        return
    ids = [i for sub in subscriptions for i in needed_discounts(sub.run_rate_basis or {})]
    terms = terms_of(stored_discounts([*ids, discount.stripe_id]))
    own = customer_discount(discount.customer_id, account)
    own_terms = DiscountTerms.from_dict(own) if own else None
    for subscription in subscriptions:
        basis = subscription.run_rate_basis or {}
        if not item_level:  # an item's discount comes with its item
            basis = _with_discount(basis, discount, subscription.stripe_id)
        before = subscription.monthly_amount
        after = monthly_amount(basis, terms, at=at, customer_discount=own_terms)
        if after != before or basis != subscription.run_rate_basis:
            save_run_rate(subscription, after, basis)
        if row is not None and (
            subscription.stripe_id == discount.subscription_id or not discount.subscription_id
        ):
            row.currency = str(basis.get("currency") or "")[:3]
            row.run_rate_before, row.run_rate_after = before, after


def apply_discount_event(row: WebhookEvent, event: dict[str, Any]) -> StripeDiscount | None:
    """Store the discount and recompute the run rates it changes; the event's row gets
    the named subscription's figures and, for a new discount, what its coupon gives away
    over its duration."""
    obj: dict[str, Any] = event["data"]["object"]
    discount = _discount_row(obj, row)
    if not discount.stripe_id or not discount.customer_id:
        return None
    if not record_discount(discount):
        return discount
    at = int(event["created"])
    _reprice(discount, row.account, at, row, bool(obj.get("subscription_item")))
    if row.type == "customer.discount.created":
        terms = DiscountTerms.from_dict(discount.terms) if discount.terms else None
        row.discount_cost = _coupon_cost(terms, row.currency, row.run_rate_before, at)
    WebhookEvent.objects.filter(pk=row.pk).update(
        **{name: getattr(row, name) for name in MONEY_FIELDS}
    )
    return discount


def apply_coupon_event(row: WebhookEvent, event: dict[str, Any]) -> StripeCoupon | None:
    """Store a coupon's terms, and give them to the discounts that named it by id only
    (their subscriptions' run rates recomputed). A deleted coupon keeps its terms: the
    discounts made from it go on."""
    obj: dict[str, Any] = event["data"]["object"]
    terms = coupon_terms(obj)
    coupon_id = str(obj.get("id") or "")[:255]
    if terms is None or not coupon_id:
        return None
    coupon = StripeCoupon(
        stripe_id=coupon_id,
        account=row.account,
        livemode=row.livemode,
        terms=terms.as_dict(),
        event_created_at=row.created_at,
    )
    if not record_coupon(coupon):
        return coupon
    at = int(event["created"])
    for discount in waiting_for_coupon(coupon_id, row.account):
        with_end = DiscountTerms.from_dict({**terms.as_dict(), "end": discount.end})
        discount.terms = with_end.as_dict()
        discount.save(update_fields=["terms"])
        _reprice(discount, row.account, at, None, item_level=False)
    return coupon
