"""Which Stripe customer a signed-in user is: ``CUSTOMER_RESOLVER``, its default (the
user's ``StripeCustomer`` link on the request's account) and the link writer."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from django_stripe_portal.conf import get_settings
from django_stripe_portal.exceptions import PortalRequestError
from django_stripe_portal.models import StripeCustomer
from django_stripe_portal.portal.accounts import ACCOUNT_ID_RE, resolve_account

CUSTOMER_ID_RE = re.compile(r"^cus_[A-Za-z0-9]+$")


def linked_customer(request: HttpRequest) -> str | None:
    """Default ``CUSTOMER_RESOLVER``: the customer linked to ``request.user`` on the
    request's account (``ACCOUNT_RESOLVER``; the platform without one), if any."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    customer_id: str | None = (
        StripeCustomer.objects.filter(user_id=user.pk, account=resolve_account(request))
        .values_list("customer_id", flat=True)
        .first()
    )
    return customer_id


def link_customer(
    user: Any,
    customer_id: str,
    account: str | None = None,
    *,
    livemode: bool | None = None,
) -> StripeCustomer:
    """Link ``user`` to ``customer_id`` on ``account`` (None or "": the platform),
    replacing an earlier link of that user on the same account.

    ``customer_id`` is a ``cus_…``, or the ``acct_…`` of an Accounts v2 customer (then
    kept in ``customer_account`` too, and sessions are created with ``customer_account``).
    """
    customer_id = customer_id or ""
    is_account = bool(ACCOUNT_ID_RE.fullmatch(customer_id))
    if not (CUSTOMER_ID_RE.match(customer_id) or is_account):
        raise ValueError(
            f"{customer_id!r} is not a Stripe customer id (cus_…) nor the account (acct_…) "
            "of an Accounts v2 customer."
        )
    if account and not ACCOUNT_ID_RE.fullmatch(account):
        raise ValueError(
            f"account={account!r} is not a connected account id (acct_…); "
            "pass None for the platform."
        )
    if livemode is None:
        livemode = get_settings().livemode
    link, _ = StripeCustomer.objects.update_or_create(
        user=user,
        account=account or "",
        defaults={
            "customer_id": customer_id,
            "customer_account": customer_id if is_account else "",
            "livemode": livemode,
        },
    )
    return link


def resolve_customer(request: HttpRequest) -> str:
    """The customer from ``CUSTOMER_RESOLVER``; never from anything the user sent."""
    resolver = get_settings().imported("CUSTOMER_RESOLVER")
    customer_id = resolver(request) if resolver is not None else None
    if not customer_id:
        raise PortalRequestError(
            _("There is no billing account for you yet."), code="no_customer", status=404
        )
    return str(customer_id)
