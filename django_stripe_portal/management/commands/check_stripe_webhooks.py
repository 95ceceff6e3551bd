"""``manage.py check_stripe_webhooks``: the figures a monitor reads; exit 1 when a person
is needed (anything stuck or given up)."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import CommandParser

from django_stripe_portal.management.base import EXIT_NEEDS_A_PERSON, PortalCommand
from django_stripe_portal.webhooks.health import webhook_health


class Command(PortalCommand):
    help = (
        "Webhook processing health: pending past WEBHOOK_STUCK_AFTER, failed awaiting retry, "
        "given up, last event received. Exits 1 when something is stuck or has given up."
    )

    uses_stripe_api = False  # reads the database only: runs without API_KEY

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--format",
            choices=("text", "json"),
            default="text",
            help="text (default): one figure a line, for people; json: one object with the "
            "same figures, for a monitor",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        health = webhook_health()
        if options["format"] == "json":
            self.stdout.write(json.dumps(health.as_dict(), sort_keys=True))
        else:
            last = health.last_received_at.isoformat() if health.last_received_at else "never"
            self.stdout.write(
                f"stuck (pending over {health.stuck_after}s): {health.stuck}\n"
                f"failed, awaiting retry: {health.awaiting_retry}\n"
                f"given up: {health.given_up}\n"
                f"failed, awaiting Stripe's redelivery: {health.failed_awaiting_stripe}\n"
                f"last event received: {last}"
            )
            if health.needs_attention:
                self.stderr.write(
                    "Needs a person: run `manage.py recover_stripe_events` for stuck events "
                    "(and check that it runs from cron); replay given-up events once their "
                    "cause is fixed (`manage.py replay_stripe_events --id evt_…`)."
                )
        if health.needs_attention:
            sys.exit(EXIT_NEEDS_A_PERSON)
