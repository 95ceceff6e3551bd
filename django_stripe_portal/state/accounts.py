"""Connected accounts that have disconnected from the platform.

``account.application.deauthorized`` (delivered to the Connect endpoint) says the
platform lost access to an account: no further events of that account will arrive,
so its stored subscriptions would look ``active`` forever. Nothing is deleted (the
rows are the history of that merchant's customers, and the account may connect
again); instead an account whose latest ``account.application.*`` event is a
deauthorization grants no access (``django_stripe_portal.access``) and opens no
portal. ``account.application.authorized`` afterwards lifts that again.

Kept in ``AccountAuthorization`` (one row an account, written by
:class:`PreparedAuthorizationWrite` in one statement), never read from ``WebhookEvent``
rows, which may be pruned; a subquery, so the access helpers stay one query.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from django.db import connections, router
from django.db.models import Exists, OuterRef, Q

from django_stripe_portal.events import ACCOUNT_APPLICATION_EVENTS
from django_stripe_portal.models import AccountAuthorization
from django_stripe_portal.state.row_writes import PreparedInsert

AUTHORIZED, DEAUTHORIZED = ACCOUNT_APPLICATION_EVENTS


def deauthorized_here(account_field: str = "account") -> Q:
    """A filter for rows (whose account column is ``account_field``) of accounts that are
    disconnected now; ``~deauthorized_here()`` keeps the others. Platform rows never match."""
    in_force = AccountAuthorization.objects.filter(
        account=OuterRef(account_field), authorized=False
    )
    return ~Q(**{account_field: ""}) & Q(Exists(in_force))


def is_deauthorized(account: str) -> bool:
    """Whether the platform's access to ``account`` has been revoked (and not restored)."""
    if not account:
        return False
    return AccountAuthorization.objects.filter(account=account, authorized=False).exists()


class PreparedAuthorizationWrite:
    """Record one ``account.application.*`` event unless a newer one of the account is
    stored; of the same second, a deauthorization wins (access is not granted on a
    guess). Compiled now, sent by :meth:`run`: one statement."""

    def __init__(self, account: str, event_type: str, event_created_at: datetime) -> None:
        self.row = AccountAuthorization(
            account=account,
            authorized=event_type == AUTHORIZED,
            event_created_at=event_created_at,
        )
        self.statement = PreparedInsert(
            self.row,
            unique_fields=["account"],
            update_fields=["authorized", "event_created_at", "updated"],
            update_when=_newer_condition(router.db_for_write(AccountAuthorization)),
        )

    def run(self) -> bool:
        """Whether this event wrote the row (False: a newer one is stored)."""
        return self.statement.run() is not None


@cache
def _newer_condition(using: str) -> str:
    quote = connections[using].ops.quote_name
    stored = quote(AccountAuthorization._meta.db_table)
    at, authorized = quote("event_created_at"), quote("authorized")
    return (
        f"({stored}.{at} < EXCLUDED.{at} OR "
        f"({stored}.{at} = EXCLUDED.{at} AND NOT EXCLUDED.{authorized}))"
    )
