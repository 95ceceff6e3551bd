"""``manage.py sync_entitlements``: backfill ``ActiveEntitlements`` from Stripe's list.

For sites that start gating by feature after customers already have entitlements, or
that missed summaries. Each customer's list (``GET /v1/entitlements/active_entitlements``,
every page, on the customer's account, the SDK retrying what may be retried) is stamped
with the moment its first page was asked for, rounded down to Stripe's whole seconds:
a summary event made before then is already in the list and cannot overwrite it, one
made after still wins. No signal is sent: nothing was delivered.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import stripe
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError, CommandParser

from django_stripe_portal.client import stripe_error_text
from django_stripe_portal.conf import get_settings
from django_stripe_portal.management.base import PortalCommand
from django_stripe_portal.management.options import listed
from django_stripe_portal.models import StripeCustomer
from django_stripe_portal.portal.accounts import ACCOUNT_ID_RE
from django_stripe_portal.portal.customers import CUSTOMER_ID_RE
from django_stripe_portal.state.customers import customers_beside_account, is_customer_account
from django_stripe_portal.state.entitlements import record_entitlements
from django_stripe_portal.webhooks.entitlement_summaries import active_lookup_keys

#: A progress line on stderr every this many customers, or this many seconds.
PROGRESS_EVERY = 100
PROGRESS_SECONDS = 5.0


class Command(PortalCommand):
    help = (
        "Copy every linked customer's active entitlements (or one customer's) from Stripe "
        "into ActiveEntitlements, never overwriting a row a newer summary wrote."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customer", metavar="cus_…", help="Only this customer.")
        parser.add_argument(
            "--account",
            action="append",
            metavar="acct_…",
            help="Customers on this connected account (repeatable; default: the platform's "
            "with --customer, else every account a customer is linked on).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        customer = options["customer"]
        accounts = listed(options["account"])
        if customer is not None and not CUSTOMER_ID_RE.match(str(customer)):
            raise CommandError(
                f"--customer {customer!r}: a Stripe customer id starts with cus_ "
                "(Stripe's entitlements are listed by customer)."
            )
        for account in accounts:
            if not ACCOUNT_ID_RE.fullmatch(account):
                raise CommandError(f"--account {account!r}: a connected account id is acct_….")
        try:
            get_settings().require_api_key()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        targets = (
            [(account, customer) for account in accounts or [""]]
            if customer
            else list(_linked_customers(accounts))
        )
        self.stdout.write(
            f"Active entitlements of {len(targets):,} customer(s) in "
            f"{get_settings().mode_name} mode:"
        )
        counts = self._sync(targets)
        self.stdout.write(
            f"{counts['written']:,} customer(s) written ({counts['features']:,} feature(s) in "
            f"all), {counts['kept']:,} kept (a newer summary had already written them), "
            f"{counts['missing']:,} not found at Stripe."
        )

    def _sync(self, targets: list[tuple[str, str]]) -> Counter[str]:
        counts: Counter[str] = Counter()
        livemode = get_settings().livemode
        last_line = time.monotonic()
        for done, (account, customer_id) in enumerate(targets, start=1):
            try:
                asked_at = datetime.fromtimestamp(math.floor(time.time()), tz=UTC)
                keys = list(active_lookup_keys(customer_id, account))
            except stripe.InvalidRequestError as error:
                if error.http_status != 404:
                    raise self._stopped(error, counts) from error
                counts["missing"] += 1
                self.stderr.write(f"{_where(customer_id, account)}: {stripe_error_text(error)}")
                continue
            except stripe.StripeError as error:
                raise self._stopped(error, counts) from error
            write = record_entitlements(
                customer_id, keys, account=account, livemode=livemode, event_created_at=asked_at
            )
            counts["written" if write.applied else "kept"] += 1
            counts["features"] += len(keys) if write.applied else 0
            if done % PROGRESS_EVERY == 0 or time.monotonic() - last_line >= PROGRESS_SECONDS:
                last_line = time.monotonic()
                self.stderr.write(f"… {done:,} of {len(targets):,} customer(s)")
        return counts

    @staticmethod
    def _stopped(error: stripe.StripeError, counts: Counter[str]) -> CommandError:
        done = counts["written"] + counts["kept"] + counts["missing"]
        what = (
            "Could not list the entitlements"
            if isinstance(error, stripe.APIConnectionError)
            else "Stripe refused the entitlement list"
        )
        return CommandError(
            f"{what}: {stripe_error_text(error)}. {done:,} customer(s) were synced before; "
            "running the command again is safe."
        )


def _where(customer_id: str, account: str) -> str:
    return f"{customer_id} on {account}" if account else customer_id


def _linked_customers(accounts: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(account, cus_…) of every linked customer of the current mode, on ``accounts``
    (all when empty). An Accounts v2 customer (linked by its ``acct_…``) is listed by
    the ``cus_…`` Stripe named beside it on its subscriptions or sessions; Stripe lists
    entitlements by ``customer`` only."""
    links = StripeCustomer.objects.filter(livemode=get_settings().livemode)
    if accounts:
        links = links.filter(account__in=list(accounts))
    seen: set[tuple[str, str]] = set()
    for account, customer_id in links.order_by("account", "customer_id").values_list(
        "account", "customer_id"
    ):
        for found in _customer_ids(account, customer_id):
            if (account, found) not in seen:
                seen.add((account, found))
                yield account, found


def _customer_ids(account: str, customer_id: str) -> list[str]:
    if not is_customer_account(customer_id):
        return [customer_id]
    found = set(customers_beside_account(account, customer_id))
    return sorted(value for value in found if CUSTOMER_ID_RE.match(value))
