"""Who may use the paid product: by plan (the stored subscription state) or by feature
(the stored active entitlements), each answered in one query.

Nothing here calls Stripe: ``StripeSubscription`` and ``ActiveEntitlements`` rows are
kept current by the webhooks, so a page view never waits on the API.

A customer is a ``cus_…`` or, for an Accounts v2 customer, the ``acct_…`` standing for
it (``customer_account``): rows Stripe wrote with either are found by either.

Every answer is about one Stripe account: ``account="acct_…"`` (a connected account),
``""`` (the platform), or by default the account ``ACCOUNT_RESOLVER`` names for
``request`` (the platform without a request). A merchant's customer is never taken
for a platform customer, nor the other way round. A connected account that has
disconnected from the platform (``account.application.deauthorized``) grants nothing.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url

from django_stripe_portal.conf import get_settings
from django_stripe_portal.models import ActiveEntitlements, StripeSubscription
from django_stripe_portal.portal.accounts import ACCOUNT_ID_RE, resolve_account
from django_stripe_portal.state.accounts import deauthorized_here
from django_stripe_portal.state.customers import (
    customer_q,
    customers_beside_account,
    is_customer_account,
    linked_customer_ids,
)


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
        return rows.filter(customer_q(customer_id))
    if not getattr(user, "is_authenticated", False):
        return rows.none()
    return rows.filter(customer_id__in=linked_customer_ids(user.pk, account))


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


def _entitlement_rows(
    user: Any, customer_id: str | None, account: str
) -> QuerySet[ActiveEntitlements]:
    """The rows of ``user`` (through its links) or ``customer_id`` on ``account`` in the
    current mode. Summaries name a ``cus_…`` only, so an Accounts v2 customer's
    ``acct_…`` is matched through the ``customer`` Stripe named beside it on its
    subscriptions and portal sessions."""
    if (user is None) == (customer_id is None):
        raise TypeError("Pass exactly one of user= or customer_id=.")
    rows = ActiveEntitlements.objects.filter(livemode=get_settings().livemode, account=account)
    if account:
        rows = rows.exclude(deauthorized_here())
    if customer_id is not None:
        if not is_customer_account(customer_id):
            return rows.filter(customer_id=customer_id)
        return rows.filter(customer_id__in=customers_beside_account(account, customer_id))
    if not getattr(user, "is_authenticated", False):
        return rows.none()
    return rows.filter(customer_id__in=linked_customer_ids(user.pk, account, with_sessions=True))


def entitlements(
    user: Any = None,
    customer_id: str | None = None,
    account: str | None = None,
    *,
    request: HttpRequest | None = None,
) -> frozenset[str]:
    """The lookup keys of the features ``user`` or ``customer_id`` may use on one account
    (see the module docstring), from the stored summaries: one query, none for anonymous."""
    rows = _entitlement_rows(user, customer_id, account_for(account, request))
    if rows.query.is_empty():
        return frozenset()
    keys: set[str] = set()
    for lookup_keys in rows.values_list("lookup_keys", flat=True):
        keys.update(str(key) for key in lookup_keys)
    return frozenset(keys)


def has_entitlement(
    lookup_key: str,
    user: Any = None,
    customer_id: str | None = None,
    account: str | None = None,
    *,
    request: HttpRequest | None = None,
) -> bool:
    """Whether the feature ``lookup_key`` (compared exactly, as Stripe does) is among
    :func:`entitlements`."""
    return lookup_key in entitlements(
        user=user, customer_id=customer_id, account=account, request=request
    )


def _refused_feature(request: HttpRequest, lookup_key: str) -> HttpResponse:
    """A signed-in user without the feature: ``ENTITLEMENT_REQUIRED_URL`` (a path, URL
    name or URL; where to buy it, say), else 403."""
    target = get_settings().ENTITLEMENT_REQUIRED_URL
    if not target:
        raise PermissionDenied(f"This page needs the feature {lookup_key!r}.")
    return HttpResponseRedirect(resolve_url(target))


def entitlement_required(lookup_key: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """View decorator: only users entitled to the feature ``lookup_key`` (on the request's
    account) see the view. A signed-out user goes to the login page and comes back; one
    without the feature gets 403, or is sent to ``ENTITLEMENT_REQUIRED_URL`` when set.
    Sync and async views alike; one query per request."""
    if not isinstance(lookup_key, str) or not lookup_key:
        raise TypeError("entitlement_required() takes the feature's lookup key, a string.")

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                user = await request.auser()
                if not user.is_authenticated:
                    return redirect_to_login(request.get_full_path())
                if not await sync_to_async(has_entitlement)(lookup_key, user, request=request):
                    return _refused_feature(request, lookup_key)
                return await view(request, *args, **kwargs)

            return async_wrapper

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_entitlement(lookup_key, request.user, request=request):
                return _refused_feature(request, lookup_key)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
