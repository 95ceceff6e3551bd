"""``manage.py replay_stripe_events``: dispatch stored webhook events again.

Safe while webhooks keep arriving: each event is taken under the same row lock as
deliveries and tasks, and its status is checked again once locked, so an event a
redelivery has just processed is not dispatched a second time by accident.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from django_stripe_portal.management.base import NeedsAPerson, PortalCommand
from django_stripe_portal.management.options import checked_choices, listed
from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.webhooks.process import (
    PRUNED_NOTE,
    UNFINISHED_STATUSES,
    Outcome,
    process_stored_event,
)

Status = WebhookEvent.Status


def _since(value: str) -> dt.datetime:
    """``YYYY-MM-DD`` (midnight in TIME_ZONE) or an ISO date-time."""
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD) or ISO date-time")
        moment = dt.datetime.combine(day, dt.time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class Command(PortalCommand):
    help = (
        "Dispatch stored Stripe webhook events again (default: those pending or failed). "
        "Runs the app's state writes and every receiver, under the same lock as deliveries."
    )

    uses_stripe_api = False  # reads the database only: runs without API_KEY

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--status",
            action="append",
            choices=Status.values,
            help="only events with this status (repeatable; default: pending and failed, "
            "or any status with --id)",
        )
        parser.add_argument(
            "--type", action="append", metavar="T", help="only events of this type (repeatable)"
        )
        parser.add_argument(
            "--since",
            metavar="DATE",
            help="only events Stripe created at or after DATE (YYYY-MM-DD or ISO date-time)",
        )
        parser.add_argument(
            "--id", action="append", metavar="evt_…", help="only this event (repeatable)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="list the events without dispatching"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ids, types = listed(options["id"]), listed(options["type"])
        statuses = checked_choices("--status", listed(options["status"]), Status.values) or (
            list(Status.values) if ids else list(UNFINISHED_STATUSES)
        )
        events = WebhookEvent.objects.filter(status__in=statuses)
        if types:
            events = events.filter(type__in=types)
        if options["since"]:
            try:
                events = events.filter(created_at__gte=_since(options["since"]))
            except ValueError as exc:
                raise CommandError(f"--since: {exc}") from exc
        if ids:
            events = events.filter(stripe_id__in=ids)
            missing = set(ids) - set(
                WebhookEvent.objects.filter(stripe_id__in=ids).values_list("stripe_id", flat=True)
            )
            if missing:
                raise CommandError(f"No stored event with id {', '.join(sorted(missing))}.")

        selected = list(events.order_by("created_at", "pk").values_list("stripe_id", "type"))
        if options["dry_run"]:
            for stripe_id, event_type in selected:
                self.stdout.write(f"{stripe_id} {event_type}")
            self.stdout.write(f"{len(selected)} event(s) would be replayed.")
            return

        outcomes: Counter[Outcome] = Counter()
        for stripe_id, event_type in selected:
            outcome = process_stored_event(stripe_id, nowait=False, statuses=statuses)
            outcomes[outcome] += 1
            self.stdout.write(f"{stripe_id} {event_type}: {outcome.value}")
        summary = ", ".join(f"{count} {outcome.value}" for outcome, count in outcomes.items())
        self.stdout.write(f"Replayed {len(selected)} event(s){': ' + summary if summary else ''}.")
        if outcomes[Outcome.PRUNED]:
            self.stderr.write(f"{outcomes[Outcome.PRUNED]} event(s) not replayed. {PRUNED_NOTE}")
        if outcomes[Outcome.FAILED]:
            raise NeedsAPerson(
                f"{outcomes[Outcome.FAILED]} event(s) failed again; "
                "see WebhookEvent.last_error (admin) and the log."
            )
