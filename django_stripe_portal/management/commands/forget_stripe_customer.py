"""``manage.py forget_stripe_customer cus_…``: an erasure request, for what this app stored.

Stripe keeps its own copy: erase it there with ``DELETE /v1/customers/{id}`` or Stripe's
own process (this command never calls Stripe). See ``storage.forget`` and docs/security.md.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_stripe_portal.storage.forget import forget_customer


class Command(BaseCommand):
    help = (
        "Remove a Stripe customer's personal data (names, emails, addresses, phones, tax ids, "
        "comments) from stored event payloads and rows; ids, counts, reasons and amounts stay. "
        "Stripe's own copy is not touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("customer", metavar="cus_…", help="the Stripe customer id")
        parser.add_argument(
            "--account", metavar="acct_…", help="only the rows of this connected account"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be removed, change nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        customer = str(options["customer"]).strip()
        if not customer.startswith("cus_") or len(customer) < 5:
            raise CommandError(f"{customer!r} is not a Stripe customer id (cus_…).")
        account = options["account"]
        if account is not None and not str(account).startswith("acct_"):
            raise CommandError(f"--account: {account!r} is not a connected account id (acct_…).")
        result = forget_customer(customer, account=account, dry_run=options["dry_run"])
        verb = "would be" if options["dry_run"] else "were"
        self.stdout.write(
            f"{customer}: {result.values} personal value(s) in {result.events} stored event(s), "
            f"{result.sessions} visit return address(es) and {result.subscriptions} "
            f"cancellation comment(s) {verb} removed. Stripe keeps its own copy: erase it there "
            "(DELETE /v1/customers/{id}, or Stripe's own process)."
        )
