"""Offline validation of CONFIGURATIONS (system check E010 and sync's first step)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.core.checks import Error
from django.test import override_settings

from django_stripe_portal.checks import check_settings
from django_stripe_portal.configurations.declare import MARKER_KEY
from django_stripe_portal.configurations.schema import validate_declaration
from tests import contract

VALID: dict[str, Any] = {
    "business_profile": {
        "headline": "Manage your subscription",
        "privacy_policy_url": "https://example.com/privacy",
    },
    "default_return_url": "https://example.com/account",
    "features": {
        "customer_update": {"enabled": True, "allowed_updates": ["email", "address"]},
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True},
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "proration_behavior": "none",
            "cancellation_reason": {"enabled": True, "options": ["too_expensive", "other"]},
        },
        "subscription_pause": {
            "enabled": True,
            "duration": {
                "type": "interval_options",
                "interval_options": [{"interval": "month", "interval_count": 2}],
            },
        },
        "subscription_update": {
            "enabled": True,
            "default_allowed_updates": ["price", "quantity"],
            "proration_behavior": "create_prorations",
            "products": [
                {
                    "product": "prod_basic",
                    "prices": ["price_month", "price_year"],
                    "adjustable_quantity": {"enabled": True, "minimum": 1, "maximum": 10},
                }
            ],
            "schedule_at_period_end": {"conditions": [{"type": "decreasing_item_amount"}]},
        },
    },
    "login_page": {"enabled": False},
    "metadata": {"team": "billing"},
    "name": "Standard",
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """VALID with one field set (``value`` None: removed)."""
    body = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node: Any = body
    for name in parents:
        node = node[int(name)] if isinstance(node, list) else node[name]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return body


# (body, the exact message expected), each something Stripe refuses.
REJECTED = [
    (
        _with("features.subscription_cancel.mode", "later"),
        "CONFIGURATIONS['default'].features.subscription_cancel.mode: "
        "'later' is not one of 'at_period_end', 'immediately'",
    ),
    (
        _with("features.cancel_flows", {"enabled": True}),
        "CONFIGURATIONS['default'].features.cancel_flows: unknown parameter (known: "
        "customer_update, invoice_history, payment_method_update, subscription_cancel, "
        "subscription_pause, subscription_update)",
    ),
    (
        _with("features.subscription_cancell", {"enabled": True}),
        "CONFIGURATIONS['default'].features.subscription_cancell: unknown parameter "
        "(did you mean 'subscription_cancel'? known: customer_update, invoice_history, "
        "payment_method_update, subscription_cancel, subscription_pause, subscription_update)",
    ),
    (
        _with("features.invoice_history.enabled", "yes"),
        "CONFIGURATIONS['default'].features.invoice_history.enabled: "
        "'yes' is not a boolean (True or False)",
    ),
    (
        _with("features.invoice_history.enabled", None),
        "CONFIGURATIONS['default'].features.invoice_history.enabled: is required",
    ),
    (
        _with("features", None),
        "CONFIGURATIONS['default'].features: is required",
    ),
    (
        _with("features.subscription_cancel.cancellation_reason.options", ["bored"]),
        "CONFIGURATIONS['default'].features.subscription_cancel.cancellation_reason.options[0]: "
        "'bored' is not one of 'customer_service', 'low_quality', 'missing_features', 'other', "
        "'switched_service', 'too_complex', 'too_expensive', 'unused'",
    ),
    (
        _with("features.subscription_update.products", [{"product": "prod_basic"}]),
        "CONFIGURATIONS['default'].features.subscription_update.products[0].prices: is required",
    ),
    (
        _with("features.subscription_pause.duration.interval_options", [{"interval_count": 2}]),
        "CONFIGURATIONS['default'].features.subscription_pause.duration.interval_options[0]"
        ".interval: is required",
    ),
    (
        _with("business_profile.headline", "x" * 61),
        "CONFIGURATIONS['default'].business_profile.headline: 61 characters; "
        "Stripe allows at most 60",
    ),
    (
        _with("features.customer_update.allowed_updates", "email"),
        "CONFIGURATIONS['default'].features.customer_update.allowed_updates: 'email' is not a list",
    ),
    (
        _with("login_page", {}),
        "CONFIGURATIONS['default'].login_page.enabled: is required",
    ),
]

# Stripe's form encoding would accept these ("10" and "true" arrive as text either way),
# but the declared value would then never equal Stripe's 10 / true: refused on purpose.
STRICTER = [
    (
        _with("features.subscription_update.products.0.adjustable_quantity.maximum", "10"),
        "CONFIGURATIONS['default'].features.subscription_update.products[0]"
        ".adjustable_quantity.maximum: '10' is not an integer",
    ),
    (
        _with("features.invoice_history.enabled", "true"),
        "CONFIGURATIONS['default'].features.invoice_history.enabled: "
        "'true' is not a boolean (True or False)",
    ),
]


# Schema-valid, but refused by rules the spec states in its descriptions
# (each phrase is checked against the spec below, so the rule stays grounded).
DOCUMENTED = [
    (
        _with("features.subscription_cancel.proration_behavior", "always_invoice"),
        "CONFIGURATIONS['default'].features.subscription_cancel.proration_behavior: "
        "'always_invoice' is refused here; use 'none' or 'create_prorations'",
        (
            "features.subscription_cancel.proration_behavior",
            "Passing `always_invoice` will result in an error",
        ),
    ),
    (
        _with("features.subscription_cancel.proration_behavior", "create_prorations"),
        "CONFIGURATIONS['default'].features.subscription_cancel.proration_behavior: "
        "'create_prorations' needs mode 'immediately' (cancel at once)",
        (
            "features.subscription_cancel.proration_behavior",
            "only compatible with `mode=immediately`",
        ),
    ),
    (
        _with("features.subscription_pause.duration", {"type": "interval_options"}),
        "CONFIGURATIONS['default'].features.subscription_pause.duration.interval_options: "
        "is required when type is 'interval_options'",
        (
            "features.subscription_pause.duration.interval_options",
            "Required when `type` is `interval_options`",
        ),
    ),
    (
        _with(
            "features.subscription_update.products",
            [{"product": f"prod_{n}", "prices": [f"price_{n}"]} for n in range(11)],
        ),
        "CONFIGURATIONS['default'].features.subscription_update.products: "
        "11 products; Stripe allows at most 10",
        ("features.subscription_update.products", "up to 10 products"),
    ),
]

ACCEPTED = [
    VALID,
    {"features": {"invoice_history": {"enabled": True}}},
    _with("business_profile.headline", ""),
    _with("features.customer_update.allowed_updates", ""),
    _with("features.subscription_update.products", ""),
    _with("business_profile.headline", "x" * 60),
    _with("features.subscription_update.products.0.adjustable_quantity", None),
]


@pytest.mark.parametrize(
    ("body", "expected"), REJECTED + STRICTER + [(body, message) for body, message, _ in DOCUMENTED]
)
def test_a_body_stripe_rejects_fails_with_the_exact_path(
    body: dict[str, Any], expected: str
) -> None:
    assert [str(error) for error in validate_declaration("default", body)] == [expected]


@pytest.mark.parametrize("body", ACCEPTED)
def test_a_body_stripe_accepts_passes(body: dict[str, Any]) -> None:
    assert validate_declaration("default", body) == []


def test_the_apps_marker_cannot_be_declared() -> None:
    body = _with("metadata", {MARKER_KEY: "other"})
    assert [str(error) for error in validate_declaration("pro", body)] == [
        f"CONFIGURATIONS['pro'].metadata.{MARKER_KEY}: is written by django-stripe-portal "
        "to recognise its configurations; remove it from the declaration"
    ]


@pytest.mark.parametrize(
    ("key", "body", "message"),
    [
        ("default", ["features"], "must be a dict (the request body), not ['features']"),
        ("", {"features": {}}, "the key must be a non-empty string"),
        ("k" * 101, {"features": {}}, "the key must be at most 100 characters long"),
    ],
)
def test_ill_formed_entries_are_reported(key: str, body: Any, message: str) -> None:
    errors = validate_declaration(key, body)
    assert [error.message for error in errors] == [message]


def test_the_system_check_reports_e010_per_error() -> None:
    bad = _with("features.subscription_cancel.mode", "later")
    bad["features"]["invoice_history"] = {}
    portal = {"API_KEY": "sk_test_tests", "CONFIGURATIONS": {"good": VALID, "bad": bad}}
    with override_settings(STRIPE_PORTAL=portal):
        errors = [m for m in check_settings() if m.id == "stripe_portal.E010"]
    assert all(isinstance(error, Error) for error in errors)
    assert [error.msg for error in errors] == [
        "STRIPE_PORTAL: CONFIGURATIONS['bad'].features.invoice_history.enabled: is required",
        "STRIPE_PORTAL: CONFIGURATIONS['bad'].features.subscription_cancel.mode: "
        "'later' is not one of 'at_period_end', 'immediately'",
    ]


def test_valid_configurations_raise_no_e010() -> None:
    portal = {"API_KEY": "sk_test_tests", "CONFIGURATIONS": {"default": VALID}}
    with override_settings(STRIPE_PORTAL=portal):
        assert not [m for m in check_settings() if m.id == "stripe_portal.E010"]


@contract.requires_openapi
@pytest.mark.parametrize(
    "body", ACCEPTED + [body for body, _ in REJECTED], ids=lambda body: str(hash(repr(body)))
)
def test_the_validator_agrees_with_stripes_spec(body: dict[str, Any]) -> None:
    """Same verdict as the shared OpenAPI validator for create requests."""
    v = contract.validator()
    try:
        v.validate_request("POST", "/v1/billing_portal/configurations", copy.deepcopy(body))
        spec_accepts = True
    except v.StripeSchemaError:
        spec_accepts = False
    assert (validate_declaration("default", body) == []) is spec_accepts


@contract.requires_openapi
@pytest.mark.parametrize("body", [body for body, _ in STRICTER])
def test_text_for_numbers_and_booleans_is_refused_although_the_wire_accepts_it(
    body: dict[str, Any],
) -> None:
    contract.validator().validate_request("POST", "/v1/billing_portal/configurations", body)
    assert validate_declaration("default", body) != []


@contract.requires_openapi
def test_the_length_limits_are_the_specs() -> None:
    """MAX_LENGTHS lists exactly the maxLength rules of the create request in the spec."""
    from django_stripe_portal.configurations.schema import MAX_LENGTHS

    spec = contract.validator().load_spec()
    operation = spec["paths"]["/v1/billing_portal/configurations"]["post"]
    schema = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    found: dict[str, int] = {}

    def walk(node: dict[str, Any], path: str) -> None:
        for option in node.get("anyOf", []):
            walk(option, path)
        if "maxLength" in node:
            found[path.lstrip(".")] = node["maxLength"]
        for name, child in node.get("properties", {}).items():
            walk(child, f"{path}.{name}")
        if "items" in node:
            walk(node["items"], path)

    walk(schema, "")
    found.pop("expand", None)  # a request option, not declarable
    assert found == MAX_LENGTHS


@contract.requires_openapi
@pytest.mark.parametrize(
    ("path", "length"),
    [
        ("name", 256),
        ("name", 257),
        ("business_profile.headline", 60),
        ("business_profile.headline", 61),
    ],
)
def test_lengths_at_the_limit_agree_with_the_spec(path: str, length: int) -> None:
    body = _with(path, "x" * length)
    v = contract.validator()
    try:
        v.validate_request("POST", "/v1/billing_portal/configurations", copy.deepcopy(body))
        spec_accepts = True
    except v.StripeSchemaError:
        spec_accepts = False
    assert (validate_declaration("default", body) == []) is spec_accepts


def test_configurations_must_be_a_dict() -> None:
    portal = {"API_KEY": "sk_test_tests", "CONFIGURATIONS": ["default"]}
    with override_settings(STRIPE_PORTAL=portal):
        errors = [m.msg for m in check_settings() if m.id == "stripe_portal.E010"]
    assert errors == [
        "STRIPE_PORTAL: CONFIGURATIONS: must be a dict of key → body, not ['default']"
    ]


def test_a_required_list_cannot_be_empty() -> None:
    body = _with("features.subscription_update.products.0.prices", [])
    assert [str(error) for error in validate_declaration("default", body)] == [
        "CONFIGURATIONS['default'].features.subscription_update.products[0].prices: "
        "must not be empty"
    ]


@contract.requires_openapi
@pytest.mark.parametrize(("body", "source"), [(body, source) for body, _, source in DOCUMENTED])
def test_documented_rules_come_from_the_specs_descriptions(
    body: dict[str, Any], source: tuple[str, str]
) -> None:
    path, phrase = source
    spec = contract.validator().load_spec()
    node = spec["paths"]["/v1/billing_portal/configurations"]["post"]["requestBody"]["content"][
        "application/x-www-form-urlencoded"
    ]["schema"]
    for name in path.split("."):
        node = node["properties"][name]
    assert phrase in node["description"]
    # The schema alone accepts the body: the rule is the description's.
    contract.validator().validate_request("POST", "/v1/billing_portal/configurations", body)
