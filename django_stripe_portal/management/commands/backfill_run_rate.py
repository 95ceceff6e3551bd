"""``manage.py backfill_run_rate``: the run rate of subscriptions stored before the app
kept it, from the newest stored payload of each; never calls Stripe. Migration 0008 runs
it once; run it again after loading old rows (it fills only empty ones)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from django_stripe_portal.models import StripeDiscount, StripeSubscription, WebhookEvent
from django_stripe_portal.webhooks.run_rate_backfill import BATCH_SIZE, backfill_run_rates


class Command(BaseCommand):
    help = (
        "Fill StripeSubscription.currency and monthly_amount from the newest stored payload "
        "of each subscription (no Stripe call), in batches."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)

    def handle(self, *args: Any, **options: Any) -> None:
        result = backfill_run_rates(
            StripeSubscription,
            WebhookEvent,
            StripeDiscount,
            batch_size=max(1, options["batch_size"]),
        )
        self.stdout.write(
            f"Run rate filled for {result.filled} subscription(s); {result.not_filled} could "
            "not be filled from the stored payloads (no stored event, a price sent as an id, "
            "a tiered price without its tiers, or a discount whose coupon the app never saw)."
        )
