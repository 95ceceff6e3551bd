"""Connected accounts that have disconnected from the platform.

``account.application.deauthorized`` (delivered to the Connect endpoint) says the
platform lost access to an account: no further events of that account will arrive,
so its stored subscriptions would look ``active`` forever. Nothing is deleted (the
rows are the history of that merchant's customers, and the account may connect
again); instead an account whose latest ``account.application.*`` event is a
deauthorization grants no access (``django_stripe_portal.access``) and opens no
portal. ``account.application.authorized`` afterwards lifts that again.

Read from the stored, verified ``WebhookEvent`` rows: no extra table, and a
subquery, so the access helpers stay one query.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from django_stripe_portal.events import ACCOUNT_APPLICATION_EVENTS
from django_stripe_portal.models import WebhookEvent

AUTHORIZED, DEAUTHORIZED = ACCOUNT_APPLICATION_EVENTS


def _deauthorizations_in_force() -> QuerySet[WebhookEvent]:
    """Deauthorization events not followed by an authorization of the same account."""
    later_authorization = WebhookEvent.objects.filter(
        account=OuterRef("account"), type=AUTHORIZED, created_at__gt=OuterRef("created_at")
    )
    return WebhookEvent.objects.filter(type=DEAUTHORIZED).exclude(Exists(later_authorization))


def deauthorized_here(account_field: str = "account") -> Q:
    """A filter for rows (whose account column is ``account_field``) of accounts that are
    disconnected now; ``~deauthorized_here()`` keeps the others. Platform rows never match."""
    in_force = _deauthorizations_in_force().filter(account=OuterRef(account_field))
    return ~Q(**{account_field: ""}) & Q(Exists(in_force))


def is_deauthorized(account: str) -> bool:
    """Whether the platform's access to ``account`` has been revoked (and not restored)."""
    if not account:
        return False
    return _deauthorizations_in_force().filter(account=account).exists()
