"""The demo's Connect side: the merchant (a connected account) some users are customers of.

"A merchant's customer" is billed on the merchant's own Stripe account (direct charges):
their customer, subscription, portal configuration and portal sessions live there, and
the app reaches them with ``Stripe-Account``. The demo's rule for which account a
request is about is the simplest there is: a user linked to a customer on a connected
account (and none on the platform) is that merchant's customer. A marketplace would
rather read the storefront the request is on (a subdomain, a path).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest

from django_stripe_portal.models import StripeCustomer


def merchant_of_request(request: HttpRequest) -> str | None:
    """``ACCOUNT_RESOLVER``: the connected account the signed-in user is a customer of."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    links = StripeCustomer.objects.filter(user_id=user.pk)
    if links.filter(account="").exists():
        return None
    account: str | None = links.values_list("account", flat=True).first()
    return account


def merchant_accounts() -> Iterable[str]:
    """``CONNECTED_ACCOUNTS``: the accounts whose portal configurations the demo manages."""
    return [settings.DEMO_MERCHANT_ACCOUNT] if settings.DEMO_MERCHANT_ACCOUNT else []
