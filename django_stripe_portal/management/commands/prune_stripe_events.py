"""``manage.py prune_stripe_events``: empty the payloads of old processed or ignored events.

Safe beside live deliveries, tasks and recovery: batches are short single statements, and
``pending``/``failed`` events are never touched. See ``storage.prune``.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_stripe_portal.conf import get_settings
from django_stripe_portal.storage.prune import (
    BATCH_SIZE,
    PruneProgress,
    cutoff_for,
    prune_payloads,
)

#: Seconds between two progress lines on a long run.
PROGRESS_EVERY = 10.0


class Command(BaseCommand):
    help = (
        "Empty the stored payloads of processed and ignored Stripe events older than "
        "--older-than days (default: EVENT_PAYLOAD_DAYS). Rows, ids, times, statuses and "
        "every figure stay; pending and failed events are never touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            metavar="DAYS",
            help="events Stripe created more than DAYS days ago (default: EVENT_PAYLOAD_DAYS)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be pruned, change nothing"
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_SIZE,
            help=f"primary keys per statement (default {BATCH_SIZE})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["older_than"]
        if days is None:
            days = get_settings().EVENT_PAYLOAD_DAYS
            if days is None:
                self.stdout.write(
                    "EVENT_PAYLOAD_DAYS is None (keep every payload) and no --older-than "
                    "was given: nothing pruned."
                )
                return
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise CommandError(f"--older-than must be a whole number of days, 1 or more: {days!r}")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        last_line = [time.monotonic()]

        def report(progress: PruneProgress) -> None:
            if time.monotonic() - last_line[0] >= PROGRESS_EVERY:
                last_line[0] = time.monotonic()
                share = 100 * progress.scanned_to / progress.last_pk if progress.last_pk else 100
                done = "to prune" if options["dry_run"] else "pruned"
                self.stdout.write(
                    f"… {progress.pruned} payload(s) {done}, {share:.0f} % of the ids "
                    f"scanned, {progress.seconds:.0f} s"
                )

        result = prune_payloads(
            cutoff_for(days),
            dry_run=options["dry_run"],
            batch_size=options["batch_size"],
            progress=report,
        )
        verb = "would be pruned" if options["dry_run"] else "pruned"
        self.stdout.write(
            f"{result.pruned} payload(s) of processed or ignored events created before "
            f"{result.cutoff:%Y-%m-%d %H:%M} UTC {verb} in {result.batches} batch(es), "
            f"{result.seconds:.1f} s ({result.rows_per_second:.0f} rows/s)."
        )
