"""sync_portal_configs: create, update only what differs, store, and nothing more."""

from __future__ import annotations

import copy
from io import StringIO
from typing import Any

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from django_stripe_portal.configurations.declare import MARKER_KEY, definition_hash
from django_stripe_portal.models import PortalConfiguration
from tests import contract
from tests.factories import PortalConfigurationFactory
from tests.fake_stripe_configs import FakeStripeConfigurations

pytestmark = pytest.mark.django_db

DEFAULT: dict[str, Any] = {
    "business_profile": {"headline": "Manage your subscription"},
    "features": {
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True},
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "cancellation_reason": {"enabled": True, "options": ["too_expensive", "unused"]},
        },
    },
}
PRO: dict[str, Any] = {
    "business_profile": {
        "headline": "Your Pro plan",
        "privacy_policy_url": "https://example.com/privacy",
    },
    "default_return_url": "https://example.com/account",
    "features": {
        "customer_update": {"enabled": True, "allowed_updates": ["email", "tax_id"]},
        "subscription_update": {
            "enabled": True,
            "default_allowed_updates": ["price", "quantity"],
            "proration_behavior": "create_prorations",
            "products": [
                {
                    "product": "prod_pro",
                    "prices": ["price_pro_month", "price_pro_year"],
                    "adjustable_quantity": {"enabled": True, "minimum": 1, "maximum": 50},
                },
                {"product": "prod_team", "prices": ["price_team_month"]},
            ],
        },
        "subscription_pause": {
            "enabled": True,
            "duration": {"type": "interval_options", "interval_options": [{"interval": "week"}]},
        },
    },
    "login_page": {"enabled": True},
    "metadata": {"plan": "pro"},
}


def portal(**configurations: Any) -> dict[str, Any]:
    return {"API_KEY": "sk_test_tests", "CONFIGURATIONS": configurations}


@pytest.fixture
def fake(stripe_mock: responses.RequestsMock) -> FakeStripeConfigurations:
    return FakeStripeConfigurations(stripe_mock).install()


def sync(*args: str) -> str:
    out = StringIO()
    call_command("sync_portal_configs", *args, stdout=out)
    return out.getvalue()


def sync_fails(*args: str) -> tuple[CommandError, str]:
    out = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("sync_portal_configs", *args, stdout=out)
    return excinfo.value, out.getvalue()


@override_settings(STRIPE_PORTAL=portal(default=DEFAULT, pro=PRO))
def test_first_run_creates_each_key_with_the_marker_and_stores_it(
    fake: FakeStripeConfigurations,
) -> None:
    output = sync()

    assert "test mode" in output
    assert [call.path for call in fake.writes()] == ["/v1/billing_portal/configurations"] * 2
    for key in ("default", "pro"):
        (obj,) = fake.by_key(key)
        row = PortalConfiguration.objects.get(key=key, livemode=False)
        assert row.stripe_id == obj["id"]
        assert row.stripe_data == obj
        assert row.definition_hash == definition_hash(DEFAULT if key == "default" else PRO)
        assert row.active is True and row.is_default is False and row.synced_at is not None
    pro = fake.by_key("pro")[0]
    assert pro["metadata"] == {"plan": "pro", MARKER_KEY: "pro"}
    assert pro["features"]["subscription_update"]["products"][1]["prices"] == ["price_team_month"]
    assert all(call.idempotency_key for call in fake.writes())


@override_settings(STRIPE_PORTAL=portal(default=DEFAULT, pro=PRO))
def test_a_second_run_with_no_change_only_lists(fake: FakeStripeConfigurations) -> None:
    # Stripe fills the business profile from the account's public details.
    fake.account_business_profile = {"terms_of_service_url": "https://example.com/terms"}
    sync()
    calls_before = len(fake.calls)

    output = sync()

    new_calls = fake.calls[calls_before:]
    assert [call.method for call in new_calls] == ["GET"]
    assert "default" in output and "unchanged" in output


@override_settings(STRIPE_PORTAL=portal(default=DEFAULT, pro=PRO))
def test_a_dashboard_edit_is_undone_with_only_the_changed_fields(
    fake: FakeStripeConfigurations,
) -> None:
    sync()
    pro = fake.by_key("pro")[0]
    fake.edit(
        pro["id"],
        {
            "business_profile": {"headline": "Edited"},
            "features": {"subscription_cancel": {"enabled": True}},
        },
    )
    fake.calls.clear()

    output = sync()

    (write,) = fake.writes()
    assert write.path == f"/v1/billing_portal/configurations/{pro['id']}"
    assert write.params == {
        "business_profile": {"headline": "Your Pro plan"},
        "features": {"subscription_cancel": {"enabled": False}},
    }
    assert "business_profile.headline: 'Edited' → 'Your Pro plan'" in output
    assert "features.subscription_cancel.enabled: True → False" in output
    row = PortalConfiguration.objects.get(key="pro")
    assert row.stripe_data["business_profile"]["headline"] == "Your Pro plan"
    assert row.stripe_data == fake.objects[pro["id"]]


def test_changing_the_declaration_updates_nested_lists_whole(
    fake: FakeStripeConfigurations,
) -> None:
    with override_settings(STRIPE_PORTAL=portal(pro=PRO)):
        sync()
    changed = copy.deepcopy(PRO)
    changed["features"]["subscription_update"]["products"][1]["prices"].append("price_team_year")
    changed["features"]["customer_update"]["allowed_updates"] = []
    fake.calls.clear()

    with override_settings(STRIPE_PORTAL=portal(pro=changed)):
        sync()

    (write,) = fake.writes()
    assert write.params["features"]["subscription_update"] == {
        "products": changed["features"]["subscription_update"]["products"]
    }
    # An empty list goes out as "" (the stripe library would drop []): Stripe then holds none.
    assert write.params["features"]["customer_update"] == {"allowed_updates": ""}
    obj = fake.by_key("pro")[0]
    assert obj["features"]["customer_update"]["allowed_updates"] == []
    with override_settings(STRIPE_PORTAL=portal(pro=changed)):
        fake.calls.clear()
        sync()
    assert fake.writes() == []


def test_a_feature_removed_from_the_declaration_is_turned_off(
    fake: FakeStripeConfigurations,
) -> None:
    with override_settings(STRIPE_PORTAL=portal(default=DEFAULT)):
        sync()
    smaller = copy.deepcopy(DEFAULT)
    del smaller["features"]["payment_method_update"]
    fake.calls.clear()

    with override_settings(STRIPE_PORTAL=portal(default=smaller)):
        sync()

    (write,) = fake.writes()
    assert write.params == {"features": {"payment_method_update": {"enabled": False}}}


@override_settings(STRIPE_PORTAL=portal(default=DEFAULT))
def test_the_stored_id_is_the_fallback_when_the_marker_is_missing(
    fake: FakeStripeConfigurations,
) -> None:
    made_elsewhere = fake.add(DEFAULT)
    PortalConfigurationFactory(key="default", stripe_id=made_elsewhere["id"], livemode=False)

    sync()

    (write,) = fake.writes()
    assert write.params == {"metadata": {MARKER_KEY: "default"}}
    assert fake.objects[made_elsewhere["id"]]["metadata"] == {MARKER_KEY: "default"}
    assert len(fake.objects) == 1


@override_settings(STRIPE_PORTAL=portal(default=DEFAULT))
def test_configurations_the_app_did_not_create_are_never_touched(
    fake: FakeStripeConfigurations,
) -> None:
    dashboard_default = fake.add(DEFAULT, is_default=True)
    other = fake.add({"features": {"invoice_history": {"enabled": True}}})

    sync("--prune")

    assert [call.path for call in fake.writes()] == ["/v1/billing_portal/configurations"]
    assert fake.objects[dashboard_default["id"]]["metadata"] == {}
    assert fake.objects[other["id"]]["active"] is True


@override_settings(STRIPE_PORTAL=portal(default=DEFAULT))
def test_every_page_is_listed(fake: FakeStripeConfigurations) -> None:
    ours = fake.add(DEFAULT, metadata={MARKER_KEY: "default"}, created=1)  # oldest: last page
    for _ in range(230):
        fake.add({"features": {"invoice_history": {"enabled": False}}})

    sync()

    lists = fake.lists()
    assert [call.params.get("limit") for call in lists] == ["100", "100", "100"]
    assert "starting_after" not in lists[0].params
    assert all(call.params.get("starting_after") for call in lists[1:])
    assert fake.writes() == []
    assert PortalConfiguration.objects.get(key="default").stripe_id == ours["id"]


def test_a_hundred_declared_one_changed_costs_the_list_calls_and_one_write(
    fake: FakeStripeConfigurations,
) -> None:
    declared = {f"plan_{n:03d}": copy.deepcopy(DEFAULT) for n in range(100)}
    with override_settings(STRIPE_PORTAL=portal(**declared)):
        sync()
    assert len(fake.writes()) == 100
    declared["plan_042"]["business_profile"]["headline"] = "Plan 42"
    fake.calls.clear()

    with override_settings(STRIPE_PORTAL=portal(**declared)):
        sync()

    # 100 configurations fit in one page of 100: one list call, one write.
    assert [call.method for call in fake.calls] == ["GET", "POST"]
    assert fake.writes()[0].params == {"business_profile": {"headline": "Plan 42"}}


@override_settings(STRIPE_PORTAL=portal(default={"features": {"subscription_cancel": {}}}))
def test_an_invalid_declaration_fails_before_any_api_call(
    fake: FakeStripeConfigurations,
) -> None:
    error, _ = sync_fails()

    assert error.returncode == 2
    assert "CONFIGURATIONS['default'].features.subscription_cancel.enabled: is required" in str(
        error
    )
    assert fake.calls == []


@contract.requires_openapi
@override_settings(STRIPE_PORTAL=portal(default=DEFAULT, pro=PRO))
def test_every_request_sent_matches_stripes_spec(fake: FakeStripeConfigurations) -> None:
    sync()
    for obj in fake.objects.values():
        fake.edit(
            obj["id"],
            {
                "business_profile": {"headline": "x", "privacy_policy_url": "https://x.test"},
                "features": {
                    "subscription_update": {"products": [], "enabled": True},
                    "customer_update": {"enabled": False},
                },
                "active": False,
            },
        )
    sync()
    assert len(fake.writes()) == 4
    for call in fake.calls:
        url = f"https://api.stripe.com{call.path}"
        contract.validate_request(call.method, url, call.body)
    for obj in fake.objects.values():
        contract.validate_object("billing_portal.configuration", obj, strict=True)


@override_settings(STRIPE_PORTAL=portal(default=DEFAULT))
def test_the_marker_wins_over_a_stale_stored_id(fake: FakeStripeConfigurations) -> None:
    unmarked = fake.add(DEFAULT)
    marked = fake.add(DEFAULT, metadata={MARKER_KEY: "default"})
    PortalConfigurationFactory(key="default", stripe_id=unmarked["id"], livemode=False)

    sync()

    assert fake.writes() == []
    assert PortalConfiguration.objects.get(key="default").stripe_id == marked["id"]
