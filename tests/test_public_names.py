"""Every public name of DESIGN.md (../shared/DESIGN.md) imports from the path it names.

The names of the "Second build" section that are not plain lists (signals, commands and
their options, keyword arguments) are checked one by one in ``SECOND_BUILD``.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest
from django.core.management import get_commands, load_command_class
from django.template import engines
from django.urls import reverse

from django_stripe_portal import conf, models, signals

SETTINGS = [
    # first build
    "API_KEY", "WEBHOOK_SECRETS", "API_VERSION", "API_BASE", "CONFIGURATIONS",
    "DEFAULT_CONFIGURATION", "CUSTOMER_RESOLVER", "CONFIGURATION_RESOLVER", "RETURN_URL",
    "ALLOWED_RETURN_HOSTS", "PORTAL_GUARD", "NO_CUSTOMER_URL", "WEBHOOK_TOLERANCE",
    "WEBHOOK_PROCESSING", "LIVEMODE",
    # second build (declared in conf.DEFAULTS already)
    "WEBHOOK_RETRY_DELAYS", "WEBHOOK_STUCK_AFTER", "ACCOUNT_RESOLVER", "ON_BEHALF_OF_RESOLVER",
    "CONNECT_WEBHOOK_SECRETS", "CONNECTED_ACCOUNTS", "RETENTION_RESOLVER", "RETENTION_COUPON",
]  # fmt: skip

MODEL_FIELDS = {
    "StripeCustomer": ["user", "customer_id", "livemode", "account"],
    "PortalConfiguration": [
        "key", "stripe_id", "livemode", "active", "is_default", "definition_hash",
        "stripe_data", "synced_at", "account",
    ],
    "PortalSession": [
        "stripe_id", "customer_id", "user", "configuration", "flow_type", "return_to", "locale",
        "livemode", "created_at", "returned_at", "source", "account", "retention_coupon",
    ],
    "StripeSubscription": [
        "stripe_id", "customer_id", "status", "items", "cancel_at_period_end", "cancel_at",
        "canceled_at", "current_period_end", "cancellation_details", "livemode",
        "event_created_at", "account", "pause_collection",
    ],
    "WebhookEvent": [
        "stripe_id", "type", "livemode", "api_version", "account", "created_at", "received_at",
        "payload", "status", "attempts", "last_error", "processed_at", "portal_session",
        "next_attempt_at", "received_via",
    ],
}  # fmt: skip

SIGNALS = [
    "webhook_received", "portal_session_created", "portal_session_returned",
    "subscription_plan_changed", "subscription_quantity_changed",
    "subscription_cancel_scheduled", "subscription_reactivated", "subscription_canceled",
    "payment_method_changed", "customer_details_changed", "portal_configuration_changed",
]  # fmt: skip

COMMAND_OPTIONS = {
    "sync_portal_configs": ["--dry-run", "--check", "--prune", "--only"],
    "setup_stripe_webhook": ["--url", "--events"],
    "replay_stripe_events": ["--status", "--type", "--since", "--id"],
    "portal_activity": ["--days", "--format"],
}

CALLABLES = [
    "django_stripe_portal.customers.linked_customer",
    "django_stripe_portal.customers.link_customer",
    "django_stripe_portal.guards.subscription_states",
    "django_stripe_portal.access.active_subscriptions",
    "django_stripe_portal.access.has_active_subscription",
    "django_stripe_portal.testing.sign_payload",
    "django_stripe_portal.testing.make_event",
    "django_stripe_portal.testing.post_event",
    "django_stripe_portal.signals.on",
    "django_stripe_portal.signals.event_signal",
]

# The names the "Second build" section of DESIGN.md adds, each checked its own way.
SECOND_BUILD = {
    "signal webhook_gave_up": lambda: _signal("webhook_gave_up"),
    "signal retention_offer_accepted": lambda: _signal("retention_offer_accepted"),
    "signal subscription_paused": lambda: _signal("subscription_paused"),
    "signal subscription_resumed": lambda: _signal("subscription_resumed"),
    "command fetch_stripe_events": lambda: _command_options(
        "fetch_stripe_events", ["--since", "--hours", "--type", "--undelivered", "--dry-run"]
    ),
    "command recover_stripe_events": lambda: _command_options(
        "recover_stripe_events", ["--dry-run"]
    ),
    "command check_stripe_webhooks": lambda: _command_options(
        "check_stripe_webhooks", ["--format"]
    ),
    "sync_portal_configs --account/--all-accounts": lambda: _command_options(
        "sync_portal_configs", ["--account", "--all-accounts"]
    ),
    "setup_stripe_webhook --connect": lambda: _command_options(
        "setup_stripe_webhook", ["--connect"]
    ),
    "portal_activity --account/--at-risk": lambda: _command_options(
        "portal_activity", ["--account", "--at-risk"]
    ),
    "activity.customers_at_risk": lambda: _callable(
        "django_stripe_portal.activity.customers_at_risk"
    ),
    "access helpers take account=": lambda: _takes(
        ["django_stripe_portal.access.active_subscriptions",
         "django_stripe_portal.access.has_active_subscription"],
        "account",
    ),
    "portal_button after=/confirmation_message=": lambda: _takes(
        ["django_stripe_portal.templatetags.stripe_portal.portal_button"],
        "after", "confirmation_message",
    ),
}  # fmt: skip


def _callable(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    value = getattr(importlib.import_module(module), name, None)
    assert callable(value), dotted
    return value


def _signal(name: str) -> None:
    from django.dispatch import Signal

    assert isinstance(getattr(signals, name, None), Signal), f"signals.{name}"


def _command_options(name: str, options: list[str]) -> None:
    assert get_commands().get(name) == "django_stripe_portal", f"manage.py {name}"
    parser = load_command_class("django_stripe_portal", name).create_parser("manage.py", name)
    known = {option for action in parser._actions for option in action.option_strings}
    assert set(options) <= known, sorted(set(options) - known)


def _takes(dotted_paths: list[str], *parameters: str) -> None:
    for dotted in dotted_paths:
        signature = inspect.signature(_callable(dotted))
        assert set(parameters) <= set(signature.parameters), (dotted, parameters)


@pytest.mark.parametrize("key", SETTINGS)
def test_every_setting_is_declared(key: str) -> None:
    assert key in conf.DEFAULTS
    assert key in conf.PortalSettings.__annotations__


@pytest.mark.parametrize("model_name", sorted(MODEL_FIELDS))
def test_every_model_has_its_fields(model_name: str) -> None:
    model = getattr(models, model_name)
    names = {field.name for field in model._meta.get_fields()}
    assert set(MODEL_FIELDS[model_name]) <= names, sorted(set(MODEL_FIELDS[model_name]) - names)


@pytest.mark.parametrize("name", SIGNALS)
def test_every_signal_exists(name: str) -> None:
    _signal(name)


@pytest.mark.parametrize("name", sorted(COMMAND_OPTIONS))
def test_every_command_and_its_options(name: str) -> None:
    _command_options(name, COMMAND_OPTIONS[name])


@pytest.mark.parametrize("dotted", CALLABLES)
def test_every_public_callable_imports(dotted: str) -> None:
    _callable(dotted)


def test_the_webhook_task_can_be_enqueued() -> None:
    from django_stripe_portal.tasks import process_webhook_event

    assert callable(process_webhook_event.enqueue)
    assert callable(process_webhook_event.call)


def test_activity_exports_every_name_it_lists() -> None:
    activity = importlib.import_module("django_stripe_portal.activity")
    for name in activity.__all__:
        assert hasattr(activity, name), name


def test_the_link_customer_signature() -> None:
    _takes(["django_stripe_portal.customers.link_customer"], "user", "customer_id", "account")


@pytest.mark.parametrize("name", ["redirect", "return", "webhook"])
def test_every_url_name_reverses(name: str) -> None:
    args = ["token"] if name == "return" else []
    assert reverse(f"stripe_portal:{name}", args=args)


def test_the_template_tag_and_filter_load() -> None:
    django_engine = engines["django"]
    template = django_engine.from_string(
        "{% load stripe_portal %}{% portal_button 'Billing' flow='payment_method_update' %}"
        "{{ user|has_active_subscription }}"
    )
    assert template.render({}) == "False"  # anonymous: no button, not active


@pytest.mark.parametrize("name", sorted(SECOND_BUILD))
def test_every_second_build_name(name: str) -> None:
    SECOND_BUILD[name]()
