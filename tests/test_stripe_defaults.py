"""The one table of Stripe's configuration defaults, its merge and the form decoder that the
test double and the demo's stand-in share: checked against Stripe's spec and fixtures."""

from __future__ import annotations

import copy
import json
from typing import Any

from django_stripe_portal.configurations import stripe_defaults
from django_stripe_portal.configurations.diff import FEATURE_NAMES
from django_stripe_portal.testing.stripe_forms import configuration_params, decode_form
from tests import contract


def _spec() -> dict[str, Any]:
    contract.validator()  # skips where the shared spec is absent
    return json.loads((contract.OPENAPI_DIR / "billing_portal_subset.json").read_text())  # type: ignore[no-any-return]


def test_form_decoding_matches_stripes_encoding() -> None:
    body = (
        "features[subscription_cancel][enabled]=true"
        "&features[subscription_cancel][cancellation_reason][options][0]=too_expensive"
        "&features[subscription_cancel][cancellation_reason][options][1]=other"
        "&lookup_keys[]=a&lookup_keys[]=b&items[0][price]=price_1&items[0][quantity]=2"
        "&default_return_url="
    )
    assert decode_form(body) == {
        "features": {
            "subscription_cancel": {
                "enabled": "true",
                "cancellation_reason": {"options": ["too_expensive", "other"]},
            }
        },
        "lookup_keys": ["a", "b"],
        "items": [{"price": "price_1", "quantity": "2"}],
        "default_return_url": "",
    }


def test_configuration_params_take_the_types_stripe_reads() -> None:
    decoded = decode_form(
        "features[subscription_pause][enabled]=true"
        "&features[subscription_pause][duration][type]=interval_options"
        "&features[subscription_pause][duration][interval_options][0][interval]=week"
        "&features[subscription_pause][duration][interval_options][0][interval_count]=2"
        "&features[customer_update][allowed_updates]="
        "&metadata[0]=kept+as+a+map"
    )
    assert configuration_params(decoded, update=True) == {
        "features": {
            "subscription_pause": {
                "enabled": True,
                "duration": {
                    "type": "interval_options",
                    "interval_options": [{"interval": "week", "interval_count": 2}],
                },
            },
            "customer_update": {"allowed_updates": ""},
        },
        "metadata": {"0": "kept as a map"},
    }


def test_a_new_configuration_is_what_stripes_schema_describes() -> None:
    created = stripe_defaults.new_configuration(
        {"features": {"invoice_history": {"enabled": True}}, "login_page": {"enabled": True}},
        configuration_id="bpc_1",
        created=1_700_000_000,
    )
    contract.validate_object("billing_portal.configuration", created, strict=True)
    assert created["features"]["invoice_history"] == {"enabled": True}
    assert created["login_page"]["url"] == stripe_defaults.TEST_LOGIN_PAGE_URL


def test_every_feature_of_the_schema_has_a_default() -> None:
    features = _spec()["components"]["schemas"]["billing_portal.configuration"]["properties"][
        "features"
    ]["properties"]
    assert set(stripe_defaults.FEATURE_DEFAULTS) == set(features)
    assert FEATURE_NAMES == stripe_defaults.FEATURE_NAMES


def test_the_pause_default_is_the_documented_one() -> None:
    create = _spec()["paths"]["/v1/billing_portal/configurations"]["post"]
    form = create["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    duration = form["properties"]["features"]["properties"]["subscription_pause"]["properties"][
        "duration"
    ]
    assert (
        "Defaults to `interval_options` with a single one-month option" in (duration["description"])
    )
    pause = stripe_defaults.FEATURE_DEFAULTS["subscription_pause"]
    assert pause["duration"] == {
        "type": "interval_options",
        "interval_options": [{"interval": "month", "interval_count": 1}],
    }
    fixture = contract.fixtures()["resources"]["billing_portal.configuration"]
    assert fixture["features"]["subscription_pause"] == pause


def test_params_merge_as_stripe_applies_them() -> None:
    configuration = stripe_defaults.new_configuration(
        {
            "metadata": {"a": "1", "b": "2"},
            "features": {
                "subscription_update": {
                    "enabled": True,
                    "products": [{"product": "prod_1", "prices": ["price_1"]}],
                },
                "customer_update": {"enabled": True, "allowed_updates": ["email"]},
            },
        },
        configuration_id="bpc_1",
        created=1,
    )
    before = copy.deepcopy(configuration)
    stripe_defaults.apply_params(
        configuration,
        {
            "metadata": {"a": ""},
            "features": {
                "customer_update": {"allowed_updates": ""},
                "subscription_pause": {
                    "duration": {
                        "type": "interval_options",
                        "interval_options": [{"interval": "week"}],
                    }
                },
            },
            "default_return_url": "",
            "expand": ["application"],
        },
    )
    assert configuration["metadata"] == {"b": "2"}
    assert configuration["features"]["customer_update"] == {"enabled": True, "allowed_updates": []}
    assert configuration["features"]["subscription_pause"]["duration"]["interval_options"] == [
        {"interval_count": 1, "interval": "week"}
    ]
    assert configuration["features"]["subscription_update"]["products"] == [
        {
            "adjustable_quantity": {"enabled": False, "maximum": None, "minimum": 1},
            "prices": ["price_1"],
            "product": "prod_1",
        }
    ]
    assert configuration["default_return_url"] is None
    assert "expand" not in configuration
    assert (
        before["features"]["subscription_update"]
        == configuration["features"]["subscription_update"]
    )
