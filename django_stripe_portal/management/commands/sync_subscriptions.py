"""``manage.py sync_subscriptions``: backfill subscription state from Stripe's list.

For sites installing the app on an account that already has subscriptions. Rows are
written by ``record_subscription``, so the never-go-backwards rule holds against
webhooks processed at the same time: each page is stamped with the moment its
request was sent (rounded down to Stripe's whole seconds). Stripe answered with a
state at least that new, so any event created before it is already included and
cannot overwrite it, while an event created after it (which the page may not show)
still wins.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import stripe
from django.core.management.base import CommandError, CommandParser

from django_stripe_portal.client import get_client, stripe_error_text
from django_stripe_portal.conf import get_settings
from django_stripe_portal.management.base import PortalCommand
from django_stripe_portal.models import StripeSubscription
from django_stripe_portal.state.subscriptions import record_subscription
from django_stripe_portal.webhooks.payload import subscription_values

PAGE_SIZE = 100


class Command(PortalCommand):
    help = (
        "Copy the account's subscriptions (every status) into StripeSubscription, "
        "never overwriting a row a newer webhook wrote."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--customer", metavar="cus_…", help="Only this customer's subscriptions."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        customer = options["customer"]
        if customer is not None and not str(customer).startswith("cus_"):
            raise CommandError(f"--customer {customer!r}: a Stripe customer id starts with cus_.")
        conf = get_settings()
        scope = f"customer {customer}" if customer else "all customers"
        self.stdout.write(f"Subscriptions of {scope} in {conf.mode_name} mode:")
        counts: Counter[str] = Counter()
        try:
            for page_time, page in _listed_pages(customer):
                # For the summary line only: one query per page of up to PAGE_SIZE.
                known = set(
                    StripeSubscription.objects.filter(
                        stripe_id__in=[subscription["id"] for subscription in page]
                    ).values_list("stripe_id", flat=True)
                )
                for subscription in page:
                    values = subscription_values(subscription, at=int(page_time.timestamp()))
                    write = record_subscription(subscription["id"], values, page_time)
                    outcome = "updated" if subscription["id"] in known else "created"
                    counts[outcome if write.applied else "kept"] += 1
        except stripe.StripeError as error:
            what = (
                "Could not list the subscriptions"
                if isinstance(error, stripe.APIConnectionError)
                else "Stripe refused the subscription list"
            )
            raise CommandError(
                f"{what}: {stripe_error_text(error)}. "
                f"{sum(counts.values())} subscription(s) were recorded before; "
                "running the command again is safe."
            ) from error
        self.stdout.write(
            f"{sum(counts.values())} subscription(s): {counts['created']} new, "
            f"{counts['updated']} updated, {counts['kept']} kept "
            "(a newer webhook had already written them)."
        )


def _listed_pages(customer: str | None) -> Iterator[tuple[datetime, list[dict[str, Any]]]]:
    """(time asked, its subscriptions) for each non-empty page of ``GET /v1/subscriptions``."""
    client = get_client()
    params: dict[str, Any] = {"status": "all", "limit": PAGE_SIZE}
    if customer:
        params["customer"] = customer
    while True:
        asked_at = datetime.fromtimestamp(math.floor(time.time()), tz=UTC)
        page = client.v1.subscriptions.list(params)  # type: ignore[arg-type]
        subscriptions = [subscription.to_dict() for subscription in page.data]
        if subscriptions:
            yield asked_at, subscriptions
        if not page.has_more or not subscriptions:
            return
        params["starting_after"] = subscriptions[-1]["id"]
