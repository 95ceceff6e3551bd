"""Connect in the stand-in: one connected account, and ``Stripe-Account`` honoured.

A request with ``Stripe-Account: acct_…`` acts *as* that account, as on Stripe:
customers, subscriptions, payment methods, portal configurations, sessions and
events made in it belong to it, and neither the platform nor another account sees
them (a lookup answers "No such …", a list leaves them out). Its events carry
``account`` and are signed with the Connect endpoint's secret. An unknown account
is refused as Stripe refuses it.

Simplified: the product catalogue is shared by every account (on Stripe each
account has its own products and prices).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

PLATFORM = ""

#: The demo's merchant: a connected account of the platform, and its name.
DEMO_MERCHANT_ACCOUNT = "acct_1StandinBakery01"
CONNECTED_ACCOUNTS: dict[str, str] = {DEMO_MERCHANT_ACCOUNT: "Ada's Bakery"}

#: The collections whose objects belong to one account; the catalogue is shared.
SCOPED_COLLECTIONS = (
    "customers",
    "subscriptions",
    "payment_methods",
    "configurations",
    "sessions",
    "events",
)

_acting = threading.local()


def acting_account() -> str:
    """The account the current request acts as (``""``: the platform)."""
    return str(getattr(_acting, "account", PLATFORM))


@contextmanager
def acting_as(account: str) -> Iterator[None]:
    """Act as ``account`` in this thread for the block (one request)."""
    before = acting_account()
    _acting.account = account
    try:
        yield
    finally:
        _acting.account = before


def refusal_for(account: str | None) -> str | None:
    """Stripe's message for a ``Stripe-Account`` the platform cannot act as, or None."""
    if not account or account in CONNECTED_ACCOUNTS:
        return None
    return (
        "The provided key 'sk_test_…' does not have access to account "
        f"'{account}' (or that account does not exist). Application access may have been "
        f"revoked. The stand-in knows the connected account {DEMO_MERCHANT_ACCOUNT} only."
    )
