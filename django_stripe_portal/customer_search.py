"""Finding the customer a person means: by their name, email or username through the
``StripeCustomer`` link to the user (the admin's search boxes, ``portal_activity
--customer``). Events, visits and subscriptions carry only Stripe's ``customer_id``."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from django_stripe_portal.models import StripeCustomer

#: ``cus_NffrFeUfNV2Hib``, ``evt_…``, ``bps_…``: a lower-case prefix, an underscore, a token.
_STRIPE_ID_RE = re.compile(r"^[a-z]{2,8}_[A-Za-z0-9_]+$")
#: The user fields a name or email search reads (those the user model has).
_PERSON_FIELDS = ("first_name", "last_name", "email")


def person_fields() -> tuple[str, ...]:
    """The user model's fields a person is searched by: names and email where the model
    has them, and its username field."""
    user_model = get_user_model()
    field_names = {field.name for field in user_model._meta.get_fields()}
    wanted = [name for name in _PERSON_FIELDS if name in field_names]
    return tuple(dict.fromkeys([*wanted, user_model.USERNAME_FIELD]))


def customers_named(term: str) -> QuerySet[StripeCustomer, Any]:
    """The linked customer ids whose user's name, email or username contains ``term``:
    a subquery, so a list filters by it in the same statement."""
    match = Q()
    for name in person_fields():
        match |= Q(**{f"user__{name}__icontains": term})
    return StripeCustomer.objects.filter(match).values("customer_id")


def customer_id_for(term: str) -> str:
    """The customer a search box means: a ``cus_…`` id as given; else the one linked
    customer whose user has this email or username (any case); else the term itself."""
    if not term or term.startswith("cus_"):
        return term
    username = get_user_model().USERNAME_FIELD
    named = Q(**{f"user__{username}__iexact": term})
    if "email" in person_fields():
        named |= Q(user__email__iexact=term)
    found = list(StripeCustomer.objects.filter(named).values_list("customer_id", flat=True)[:2])
    return found[0] if len(found) == 1 else term


def looks_like_stripe_id(term: str) -> bool:
    """Whether a search word is a Stripe id (matched exactly) rather than part of a name."""
    return bool(_STRIPE_ID_RE.match(term))
