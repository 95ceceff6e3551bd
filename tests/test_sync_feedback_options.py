"""Custom feedback options in a declaration: they pass the checks, sync, and their
descriptions are stored (expanded) for the reports, with no drift from the expansion."""

from __future__ import annotations

import copy
from io import StringIO
from typing import Any

import pytest
import responses
from django.core import checks
from django.core.management import call_command
from django.test import override_settings

from django_stripe_portal.configurations.feedback_options import feedback_option_descriptions
from django_stripe_portal.models import PortalConfiguration
from tests import contract
from tests import stripe_objects as so
from tests.fake_stripe_configs import FakeStripeConfigurations

pytestmark = pytest.mark.django_db

WITH_OPTIONS: dict[str, Any] = {
    "features": {
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "cancellation_reason": {
                "enabled": True,
                "options": ["too_expensive", "other"],
                "feedback_options": ["bfo_setup", "bfo_team"],
            },
        },
    },
}


def _settings(body: dict[str, Any]) -> Any:
    return override_settings(
        STRIPE_PORTAL={"API_KEY": "sk_test_tests", "CONFIGURATIONS": {"default": body}}
    )


@pytest.fixture
def fake(stripe_mock: responses.RequestsMock) -> FakeStripeConfigurations:
    fake = FakeStripeConfigurations(stripe_mock).install()
    for option in (
        so.feedback_option(id="bfo_setup", description="Too hard to set up"),
        so.feedback_option(id="bfo_team", description="My team left"),
    ):
        fake.feedback_options[option["id"]] = option
    return fake


def _sync(*args: str) -> str:
    out = StringIO()
    call_command("sync_portal_configs", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_declared_feedback_options_pass_the_checks() -> None:
    with _settings(WITH_OPTIONS):
        errors = [m for m in checks.run_checks() if m.id and m.id.startswith("stripe_portal")]
    assert [m for m in errors if m.level >= checks.ERROR] == []


def test_a_misspelt_feedback_options_key_is_caught() -> None:
    body = copy.deepcopy(WITH_OPTIONS)
    reasons = body["features"]["subscription_cancel"]["cancellation_reason"]
    reasons["feedback_option"] = reasons.pop("feedback_options")
    with _settings(body):
        ids = [m.id for m in checks.run_checks() if m.level >= checks.ERROR]
    assert "stripe_portal.E010" in ids


def test_sync_stores_the_descriptions_and_a_second_run_writes_nothing(
    fake: FakeStripeConfigurations,
) -> None:
    with _settings(WITH_OPTIONS):
        _sync()
        (create,) = fake.writes()
        assert create.params["features"]["subscription_cancel"]["cancellation_reason"][
            "feedback_options"
        ] == ["bfo_setup", "bfo_team"]
        assert create.params["expand"] == [
            "features.subscription_cancel.cancellation_reason.feedback_options"
        ]
        assert feedback_option_descriptions() == {
            "bfo_setup": "Too hard to set up",
            "bfo_team": "My team left",
        }

        output = _sync()

    assert len(fake.writes()) == 1, output  # the expanded objects equal the declared ids
    assert "unchanged" in output
    # The list cannot expand that deep; each configuration with options is read once more.
    stripe_id = PortalConfiguration.objects.get().stripe_id
    (retrieve,) = [c for c in fake.lists() if c.path.endswith(stripe_id)]
    assert list(retrieve.params.values()) == [
        "features.subscription_cancel.cancellation_reason.feedback_options"
    ]
    assert feedback_option_descriptions()["bfo_team"] == "My team left"


def test_options_added_in_the_dashboard_are_read_expanded(fake: FakeStripeConfigurations) -> None:
    with _settings(WITH_OPTIONS):
        _sync()
    stored = PortalConfiguration.objects.get()
    stored.stripe_data = {}
    stored.save()

    with _settings(WITH_OPTIONS):
        _sync("--check")  # reads only; still stores nothing
        assert feedback_option_descriptions() == {}
        _sync()

    assert feedback_option_descriptions()["bfo_setup"] == "Too hard to set up"


def test_every_request_of_the_sync_fits_stripes_schema(
    fake: FakeStripeConfigurations, stripe_mock: responses.RequestsMock
) -> None:
    with _settings(WITH_OPTIONS):
        _sync()
        _sync()
    for call in stripe_mock.calls:
        contract.validate_request(call.request.method, call.request.url, call.request.body)
