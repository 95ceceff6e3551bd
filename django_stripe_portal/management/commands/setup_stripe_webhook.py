"""``manage.py setup_stripe_webhook``: the account's webhook endpoint for this app, or with
``--connect`` its Connect endpoint (events of connected accounts), or with ``--destination``
its event destination (thin events, ``stripe_portal:events``)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import stripe
from django.core.management.base import CommandError, CommandParser

from django_stripe_portal.client import stripe_error_text
from django_stripe_portal.conf import get_settings
from django_stripe_portal.destination_setup import (
    apply_destination,
    default_thin_events,
    find_own_destination,
    is_thin_event_type,
    plan_destination,
)
from django_stripe_portal.endpoint_setup import (
    EndpointPlan,
    apply_endpoint,
    default_events,
    find_own_endpoint,
    plan_endpoint,
    unknown_events,
)
from django_stripe_portal.events import CONNECT_ENDPOINT_EVENTS, HANDLED_EVENTS
from django_stripe_portal.management.base import PortalCommand
from django_stripe_portal.management.options import listed


class Command(PortalCommand):
    help = (
        "Create (or update) the Stripe webhook endpoint for this app: the events it handles "
        "and the pinned API version. Prints the signing secret once, on creation."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url", required=True, help="The public URL of stripe_portal:webhook (https://…)."
        )
        parser.add_argument(
            "--events",
            nargs="+",
            metavar="EVENT",
            help="Event types to enable (space or comma separated); default: all this app handles.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Show the request; send nothing."
        )
        parser.add_argument(
            "--connect",
            action="store_true",
            help="The Connect endpoint instead (connect=true): events of connected accounts, "
            "signed with a secret for CONNECT_WEBHOOK_SECRETS. With --destination: the "
            "destination takes the connected accounts' events too (events_from @accounts).",
        )
        parser.add_argument(
            "--destination",
            action="store_true",
            help="The event destination instead (thin events, POST /v2/core/event_destinations): "
            "--url is the public URL of stripe_portal:events; its secret goes in "
            "EVENT_DESTINATION_SECRETS.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        conf = get_settings()
        connect = bool(options["connect"])
        url = self._checked_url(options["url"])
        if options["destination"]:
            self._handle_destination(url, listed(options["events"]), options)
            return
        events = self._checked_events(listed(options["events"]), connect=connect)
        kind = "Connect webhook endpoint" if connect else "Webhook endpoint"
        self.stdout.write(f"{kind} in {conf.mode_name} mode, API version {conf.api_version}:")
        try:
            existing = find_own_endpoint(connect=connect)
            plan = plan_endpoint(url, events, existing, connect=connect)
        except stripe.StripeError as error:
            raise CommandError(self._stripe_failure("list webhook endpoints", error)) from error
        except ValueError as error:
            raise CommandError(f"Stripe would refuse this endpoint: {error}") from error
        self._print_plan(plan)
        if options["dry_run"] or plan.action == "unchanged":
            return
        try:
            endpoint = apply_endpoint(plan)
        except stripe.StripeError as error:
            raise CommandError(self._stripe_failure(plan.action, error)) from error
        self.stdout.write(self.style.SUCCESS(f"Endpoint {endpoint['id']} {plan.action}d."))
        if plan.action == "create":
            self._print_secret(
                str(endpoint.get("secret") or ""),
                setting="CONNECT_WEBHOOK_SECRETS" if connect else "WEBHOOK_SECRETS",
            )

    def _handle_destination(self, url: str, given: list[str], options: dict[str, Any]) -> None:
        events = self._checked_thin_events(given)
        self.stdout.write(f"Event destination (thin events) in {get_settings().mode_name} mode:")
        try:
            existing = find_own_destination()
            plan = plan_destination(url, events, existing, connect=bool(options["connect"]))
        except stripe.StripeError as error:
            raise CommandError(self._stripe_failure("list event destinations", error)) from error
        except ValueError as error:
            raise CommandError(f"Stripe would refuse this destination: {error}") from error
        self._print_destination_plan(plan)
        if options["dry_run"] or plan.action == "unchanged":
            return
        try:
            destination = apply_destination(plan)
        except stripe.StripeError as error:
            raise CommandError(self._stripe_failure(plan.action, error)) from error
        self.stdout.write(self.style.SUCCESS(f"Destination {destination['id']} {plan.action}d."))
        if plan.action == "create":
            secret = (destination.get("webhook_endpoint") or {}).get("signing_secret")
            self._print_secret(str(secret or ""), setting="EVENT_DESTINATION_SECRETS")

    def _checked_thin_events(self, given: list[str]) -> list[str]:
        if not given:
            return default_thin_events()
        events = sorted(
            {name.strip() for item in given for name in item.split(",") if name.strip()}
        )
        unknown = [event for event in events if not is_thin_event_type(event)]
        if unknown:
            raise CommandError(
                f"Not thin event types the stripe library knows: {', '.join(unknown)} "
                "(thin versions of v1 events take a v1. prefix: v1.customer.subscription.updated)."
            )
        return events

    def _print_destination_plan(self, plan: EndpointPlan) -> None:
        if plan.action == "create":
            self.stdout.write("  POST /v2/core/event_destinations")
            self.stdout.write("  " + json.dumps(plan.params, indent=2).replace("\n", "\n  "))
        elif plan.endpoint is not None:
            if plan.action == "unchanged":
                self.stdout.write(f"  {plan.endpoint['id']}: unchanged")
            else:
                self.stdout.write(f"  POST /v2/core/event_destinations/{plan.endpoint['id']}")
                for name, (old, new) in plan.changes.items():
                    self.stdout.write(f"      {name}: {old!r} → {new!r}")
        if plan.version_mismatch:
            self.stderr.write(
                self.style.WARNING(
                    f"The destination takes {plan.version_mismatch}, which Stripe cannot "
                    "change: create another destination in the Dashboard (or delete this one "
                    "and run this command again)."
                )
            )

    def _checked_url(self, url: str) -> str:
        try:
            parts = urlsplit(url)
        except ValueError:  # "https://[": an unclosed IPv6 host
            parts = urlsplit("")
        if parts.scheme != "https" or not parts.netloc:
            raise CommandError(
                f"--url {url!r}: Stripe delivers webhooks to a public https:// URL "
                "(use `stripe listen --forward-to` for local development)."
            )
        return url

    def _checked_events(self, given: list[str], *, connect: bool) -> list[str]:
        if not given:
            return default_events(connect=connect)
        events = sorted(
            {name.strip() for item in given for name in item.split(",") if name.strip()}
        )
        unknown = unknown_events(events)
        if unknown:
            raise CommandError(f"Not Stripe event types: {', '.join(unknown)}.")
        handled = CONNECT_ENDPOINT_EVENTS if connect else HANDLED_EVENTS
        ignored = [event for event in events if event not in handled and event != "*"]
        if ignored:
            self.stderr.write(
                f"Note: this app does not act on {', '.join(ignored)}; "
                "they are stored and sent as webhook_received only."
            )
        return events

    def _print_plan(self, plan: EndpointPlan) -> None:
        if plan.action == "create":
            self.stdout.write("  POST /v1/webhook_endpoints")
            self.stdout.write("  " + json.dumps(plan.params, indent=2).replace("\n", "\n  "))
        elif plan.endpoint is not None:
            where = f"{plan.endpoint['id']} ({plan.endpoint.get('url')})"
            if plan.action == "unchanged":
                self.stdout.write(f"  {where}: unchanged")
            else:
                self.stdout.write(f"  POST /v1/webhook_endpoints/{plan.endpoint['id']}")
                for name, (old, new) in plan.changes.items():
                    self.stdout.write(f"      {name}: {old!r} → {new!r}")
        if plan.version_mismatch:
            self.stderr.write(
                self.style.WARNING(
                    f"The endpoint renders events in API version {plan.version_mismatch}, but "
                    f"this app expects {get_settings().api_version}. Stripe cannot change an "
                    "endpoint's version: create a new endpoint in the Dashboard (or delete this "
                    "one and run this command again), then put its secret in WEBHOOK_SECRETS "
                    "next to the old one until the old endpoint is gone."
                )
            )

    def _print_secret(self, secret: str, *, setting: str) -> None:
        variable = f"STRIPE_{setting}"
        # Printed once to the terminal on purpose; never logged.
        self.stdout.write(
            "\nSigning secret (shown once; Stripe will not show it here again):\n"
            f"    {secret}\n"
            f"Add it to STRIPE_PORTAL['{setting}'], e.g. through the environment:\n"
            f"    {variable}=<the secret>   # several: separated by spaces\n"
            "Keep the previous secret in the list until no delivery uses it any more."
        )

    def _stripe_failure(self, doing: str, error: stripe.StripeError) -> str:
        if not isinstance(error, stripe.APIConnectionError):
            return f"Stripe refused to {doing}: {stripe_error_text(error)}."
        if doing.startswith("list"):
            return f"Could not {doing}: {stripe_error_text(error)}; nothing was changed."
        return (
            f"Could not {doing} the endpoint: {stripe_error_text(error)}. Stripe may have "
            "received the request: run the command again (it finds its endpoint and changes "
            "only what differs)."
        )
