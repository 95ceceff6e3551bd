"""``PORTAL_GUARD``: where a customer goes instead of the portal, and a ready-made guard
that keeps customers away from a portal that cannot help them.

``subscription_states`` reads the customer's stored subscriptions (one query) and
answers a URL from ``GUARD_URLS``, or None to let the portal open:

* ``"none"``: the customer has never had a subscription;
* ``"ended"``: they had some, but every one is ``canceled`` or ``incomplete_expired``;
* a status (``"incomplete"``, ``"past_due"``, ``"unpaid"``, ``"paused"``, ``"trialing"``,
  ``"active"``): at least one live subscription is in it. When several named statuses
  apply, the first in that order wins.

Statuses not named in ``GUARD_URLS`` never redirect.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from django_stripe_portal.conf import SETTING_NAME, get_settings
from django_stripe_portal.models import StripeSubscription
from django_stripe_portal.portal.accounts import resolve_account
from django_stripe_portal.state.customers import customer_q
from django_stripe_portal.state.subscriptions import ENDED_STATUSES

#: Live statuses in the order they are looked at: the most urgent first.
LIVE_STATUS_ORDER = ("incomplete", "past_due", "unpaid", "paused", "trialing", "active")
NO_SUBSCRIPTION = "none"
ALL_ENDED = "ended"
GUARD_KEYS = (*LIVE_STATUS_ORDER, ALL_ENDED, NO_SUBSCRIPTION)


def guard_urls() -> dict[str, str]:
    """``GUARD_URLS`` checked: a typo must not silently let everyone through."""
    return checked_guard_urls(get_settings().GUARD_URLS)


def checked_guard_urls(value: object) -> dict[str, str]:
    """``value`` as a ``GUARD_URLS`` dict, or ``ImproperlyConfigured`` saying what is wrong."""
    urls = value or {}
    if not isinstance(urls, dict):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['GUARD_URLS'] must be a dict of status -> URL, not {type(urls)}."
        )
    unknown = sorted(set(urls) - set(GUARD_KEYS))
    if unknown:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['GUARD_URLS'] has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"use any of {', '.join(GUARD_KEYS)}."
        )
    return dict(urls)


def subscription_states(request: HttpRequest, customer_id: str) -> str | None:
    """Where to send ``customer_id`` instead of the portal, by their subscriptions' states
    on the request's account (``ACCOUNT_RESOLVER``)."""
    urls = guard_urls()
    if not urls:
        return None
    statuses = set(
        StripeSubscription.objects.filter(
            customer_q(customer_id),
            livemode=get_settings().livemode,
            account=resolve_account(request),
        ).values_list("status", flat=True)
    )
    if not statuses:
        return urls.get(NO_SUBSCRIPTION)
    live = statuses - set(ENDED_STATUSES)
    if not live:
        return urls.get(ALL_ENDED)
    for status in LIVE_STATUS_ORDER:
        if status in live and status in urls:
            return urls[status]
    return None


def guard_redirect(request: HttpRequest, customer_id: str) -> str | None:
    """Where ``PORTAL_GUARD`` sends this customer instead of the portal, if anywhere."""
    guard = get_settings().imported("PORTAL_GUARD")
    if guard is None:
        return None
    target = guard(request, customer_id)
    return str(target) if target else None
