"""``manage.py seed_demo``: the demo user, their Stripe customer and an active subscription;
with a merchant account configured (``DEMO_MERCHANT_ACCOUNT``, Connect), also "a merchant's
customer" (``shopper``), whose customer and subscription live on the merchant's account.

The subscription reaches this site the way it would from Stripe: the seed
creates it through the API, Stripe (or the offline stand-in) sends
``customer.subscription.created`` to ``/billing/webhook/``, and the app records
it. The seed never writes ``StripeSubscription`` itself; it waits to see the
webhook's result and says so if it does not come.
"""

from __future__ import annotations

import time
from typing import Any

import stripe
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_stripe_portal.client import get_client, request_id_of, request_options
from django_stripe_portal.customers import link_customer
from django_stripe_portal.models import StripeCustomer, StripeSubscription

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin-password"
SHOPPER_USERNAME = "shopper"
SHOPPER_PASSWORD = "shopper-password"
#: The people behind the logins, as the admin's pages name them (CUSTOMER_LABEL).
FULL_NAMES = {DEMO_USERNAME: ("Dana", "Li"), SHOPPER_USERNAME: ("Sam", "Baker")}
_LIVE_STATUSES = ("active", "trialing", "past_due", "incomplete")


class Command(BaseCommand):
    help = "Create the demo user, link a Stripe customer and start a subscription (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--customer",
            help="Link the demo user to this existing customer (cus_…) instead of creating one.",
        )
        parser.add_argument(
            "--no-subscription",
            action="store_true",
            help="Do not create a subscription (with real test keys, create one in the Dashboard).",
        )
        parser.add_argument(
            "--wait", type=float, default=20, help="Seconds to wait for the webhook to arrive."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = self._user(DEMO_USERNAME, DEMO_PASSWORD, staff=False)
        self._user(ADMIN_USERNAME, ADMIN_PASSWORD, staff=True)
        merchant = settings.DEMO_MERCHANT_ACCOUNT
        shopper = self._user(SHOPPER_USERNAME, SHOPPER_PASSWORD, staff=False) if merchant else None
        client = get_client()
        subscription_ids = []
        try:
            customer_id = self._customer(client, user, options["customer"])
            if shopper is not None:
                shopper_customer = self._customer(client, shopper, None, account=merchant)
            if options["no_subscription"]:
                return
            subscription_ids.append(self._subscription(client, customer_id))
            if shopper is not None:
                subscription_ids.append(
                    self._subscription(client, shopper_customer, account=merchant)
                )
        except stripe.StripeError as exc:
            raise CommandError(
                f"Stripe refused the seed: {exc.user_message or exc} (request {request_id_of(exc)})"
            ) from exc
        for subscription_id in subscription_ids:
            self._wait_for_webhook(subscription_id, options["wait"])

    def _user(self, username: str, password: str, *, staff: bool) -> Any:
        user_model = get_user_model()
        first_name, last_name = FULL_NAMES.get(username, ("", ""))
        user, created = user_model.objects.get_or_create(
            username=username,
            defaults={
                "email": f"{username}@example.com",
                "first_name": first_name,
                "last_name": last_name,
            },
        )
        if created or not user.check_password(password):
            user.set_password(password)
        user.is_staff = user.is_superuser = staff
        user.save()
        return user

    def _customer(
        self, client: stripe.StripeClient, user: Any, given: str | None, account: str = ""
    ) -> str:
        """The user's customer on ``account`` (``""``: the platform), created if need be."""
        if given:
            link_customer(user, given)
            return given
        options = request_options(account)
        existing = StripeCustomer.objects.filter(user=user, account=account).first()
        if existing is not None:
            try:
                client.v1.customers.retrieve(existing.customer_id, options=options)
                return existing.customer_id
            except stripe.InvalidRequestError:
                self.stdout.write(f"{existing.customer_id} no longer exists; creating a new one.")
        customer = client.v1.customers.create(
            params={
                "email": user.email,
                "name": "Demo Customer" if not account else "A merchant's customer",
                "metadata": {"django_user_id": str(user.pk)},
            },
            options=options,
        )
        link_customer(user, customer.id, account=account or None)
        where = f" on {account}" if account else ""
        self.stdout.write(f"Linked {user.get_username()} to the new customer {customer.id}{where}.")
        return customer.id

    def _subscription(
        self, client: stripe.StripeClient, customer_id: str, account: str = ""
    ) -> str:
        options = request_options(account)
        current = client.v1.subscriptions.list(
            params={"customer": customer_id, "status": "all"}, options=options
        )
        for subscription in current.data:
            if subscription.status in _LIVE_STATUSES:
                return subscription.id
        prices = client.v1.prices.list(
            params={"lookup_keys": [settings.DEMO_PRICE_LOOKUP_KEY]}, options=options
        )
        if not prices.data:
            raise CommandError(
                f"No price has the lookup key {settings.DEMO_PRICE_LOOKUP_KEY!r}: set "
                "DEMO_PRICE_LOOKUP_KEY, or pass --no-subscription."
            )
        subscription = client.v1.subscriptions.create(
            params={"customer": customer_id, "items": [{"price": prices.data[0].id}]},
            options=options,
        )
        self.stdout.write(f"Started {subscription.id} on {prices.data[0].id}.")
        return subscription.id

    def _wait_for_webhook(self, subscription_id: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if StripeSubscription.objects.filter(stripe_id=subscription_id).exists():
                message = f"The webhook recorded {subscription_id}: the demo is ready."
                self.stdout.write(self.style.SUCCESS(message))
                return
            time.sleep(0.25)
        self.stderr.write(
            self.style.WARNING(
                f"No webhook has recorded {subscription_id} yet. Is the site answering on "
                "/billing/webhook/, with the signing secret Stripe (or the stand-in) uses?"
            )
        )
