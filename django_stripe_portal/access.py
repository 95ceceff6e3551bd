"""Who may use the paid product: answered from the stored subscription state, in one query.

Nothing here calls Stripe: ``StripeSubscription`` rows are kept current by the
webhooks, so a page view never waits on the API.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from django_stripe_portal.conf import get_settings
from django_stripe_portal.models import StripeCustomer, StripeSubscription


def active_subscriptions(
    user: Any = None, customer_id: str | None = None
) -> QuerySet[StripeSubscription]:
    """The subscriptions in ``ACTIVE_STATUSES`` (current mode) of ``user`` or ``customer_id``.

    Pass ``user`` to go through its ``StripeCustomer`` link (a subquery: still one query),
    or ``customer_id`` when the host keeps the customer id elsewhere. Lazy, like any queryset.
    """
    conf = get_settings()
    if (user is None) == (customer_id is None):
        raise TypeError("Pass exactly one of user= or customer_id=.")
    rows = StripeSubscription.objects.filter(
        status__in=list(conf.ACTIVE_STATUSES), livemode=conf.livemode
    )
    if customer_id is not None:
        return rows.filter(customer_id=customer_id)
    if not getattr(user, "is_authenticated", False):
        return rows.none()
    linked = StripeCustomer.objects.filter(user_id=user.pk).values("customer_id")
    return rows.filter(customer_id__in=linked)


def has_active_subscription(user: Any = None, customer_id: str | None = None) -> bool:
    """Whether ``active_subscriptions`` holds anything: one EXISTS query, none for anonymous."""
    subscriptions = active_subscriptions(user=user, customer_id=customer_id)
    if subscriptions.query.is_empty():
        return False
    return subscriptions.exists()
