"""The public names of DESIGN.md's third build that this branch adds ("Access by feature",
"Accounts v2 customers", ``SESSION_AFTER_EXPIRATION``, ``STRIPE_CONTEXT``) import from the
paths they name, with the signatures they name."""

from __future__ import annotations

import inspect

from django.core.management import get_commands, load_command_class
from django.template import engines

from django_stripe_portal import access, conf, models, signals


def test_settings() -> None:
    for name in ("SESSION_AFTER_EXPIRATION", "STRIPE_CONTEXT", "CONTEXT_RESOLVER"):
        assert name in conf.DEFAULTS
        assert conf.DEFAULTS[name] is None


def test_models() -> None:
    fields = {f.name for f in models.ActiveEntitlements._meta.get_fields()}
    assert {"customer_id", "account", "livemode", "lookup_keys", "event_created_at"} <= fields
    for model in (models.StripeCustomer, models.StripeSubscription, models.PortalSession):
        field = model._meta.get_field("customer_account")
        assert field.default == ""


def test_access_helpers_and_their_parameters() -> None:
    assert list(inspect.signature(access.entitlements).parameters)[:3] == [
        "user",
        "customer_id",
        "account",
    ]
    assert list(inspect.signature(access.has_entitlement).parameters)[:4] == [
        "lookup_key",
        "user",
        "customer_id",
        "account",
    ]
    assert callable(access.entitlement_required("pro-reports"))


def test_template_filter_and_signal_and_command() -> None:
    engine = engines["django"].engine
    assert "has_entitlement" in engine.template_libraries["stripe_portal"].filters
    assert isinstance(signals.entitlements_changed, signals.Signal)
    assert get_commands()["sync_entitlements"] == "django_stripe_portal"
    parser = load_command_class("django_stripe_portal", "sync_entitlements").create_parser(
        "manage.py", "sync_entitlements"
    )
    options = {option for action in parser._actions for option in action.option_strings}
    assert {"--customer", "--account"} <= options
