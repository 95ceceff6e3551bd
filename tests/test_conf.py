"""The STRIPE_PORTAL settings object: defaults, validation, reload on override_settings."""

from __future__ import annotations

import pytest
import stripe
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_stripe_portal.conf import DEFAULTS, get_settings


def test_defaults_fill_what_settings_leave_out() -> None:
    conf = get_settings()
    assert conf.API_KEY == "sk_test_tests"
    assert conf.RETURN_URL == DEFAULTS["RETURN_URL"] == "/"
    assert conf.WEBHOOK_TOLERANCE == 300
    assert conf.WEBHOOK_PROCESSING == "sync"
    assert conf.CUSTOMER_RESOLVER == "django_stripe_portal.customers.linked_customer"


def test_api_version_defaults_to_the_sdk_pin() -> None:
    assert get_settings().api_version == stripe.api_version
    with override_settings(STRIPE_PORTAL={"API_KEY": "sk_test_x", "API_VERSION": "2025-01-01"}):
        assert get_settings().api_version == "2025-01-01"


def test_override_settings_is_seen_at_once_and_undone_after() -> None:
    with override_settings(STRIPE_PORTAL={"API_KEY": "sk_test_other", "RETURN_URL": "/x/"}):
        assert get_settings().API_KEY == "sk_test_other"
        assert get_settings().RETURN_URL == "/x/"
    assert get_settings().API_KEY == "sk_test_tests"
    assert get_settings().RETURN_URL == "/"


def test_unknown_key_is_an_error_with_a_did_you_mean_hint() -> None:
    with override_settings(STRIPE_PORTAL={"API_KEY": "sk_test_x", "WEBHOOK_SECRET": ["whsec_a"]}):
        with pytest.raises(ImproperlyConfigured) as excinfo:
            get_settings()
    message = str(excinfo.value)
    assert "'WEBHOOK_SECRET'" in message
    assert "did you mean 'WEBHOOK_SECRETS'?" in message


def test_settings_that_are_not_a_dict_are_refused() -> None:
    with override_settings(STRIPE_PORTAL=["API_KEY"]):
        with pytest.raises(ImproperlyConfigured, match="must be a dict"):
            get_settings()


@pytest.mark.parametrize(
    ("key", "explicit", "expected"),
    [
        ("sk_test_abc", None, False),
        ("rk_test_abc", None, False),
        ("sk_live_abc", None, True),
        ("rk_live_abc", None, True),
        ("sk_live_abc", False, False),
        ("sk_test_abc", True, True),
    ],
)
def test_livemode_follows_the_key_unless_set(
    key: str, explicit: bool | None, expected: bool
) -> None:
    with override_settings(STRIPE_PORTAL={"API_KEY": key, "LIVEMODE": explicit}):
        assert get_settings().livemode is expected


def test_missing_api_key_names_the_setting() -> None:
    with override_settings(STRIPE_PORTAL={}):
        with pytest.raises(ImproperlyConfigured, match=r"STRIPE_PORTAL\['API_KEY'\]"):
            get_settings().require_api_key()


def test_dotted_paths_are_imported_lazily_and_errors_name_the_setting() -> None:
    from django_stripe_portal.customers import linked_customer

    assert get_settings().imported("CUSTOMER_RESOLVER") is linked_customer
    assert get_settings().imported("PORTAL_GUARD") is None
    with override_settings(STRIPE_PORTAL={"API_KEY": "sk_test_x", "PORTAL_GUARD": "no.such.func"}):
        with pytest.raises(ImproperlyConfigured, match=r"PORTAL_GUARD.*cannot be imported"):
            get_settings().imported("PORTAL_GUARD")
