"""``manage.py recover_stripe_events``: take up stuck and due webhook events (run from cron).

Safe beside running workers, deliveries and other recoverers: an event a worker is
dispatching right now is skipped as busy, and every event is dispatched at most once.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_stripe_portal.conf import get_settings
from django_stripe_portal.management.base import NeedsAPerson, PortalCommand
from django_stripe_portal.webhooks.recovery import recover_events
from django_stripe_portal.webhooks.tasks import schedule_retry


class Command(PortalCommand):
    help = (
        "Dispatch pending webhook events that no worker took for WEBHOOK_STUCK_AFTER seconds, "
        "and failed ones whose next attempt is due. Meant for cron, every minute."
    )

    uses_stripe_api = False  # reads the database only: runs without API_KEY

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="list what would be taken up, dispatch nothing"
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=1000,
            help="at most this many stuck and this many due events per run (default 1000)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1.")
        report = recover_events(
            dry_run=options["dry_run"], limit=options["limit"], after_failure=schedule_retry
        )
        stuck_after = get_settings().WEBHOOK_STUCK_AFTER
        if options["dry_run"]:
            for stripe_id in report.stuck:
                self.stdout.write(f"{stripe_id}: pending for more than {stuck_after}s")
            for stripe_id in report.due:
                self.stdout.write(f"{stripe_id}: failed, next attempt due")
            self.stdout.write(
                f"{len(report.stuck)} stuck and {len(report.due)} due event(s) would be taken up."
            )
            return
        summary = ", ".join(f"{count} {name}" for name, count in sorted(report.outcomes.items()))
        self.stdout.write(
            f"Took up {len(report.stuck)} stuck and {len(report.due)} due event(s)"
            + (f": {summary}." if summary else ".")
        )
        if report.failed:
            raise NeedsAPerson(
                f"{report.failed} event(s) failed again; their next attempt is scheduled "
                "(see WebhookEvent.last_error in the admin, and the log)."
            )
