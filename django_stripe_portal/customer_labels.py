"""How a person is named wherever the app shows a customer (``CUSTOMER_LABEL``).

Pages, exports and at-risk lists are read by people who act on *who*: a name, else an
email, else a username; the ``cus_…`` id only where no user is linked. Labels are looked
up in one query for a whole list, never one query a row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db import router

from django_stripe_portal.conf import get_settings
from django_stripe_portal.id_lists import field_in
from django_stripe_portal.models import PortalSession, StripeCustomer, StripeSubscription


def default_customer_label(user: Any) -> str:
    """The user's full name, else their email, else their username."""
    full_name = ""
    get_full_name = getattr(user, "get_full_name", None)
    if callable(get_full_name):
        full_name = str(get_full_name() or "").strip()
    if full_name:
        return full_name
    email = str(getattr(user, "email", "") or "").strip()
    if email:
        return email
    return str(user.get_username() if hasattr(user, "get_username") else user)


def label_for_user(user: Any) -> str:
    """``CUSTOMER_LABEL(user)``; a label function that fails or answers nothing falls back
    to the default, so one odd user never breaks a page."""
    label_function = _label_function()
    try:
        label = label_function(user)
    except Exception:
        label = ""
    return str(label).strip() if label else default_customer_label(user)


def customer_labels(customer_ids: Iterable[str], *, account: str | None = None) -> dict[str, str]:
    """``{customer id: label}`` for every id given: the linked user's label, else the id.

    ``account`` limits the links to one account (``""`` the platform); ``None`` takes a
    link on any account, the platform's first.
    """
    wanted = {customer_id for customer_id in customer_ids if customer_id}
    labels = {customer_id: customer_id for customer_id in wanted}
    if not wanted:
        return labels
    found = _labels_of_links(wanted, account)
    labels.update(found)
    unlinked = wanted - set(found)
    if unlinked:
        # An Accounts v2 customer is linked by its acct_…; its rows name Stripe's cus_…
        # beside it (customer_account): label the cus_… by the account's link.
        accounts = _customer_accounts_of(unlinked)
        by_account = _labels_of_links(set(accounts.values()), account)
        for customer_id, customer_account in accounts.items():
            if customer_account in by_account:
                labels[customer_id] = by_account[customer_account]
    return labels


def _labels_of_links(ids: set[str], account: str | None) -> dict[str, str]:
    if not ids:
        return {}
    using = router.db_for_read(StripeCustomer)
    links = StripeCustomer.objects.filter(field_in("customer_id", ids, using=using))
    links = links.select_related("user")
    if account is not None:
        links = links.filter(account=account)
    labels = {}
    for link in links.order_by("-account"):  # the platform's ("") is written last, so it wins
        labels[link.customer_id] = label_for_user(link.user)
    return labels


def _customer_accounts_of(customer_ids: set[str]) -> dict[str, str]:
    """``{cus_…: acct_…}`` for the customers whose rows say an Account stands for them."""
    using = router.db_for_read(StripeSubscription)
    pairs = (
        StripeSubscription.objects.filter(field_in("customer_id", customer_ids, using=using))
        .exclude(customer_account="")
        .values_list("customer_id", "customer_account")
        .union(
            PortalSession.objects.filter(field_in("customer_id", customer_ids, using=using))
            .exclude(customer_account="")
            .values_list("customer_id", "customer_account")
        )
    )
    return dict(pairs)


def _label_function() -> Callable[[Any], Any]:
    function = get_settings().imported("CUSTOMER_LABEL")
    return function if function is not None else default_customer_label
