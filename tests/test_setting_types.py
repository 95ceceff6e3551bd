"""Every setting no other check looks at has its type checked (stripe_portal.E018), and
``ACTIVE_STATUSES`` its statuses (E019): each error names the setting and the fix. A
``WEBHOOK_TOLERANCE`` read from the environment (a string) is an error of the check, never
a 500 at delivery."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client, override_settings

from django_stripe_portal.conf import DEFAULTS, IMPORT_STRINGS, PortalSettings
from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.setting_types import SETTING_TYPES
from tests import stripe_objects as so
from tests.test_checks import GOOD, run_checks
from tests.webhook_support import SECRET, post_signed


def _ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("active", "a string"),
        (("active"), "a string"),  # a parenthesized string is no tuple
        (None, "is not a list"),
        ({"active": True}, "is not a list"),
        (["actve", "trialing"], "'actve'"),
        ([], "is empty"),
    ],
)
def test_active_statuses_must_be_a_list_of_stripes_statuses(value: Any, fragment: str) -> None:
    (message,) = run_checks(ACTIVE_STATUSES=value)
    assert message.id == "stripe_portal.E019"
    assert "ACTIVE_STATUSES" in message.msg and fragment in message.msg
    assert "['active', 'trialing']" in message.hint


@pytest.mark.parametrize("value", [["active"], ("active", "trialing", "past_due")])
def test_good_active_statuses_pass(value: Any) -> None:
    assert run_checks(ACTIVE_STATUSES=value) == []


#: For each checked setting: values that must be refused.
BAD_VALUES: dict[str, list[Any]] = {
    "API_VERSION": [20261028, b"2026-10-28.endive"],
    "API_BASE": [443],
    "LIVEMODE": ["false", 1],
    "MAX_NETWORK_RETRIES": ["2", -1, 2.5, True],
    "API_TIMEOUT": ["20", 0, None],
    "ALLOWED_RETURN_HOSTS": ["billing.example.com", [1], None],
    "NO_CUSTOMER_URL": [["/"]],
    "RETURN_TOKEN_MAX_AGE": ["604800", 0, 1.5],
    "RETENTION_COUPON": [42],
    "WEBHOOK_TOLERANCE": ["300", 0, -5, None, True],
    "WEBHOOK_MAX_BODY_BYTES": ["1048576", 0],
    "WEBHOOK_RETRY_DELAYS": ["60 300", [], [60, "300"], [-1], 60],
    "WEBHOOK_STUCK_AFTER": ["600", -1, 0.5],
    "VISIT_WINDOW": ["3600", 0],
    "ENTITLEMENT_REQUIRED_URL": [["/pricing/"], 403],
    "EVENT_PAYLOAD_DAYS": ["400", 0, -1, 30.5, True],
}


def test_every_setting_no_other_check_reads_is_typed() -> None:
    assert set(BAD_VALUES) == set(SETTING_TYPES)


@pytest.mark.parametrize(
    ("name", "value"), [(name, value) for name, values in BAD_VALUES.items() for value in values]
)
def test_a_value_of_the_wrong_type_is_an_error_naming_the_setting(name: str, value: Any) -> None:
    (message,) = run_checks(**{name: value})
    assert message.id == "stripe_portal.E018"
    assert f"['{name}'] = {value!r}" in message.msg
    assert message.hint


@pytest.mark.parametrize("name", SETTING_TYPES)
def test_the_defaults_pass(name: str) -> None:
    assert run_checks(**{name: DEFAULTS[name]}) == []


def test_good_values_of_other_shapes_pass() -> None:
    assert (
        run_checks(
            API_TIMEOUT=2.5,
            LIVEMODE=False,
            API_BASE="http://127.0.0.1:12111",
            ALLOWED_RETURN_HOSTS=("app.example.com",),
            WEBHOOK_RETRY_DELAYS=(0, 1.5, 60),
            EVENT_PAYLOAD_DAYS=400,
        )
        == []
    )


@pytest.mark.django_db
@pytest.mark.parametrize("tolerance", ["300", "five minutes"])
def test_a_tolerance_read_from_the_environment_never_fails_a_delivery(
    client: Client, caplog: pytest.LogCaptureFixture, tolerance: str
) -> None:
    event = so.event("customer.subscription.created", so.subscription())
    with override_settings(
        STRIPE_PORTAL={**GOOD, "WEBHOOK_SECRETS": [SECRET], "WEBHOOK_TOLERANCE": tolerance}
    ):
        with caplog.at_level(logging.ERROR, "django_stripe_portal.webhooks"):
            response = post_signed(client, event)
    assert response.status_code == 200
    assert WebhookEvent.objects.get(stripe_id=event["id"]).status == "processed"
    assert "WEBHOOK_TOLERANCE" in caplog.text


def test_a_string_tolerance_still_refuses_an_old_signature() -> None:
    assert PortalSettings({"WEBHOOK_TOLERANCE": "300"}).webhook_tolerance == 300
    assert PortalSettings({"WEBHOOK_TOLERANCE": "nan"}).webhook_tolerance == 300
    assert PortalSettings({"WEBHOOK_TOLERANCE": 60}).webhook_tolerance == 60


#: Settings whose values other checks validate (E002, E005 to E012, E019 to E021, E030).
CHECKED_ELSEWHERE = {
    "SESSION_AFTER_EXPIRATION",
    "STRIPE_CONTEXT",
    "API_KEY",
    "CONFIGURATIONS",
    "DEFAULT_CONFIGURATION",
    "RETURN_URL",
    "GUARD_URLS",
    "WEBHOOK_SECRETS",
    "CONNECT_WEBHOOK_SECRETS",
    "EVENT_DESTINATION_SECRETS",
    "WEBHOOK_PROCESSING",
    "ACTIVE_STATUSES",
    *IMPORT_STRINGS,
}


def test_every_setting_is_checked_somewhere() -> None:
    assert set(DEFAULTS) == set(SETTING_TYPES) | CHECKED_ELSEWHERE


@pytest.mark.parametrize("name", sorted(CHECKED_ELSEWHERE - {"ACTIVE_STATUSES"}))
@pytest.mark.parametrize("value", [12345, ["x"], {"x": 1}])
def test_a_wrong_type_of_the_others_is_an_error_too(name: str, value: Any) -> None:
    messages = run_checks(**{name: value})
    assert messages and all(message.id.startswith("stripe_portal.E") for message in messages)
    assert any(name in message.msg for message in messages)
