"""``manage.py fetch_stripe_events``: receive the events Stripe's Events API holds that
the webhook endpoint never got (an outage, a disabled endpoint, a rotated secret).

The work is ``django_stripe_portal.webhooks.catch_up``; this command reads the
options and prints what happened. Safe to run again and beside live deliveries. With
``--account``/``--all-accounts`` (Connect) it lists each connected account's events,
each in its own window, one account's failure not stopping the others.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import stripe
from django.core.management.base import CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from django_stripe_portal.client import request_id_of, stripe_error_text
from django_stripe_portal.conf import get_settings
from django_stripe_portal.management.accounts import add_account_options, chosen_accounts
from django_stripe_portal.management.base import NeedsAPerson, PortalCommand
from django_stripe_portal.management.options import listed
from django_stripe_portal.webhooks.catch_up import (
    CatchUpResult,
    WindowRefused,
    catch_up,
    catch_up_types,
    catch_up_window,
)


def _since(value: str) -> dt.datetime:
    """``YYYY-MM-DD`` (midnight) or ``YYYY-MM-DDTHH:MM``, in ``TIME_ZONE`` unless it says."""
    try:
        moment = parse_datetime(value)
        day = parse_date(value) if moment is None else None
    except ValueError:
        moment = day = None
    if moment is None and day is not None:
        moment = dt.datetime.combine(day, dt.time.min)
    if moment is None:
        raise CommandError(f"--since {value!r}: write a date, YYYY-MM-DD or YYYY-MM-DDTHH:MM.")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _utc(moment: dt.datetime) -> str:
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"


def _stripe_refusal(error: stripe.StripeError, account: str = "") -> str:
    """One line: for an unreachable API the host and why, as the other commands say it;
    else what Stripe said and its request id, without the SDK's boilerplate."""
    if isinstance(error, stripe.APIConnectionError):
        retries = get_settings().MAX_NETWORK_RETRIES
        what = (
            f"Could not list the events: {stripe_error_text(error)}, after "
            f"STRIPE_PORTAL['MAX_NETWORK_RETRIES']={retries} retries."
        )
    else:
        what = f"Stripe refused the event list: {error.user_message or type(error).__name__}"
        what = f"{what.rstrip('.')} (request id {request_id_of(error) or 'none'})."
    if account and isinstance(error, stripe.PermissionError | stripe.AuthenticationError):
        what += (
            f" The platform may have lost access to {account} (it disconnected, or the API "
            "key lacks Connect permissions); remove it from CONNECTED_ACCOUNTS if so."
        )
    return f"{what} Nothing was stored; running the command again is safe."


class Command(PortalCommand):
    help = (
        "Receive the events Stripe's Events API lists (the last 30 days at most) that were "
        "never delivered to this site: stored and dispatched once, oldest first, with the "
        "same state writes and signals as a delivery. Stored events are left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        window = parser.add_mutually_exclusive_group()
        window.add_argument(
            "--since",
            metavar="DATE",
            help="events created at or after DATE (YYYY-MM-DD or YYYY-MM-DDTHH:MM, in "
            "TIME_ZONE); default: the newest stored event minus one hour",
        )
        window.add_argument(
            "--hours",
            type=float,
            metavar="N",
            help="events created in the last N hours (at most 720: Stripe keeps 30 days)",
        )
        parser.add_argument(
            "--type",
            action="append",
            metavar="T",
            help="only events of this type (repeatable; default: the types the app handles "
            "and those a receiver was connected to with signals.on())",
        )
        parser.add_argument(
            "--undelivered",
            action="store_true",
            help="only events whose delivery to some endpoint did not succeed "
            "(delivery_success=false)",
        )
        parser.add_argument("--dry-run", action="store_true", help="list and count, store nothing")
        add_account_options(
            parser,
            account_help="list this connected account's events (acct_…, through "
            "Stripe-Account) instead of the platform's; repeat for several (Connect)",
            all_help="list the events of every account STRIPE_PORTAL['CONNECTED_ACCOUNTS'] "
            "returns, each in its own window (Connect)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["since"] is not None and options["hours"] is not None:
            raise CommandError("Give --since or --hours, not both.")
        since = _since(options["since"]) if options["since"] is not None else None
        hours = float(options["hours"]) if options["hours"] is not None else None
        types_asked = listed(options["type"])
        accounts = chosen_accounts(options)
        try:
            catch_up_types(types_asked)  # a wildcard is refused before anything is sent
            catch_up_window(since=since, hours=hours)
        except WindowRefused as exc:
            raise CommandError(str(exc)) from exc
        if accounts is None:
            self._fetch("", since, hours, types_asked, options)
            return
        if not accounts:
            self.stdout.write("No connected accounts to fetch (CONNECTED_ACCOUNTS is empty).")
            return
        failures: dict[str, CommandError] = {}
        for account in accounts:
            try:
                self._fetch(account, since, hours, types_asked, options)
            except CommandError as error:
                # Access revoked, Stripe down for a moment …: the next account still runs.
                failures[account] = error
                self.stderr.write(f"  {account}: {error}")
        done = len(accounts) - len(failures)
        self.stdout.write(f"{done} of {len(accounts)} account(s) done.")
        if failures:
            raise CommandError(
                f"{len(failures)} of {len(accounts)} account(s) not done: "
                + ", ".join(failures)
                + ". Running the command again for them is safe."
            )

    def _fetch(
        self,
        account: str,
        since: dt.datetime | None,
        hours: float | None,
        types_asked: list[str],
        options: dict[str, Any],
    ) -> None:
        """One account's catch-up (``""``: the platform), in that account's own window."""
        try:
            window = catch_up_window(since=since, hours=hours, account=account)
            types = catch_up_types(types_asked, connect=bool(account))
        except WindowRefused as exc:
            raise CommandError(str(exc)) from exc
        conf = get_settings()
        self.stdout.write(
            f"Listing {conf.mode_name}-mode Stripe events "
            f"{f'of {account} ' if account else ''}created since {_utc(window.start)} "
            f"({window.reason}), {len(types)} type(s)"
            f"{', undelivered only' if options['undelivered'] else ''}"
            f"{' (dry run: nothing is stored)' if options['dry_run'] else ''}."
        )
        try:
            result = catch_up(
                window,
                types,
                undelivered=options["undelivered"],
                dry_run=options["dry_run"],
                progress=self.stderr.write,
                account=account,
            )
        except stripe.StripeError as error:
            raise CommandError(_stripe_refusal(error, account)) from error
        self._report(result, dry_run=options["dry_run"])

    def _report(self, result: CatchUpResult, *, dry_run: bool) -> None:
        for version, count in sorted(result.other_api_versions.items()):
            self.stderr.write(
                f"Note: {count:,} listed event(s) carry API version {version}, not "
                f"STRIPE_PORTAL['API_VERSION'] ({get_settings().api_version}): the Events API "
                "renders an event in the account's version of its day, a delivery in the "
                "endpoint's."
            )
        if dry_run:
            for stripe_id, event_type, created in result.to_receive:
                moment = dt.datetime.fromtimestamp(created, tz=dt.UTC)
                self.stdout.write(f"{stripe_id} {event_type} {_utc(moment)}")
            self.stdout.write(
                f"Listed {result.listed:,} event(s): {len(result.to_receive):,} not stored yet "
                f"(would be received), {result.already_stored:,} already stored."
            )
            return
        for stripe_id, event_type, reason in result.failures:
            self.stderr.write(f"{stripe_id} {event_type}: {reason}")
        self.stdout.write(
            f"Listed {result.listed:,} event(s): {result.new:,} new, "
            f"{result.already_stored:,} already stored, {result.failed:,} failed."
        )
        if result.failed:
            raise NeedsAPerson(
                f"{result.failed:,} event(s) failed. Those stored as failed are retried by "
                "`manage.py replay_stripe_events --status failed` (this command leaves stored "
                "events alone); refused ones were not stored and are listed above."
            )
