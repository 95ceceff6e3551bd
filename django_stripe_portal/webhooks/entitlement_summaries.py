"""From an entitlement summary to the stored row: the one write every door calls.

A snapshot delivery, a thin event's fetched summary and the catch-up all hand
``record_entitlement_summary`` Stripe's ``entitlements.active_entitlement_summary``
object. Its ``entitlements`` list is complete unless it says ``has_more``: only then
is the rest listed from ``GET /v1/entitlements/active_entitlements`` (the one case in
which an event costs an API call; the SDK retries it ``MAX_NETWORK_RETRIES`` times).
In sync mode that call is made before the dispatch transaction begins, so no lock is
held while Stripe answers; a call that still fails fails the event, which Stripe (or
task mode's schedule) delivers again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django_stripe_portal.client import get_client, request_options
from django_stripe_portal.state.entitlements import EntitlementsWrite, record_entitlements
from django_stripe_portal.webhooks.payload import listed_lookup_keys, summary_customer

#: The most Stripe lists in one page.
PAGE_SIZE = 100


def active_lookup_keys(customer_id: str, account: str) -> Iterator[str]:
    """Every active entitlement's lookup key of ``customer_id`` on ``account``, page by
    page (``GET /v1/entitlements/active_entitlements``; raises ``stripe.StripeError``)."""
    client = get_client()
    params: dict[str, Any] = {"customer": customer_id, "limit": PAGE_SIZE}
    while True:
        page = client.v1.entitlements.active_entitlements.list(
            params,  # type: ignore[arg-type]
            options=request_options(account),
        )
        for entitlement in page.data:
            yield str(entitlement.lookup_key)
        if not page.has_more or not page.data:
            return
        params["starting_after"] = page.data[-1].id


@dataclass(frozen=True)
class PreparedEntitlementsWrite:
    """A summary read (and completed, when it says ``has_more``) now, written by
    :meth:`run` later: inside the transaction that stores its event."""

    customer_id: str
    lookup_keys: tuple[str, ...]
    account: str
    livemode: bool
    event_created_at: datetime

    def run(self) -> EntitlementsWrite:
        return record_entitlements(
            self.customer_id,
            self.lookup_keys,
            account=self.account,
            livemode=self.livemode,
            event_created_at=self.event_created_at,
        )


def prepare_entitlements_write(
    summary: dict[str, Any], *, account: str, event_created_at: datetime
) -> PreparedEntitlementsWrite:
    """Read ``summary``; list the rest from Stripe only when its list says ``has_more``."""
    customer_id = summary_customer(summary)
    keys, has_more = listed_lookup_keys(summary)
    if has_more:
        keys = list(active_lookup_keys(customer_id, account))
    return PreparedEntitlementsWrite(
        customer_id=customer_id,
        lookup_keys=tuple(keys),
        account=account,
        livemode=bool(summary.get("livemode")),
        event_created_at=event_created_at,
    )


def record_entitlement_summary(
    summary: dict[str, Any], *, account: str, event_created_at: datetime
) -> EntitlementsWrite:
    """Store one summary of ``account`` (``""``: the platform) made at
    ``event_created_at`` (Stripe's ``created`` of its event): the call every door makes."""
    return prepare_entitlements_write(
        summary, account=account, event_created_at=event_created_at
    ).run()
