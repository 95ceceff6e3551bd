"""Which Stripe account a request is about (Connect): ``ACCOUNT_RESOLVER`` and
``ON_BEHALF_OF_RESOLVER``, their answers checked before anything is sent.

``""`` is the platform everywhere (the ``account`` column of every model): a resolver
answering ``None`` (or ``""``) means the platform. Anything else that is not an
``acct_…`` id is a bug in the host's resolver; it raises :class:`AccountResolverError`
so that no request goes to Stripe with a header or a parameter nobody meant.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest

from django_stripe_portal.conf import SETTING_NAME, get_settings
from django_stripe_portal.exceptions import AccountResolverError

ACCOUNT_ID_RE = re.compile(r"acct_[A-Za-z0-9]{1,250}")
#: A ``Stripe-Context`` value: ids joined by ``/`` (an organization's account, then a
#: connected account …); nothing that could end or extend the header.
STRIPE_CONTEXT_RE = re.compile(r"[A-Za-z0-9_]{1,255}(/[A-Za-z0-9_]{1,255}){0,7}")
PLATFORM = ""

# The answer of ACCOUNT_RESOLVER, remembered on the request: the customer lookup, the
# guard, the configuration and the session all ask, and must all get the same answer.
_MEMO = "_stripe_portal_account"


def checked_account_id(value: Any, setting: str) -> str:
    """``value`` as an account id (``""``: the platform), or :class:`AccountResolverError`."""
    if value is None or value == "":
        return PLATFORM
    if isinstance(value, str) and ACCOUNT_ID_RE.fullmatch(value):
        return value
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise AccountResolverError(
        f"{SETTING_NAME}[{setting!r}] returned {shown}, which is not a connected account id: "
        "return a Stripe account id (acct_…) or None for the platform. Nothing was sent "
        "to Stripe.",
        setting=setting,
    )


def resolve_account(request: HttpRequest | None) -> str:
    """The connected account ``ACCOUNT_RESOLVER`` names for ``request``, ``""`` for the
    platform (also without a resolver, or without a request)."""
    if request is None:
        return PLATFORM
    try:
        memo = getattr(request, _MEMO)
    except AttributeError:
        pass
    else:
        return str(memo)
    resolver = get_settings().imported("ACCOUNT_RESOLVER")
    account = (
        PLATFORM if resolver is None else checked_account_id(resolver(request), "ACCOUNT_RESOLVER")
    )
    setattr(request, _MEMO, account)
    return account


def resolve_on_behalf_of(request: HttpRequest, customer_id: str, *, account: str) -> str:
    """The session's ``on_behalf_of`` (``""``: none), from ``ON_BEHALF_OF_RESOLVER``.

    ``on_behalf_of`` filters a *platform* customer's portal to what was charged on behalf
    of one connected account (destination charges); a customer that lives on a
    connected account (``account``) has nothing of the kind, so the two together are
    refused rather than sent.
    """
    resolver = get_settings().imported("ON_BEHALF_OF_RESOLVER")
    if resolver is None:
        return ""
    on_behalf_of = checked_account_id(resolver(request, customer_id), "ON_BEHALF_OF_RESOLVER")
    if on_behalf_of and account:
        raise AccountResolverError(
            f"{SETTING_NAME}['ON_BEHALF_OF_RESOLVER'] returned {on_behalf_of!r} for a customer "
            f"on the connected account {account!r} (ACCOUNT_RESOLVER): on_behalf_of is for "
            "customers on the platform (destination charges). Return None from one of the two "
            "resolvers for this request. Nothing was sent to Stripe.",
            setting="ON_BEHALF_OF_RESOLVER",
        )
    return on_behalf_of


def checked_stripe_context(value: Any, setting: str) -> str:
    """``value`` as a ``Stripe-Context`` (``""``: none), or :class:`AccountResolverError`."""
    if value is None or value == "":
        return ""
    if isinstance(value, str) and STRIPE_CONTEXT_RE.fullmatch(value):
        return value
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise AccountResolverError(
        f"{SETTING_NAME}[{setting!r}] is {shown}, which is not a Stripe-Context: give the "
        "ids Stripe names the context by, joined by '/' (e.g. 'acct_…'), or None. Nothing "
        "was sent to Stripe.",
        setting=setting,
    )


def resolve_stripe_context(request: HttpRequest | None) -> str:
    """The ``Stripe-Context`` of this request's calls (organization API keys):
    ``CONTEXT_RESOLVER``'s answer, else ``STRIPE_CONTEXT``, else ``""`` (none)."""
    conf = get_settings()
    resolver = conf.imported("CONTEXT_RESOLVER")
    if resolver is not None and request is not None:
        answer = checked_stripe_context(resolver(request), "CONTEXT_RESOLVER")
        if answer:
            return answer
    return checked_stripe_context(conf.STRIPE_CONTEXT, "STRIPE_CONTEXT")
