"""Discounts as ``customer.discount.*`` events told them, and the run rates they change.

Rows only: the arithmetic is ``webhooks.run_rate``'s; this module stores what it needs
(a discount's terms, a subscription's new figure) and reads it back in one query.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q

from django_stripe_portal.models import StripeCoupon, StripeDiscount, StripeSubscription
from django_stripe_portal.state.row_writes import PreparedInsert
from django_stripe_portal.state.subscriptions import ENDED_STATUSES

_UPDATED_FIELDS = [
    "customer_id",
    "subscription_id",
    "coupon_id",
    "terms",
    "end",
    "deleted",
    "account",
    "livemode",
    "event_created_at",
]


def record_discount(row: StripeDiscount) -> bool:
    """Upsert the discount unless a newer event wrote it (one statement); a deleted
    discount stays deleted. False: the stored row was newer and kept."""
    table = StripeDiscount._meta.db_table
    statement = PreparedInsert(
        row,
        unique_fields=["stripe_id"],
        update_fields=_UPDATED_FIELDS,
        update_when=(
            f"{table}.event_created_at <= EXCLUDED.event_created_at "
            f"AND (EXCLUDED.deleted OR NOT {table}.deleted)"
        ),
    )
    return statement.run() is not None


def record_coupon(row: StripeCoupon) -> bool:
    """Upsert the coupon's terms unless a newer event wrote them (one statement)."""
    table = StripeCoupon._meta.db_table
    statement = PreparedInsert(
        row,
        unique_fields=["stripe_id", "account"],
        update_fields=["terms", "livemode", "event_created_at"],
        update_when=f"{table}.event_created_at <= EXCLUDED.event_created_at",
    )
    return statement.run() is not None


def waiting_for_coupon(coupon_id: str, account: str) -> list[StripeDiscount]:
    """Discounts that named this coupon by id only: their terms were not known."""
    return list(
        StripeDiscount.objects.filter(
            coupon_id=coupon_id, account=account, terms__isnull=True, deleted=False
        )
    )


def stored_discounts(ids: Iterable[str]) -> dict[str, dict[str, Any] | None]:
    """``{di_…: terms}`` of the stored, not deleted discounts among ``ids`` (one query;
    terms None when the coupon was named by id only)."""
    wanted = [identifier for identifier in set(ids) if identifier]
    if not wanted:
        return {}
    rows = StripeDiscount.objects.filter(stripe_id__in=wanted, deleted=False)
    return dict(rows.values_list("stripe_id", "terms"))


def customer_discount(customer_id: str, account: str) -> dict[str, Any] | None:
    """The terms of the customer's own discount (not a subscription's), if one is stored."""
    row = (
        StripeDiscount.objects.filter(
            customer_id=customer_id, account=account, subscription_id="", deleted=False
        )
        .order_by("-event_created_at")
        .values_list("terms", flat=True)
        .first()
    )
    return row


def subscriptions_to_reprice(
    customer_id: str, account: str, subscription_id: str
) -> list[StripeSubscription]:
    """The stored live subscriptions a discount may change: the one it names, or all of
    the customer's for the customer's own discount."""
    scope = Q(stripe_id=subscription_id) if subscription_id else Q(customer_id=customer_id)
    return list(
        StripeSubscription.objects.filter(scope, account=account)
        .exclude(status__in=ENDED_STATUSES)
        .exclude(run_rate_basis__isnull=True)
    )


def save_run_rate(
    subscription: StripeSubscription, amount: int | None, basis: dict[str, Any]
) -> None:
    """Write a new run rate (and its basis) onto a stored subscription, nothing else."""
    subscription.monthly_amount, subscription.run_rate_basis = amount, basis
    StripeSubscription.objects.filter(pk=subscription.pk).update(
        monthly_amount=amount, run_rate_basis=basis
    )
