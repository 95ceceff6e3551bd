"""A customer's active entitlements, never moved backwards by a late summary.

Stripe sends the whole list each time (``entitlements.active_entitlement_summary.updated``),
so a summary replaces the stored keys when it is at least as new as the one that wrote
them: an older one (by Stripe's ``created``) is kept out, one of the same second wins as
the later delivery. Rows are kept per customer, account and mode.

What changed (``added``, ``removed``) is read under the row's lock: on PostgreSQL two
summaries of one customer written at once are serialized by it, so each sees the keys
the other left. (On SQLite the dispatch transaction already holds the one write lock.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from django_stripe_portal.models import ActiveEntitlements
from django_stripe_portal.state.row_writes import insert_unless_exists


@dataclass(frozen=True)
class EntitlementsWrite:
    """The outcome of recording one summary."""

    #: The stored row (for a stale summary: the newer one it left alone).
    row: ActiveEntitlements
    #: False when the stored row was newer and kept.
    applied: bool
    added: frozenset[str]
    removed: frozenset[str]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def record_entitlements(
    customer_id: str,
    lookup_keys: Iterable[str],
    *,
    account: str,
    livemode: bool,
    event_created_at: datetime,
) -> EntitlementsWrite:
    """Replace ``customer_id``'s stored lookup keys on ``account`` and mode with
    ``lookup_keys``, unless a newer summary already wrote them."""
    keys = sorted(set(lookup_keys))
    new = ActiveEntitlements(
        customer_id=customer_id,
        account=account,
        livemode=livemode,
        lookup_keys=keys,
        event_created_at=event_created_at,
    )
    mine = ActiveEntitlements.objects.filter(
        customer_id=customer_id, account=account, livemode=livemode
    )
    with transaction.atomic():
        stored = mine.select_for_update().first()
        if stored is None:
            if insert_unless_exists(new) is not None:
                return EntitlementsWrite(new, True, frozenset(keys), frozenset())
            # Another transaction inserted it meanwhile (and has committed): read it.
            stored = mine.select_for_update().get()
        if stored.event_created_at > event_created_at:
            return EntitlementsWrite(stored, False, frozenset(), frozenset())
        before = set(stored.lookup_keys)
        stored.lookup_keys = keys
        stored.event_created_at = event_created_at
        stored.save(update_fields=["lookup_keys", "event_created_at", "updated"])
    return EntitlementsWrite(
        stored, True, frozenset(set(keys) - before), frozenset(before - set(keys))
    )
