"""Who may use the paid product: answered from the stored subscription state, in one query.

Nothing here calls Stripe: ``StripeSubscription`` rows are kept current by the
webhooks, so a page view never waits on the API.

Every answer is about one Stripe account: ``account="acct_…"`` (a connected account),
``""`` (the platform), or by default the account ``ACCOUNT_RESOLVER`` names for
``request`` (the platform without a request). A merchant's customer is never taken
for a platform customer, nor the other way round. A connected account that has
disconnected from the platform (``account.application.deauthorized``) grants nothing.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

from django_stripe_portal.conf import get_settings
from django_stripe_portal.models import StripeCustomer, StripeSubscription
from django_stripe_portal.portal.accounts import ACCOUNT_ID_RE, resolve_account
from django_stripe_portal.state.accounts import deauthorized_here


def account_for(account: str | None, request: HttpRequest | None) -> str:
    """``account`` checked, or when it is None the request's account (``""``: the platform)."""
    if account is None:
        return resolve_account(request)
    if account == "" or (isinstance(account, str) and ACCOUNT_ID_RE.fullmatch(account)):
        return account
    raise ValueError(
        f'account={account!r} is not a connected account id: pass an acct_… id, "" for '
        "the platform, or leave it out for the account ACCOUNT_RESOLVER names."
    )


def active_subscriptions(
    user: Any = None,
    customer_id: str | None = None,
    account: str | None = None,
    *,
    request: HttpRequest | None = None,
) -> QuerySet[StripeSubscription]:
    """The subscriptions in ``ACTIVE_STATUSES`` (current mode) of ``user`` or ``customer_id``
    on one account (see the module docstring).

    Pass ``user`` to go through its ``StripeCustomer`` link on that account (a subquery:
    still one query), or ``customer_id`` when the host keeps the customer id elsewhere.
    Lazy, like any queryset.
    """
    conf = get_settings()
    if (user is None) == (customer_id is None):
        raise TypeError("Pass exactly one of user= or customer_id=.")
    account = account_for(account, request)
    rows = StripeSubscription.objects.filter(
        status__in=list(conf.ACTIVE_STATUSES), livemode=conf.livemode, account=account
    )
    if account:
        rows = rows.exclude(deauthorized_here())
    if customer_id is not None:
        return rows.filter(customer_id=customer_id)
    if not getattr(user, "is_authenticated", False):
        return rows.none()
    linked = StripeCustomer.objects.filter(user_id=user.pk, account=account).values("customer_id")
    return rows.filter(customer_id__in=linked)


def has_active_subscription(
    user: Any = None,
    customer_id: str | None = None,
    account: str | None = None,
    *,
    request: HttpRequest | None = None,
) -> bool:
    """Whether ``active_subscriptions`` holds anything: one EXISTS query, none for anonymous."""
    subscriptions = active_subscriptions(
        user=user, customer_id=customer_id, account=account, request=request
    )
    if subscriptions.query.is_empty():
        return False
    return subscriptions.exists()
