"""sync_portal_configs flags (--dry-run, --check, --prune, --only), failures mid-run,
idempotent retries, and test/live mode separation."""

from __future__ import annotations

import copy
from io import StringIO
from typing import Any

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from django_stripe_portal.configurations.apply import (
    _idempotency_key,
    apply,
    list_configurations,
    plan,
)
from django_stripe_portal.configurations.declare import MARKER_KEY
from django_stripe_portal.models import PortalConfiguration
from tests.factories import PortalConfigurationFactory
from tests.fake_stripe_configs import FakeStripeConfigurations

pytestmark = pytest.mark.django_db

BASIC: dict[str, Any] = {
    "business_profile": {"headline": "Basic"},
    "features": {"invoice_history": {"enabled": True}},
}


def _body(headline: str) -> dict[str, Any]:
    body = copy.deepcopy(BASIC)
    body["business_profile"]["headline"] = headline
    return body


def portal(livemode: bool = False, **configurations: Any) -> dict[str, Any]:
    key = "sk_live_tests" if livemode else "sk_test_tests"
    return {"API_KEY": key, "CONFIGURATIONS": configurations}


@pytest.fixture
def fake(stripe_mock: responses.RequestsMock) -> FakeStripeConfigurations:
    return FakeStripeConfigurations(stripe_mock).install()


def run(*args: str) -> str:
    out = StringIO()
    call_command("sync_portal_configs", *args, stdout=out)
    return out.getvalue()


def run_fails(*args: str) -> tuple[CommandError, str]:
    out = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("sync_portal_configs", *args, stdout=out)
    return excinfo.value, out.getvalue()


def _synced(fake: FakeStripeConfigurations, **configurations: Any) -> None:
    with override_settings(STRIPE_PORTAL=portal(**configurations)):
        run()
    fake.calls.clear()


def test_dry_run_prints_the_diff_and_writes_nothing(fake: FakeStripeConfigurations) -> None:
    _synced(fake, basic=BASIC)
    rows_before = list(PortalConfiguration.objects.values())

    with override_settings(STRIPE_PORTAL=portal(basic=_body("New"), extra=BASIC)):
        output = run("--dry-run")

    assert "basic" in output and "business_profile.headline: 'Basic' → 'New'" in output
    assert "extra: create" in output
    assert "nothing will be written" in output
    assert fake.writes() == []
    assert list(PortalConfiguration.objects.values()) == rows_before


def test_check_exits_1_when_anything_differs(fake: FakeStripeConfigurations) -> None:
    _synced(fake, basic=BASIC)

    with override_settings(STRIPE_PORTAL=portal(basic=_body("New"))):
        error, output = run_fails("--check")

    assert error.returncode == 1
    assert "business_profile.headline: 'Basic' → 'New'" in output
    assert fake.writes() == []


def test_check_exits_0_when_everything_matches(fake: FakeStripeConfigurations) -> None:
    _synced(fake, basic=BASIC)

    with override_settings(STRIPE_PORTAL=portal(basic=BASIC)):
        output = run("--check")

    assert "1 unchanged" in output
    assert fake.writes() == []


def test_check_counts_a_missing_configuration_as_a_difference(
    fake: FakeStripeConfigurations,
) -> None:
    with override_settings(STRIPE_PORTAL=portal(basic=BASIC)):
        error, _ = run_fails("--check")
    assert error.returncode == 1
    assert fake.objects == {}


def test_prune_deactivates_only_the_apps_own_undeclared_configurations(
    fake: FakeStripeConfigurations,
) -> None:
    _synced(fake, basic=BASIC, retired=_body("Old"))
    retired = fake.by_key("retired")[0]
    not_ours = fake.add(_body("Made in the Dashboard"))

    with override_settings(STRIPE_PORTAL=portal(basic=BASIC)):
        without_prune = run()
        assert fake.writes() == []
        output = run("--prune")

    (write,) = fake.writes()
    assert write.path == f"/v1/billing_portal/configurations/{retired['id']}"
    assert write.params == {"active": False}
    assert fake.objects[retired["id"]]["active"] is False
    assert fake.objects[not_ours["id"]]["active"] is True
    assert "retired" not in without_prune
    assert "retired" in output and "prune" in output
    assert PortalConfiguration.objects.get(key="retired").active is False


def test_a_pruned_key_declared_again_is_reactivated_not_duplicated(
    fake: FakeStripeConfigurations,
) -> None:
    _synced(fake, basic=BASIC, seasonal=_body("Summer"))
    with override_settings(STRIPE_PORTAL=portal(basic=BASIC)):
        run("--prune")
    fake.calls.clear()

    with override_settings(STRIPE_PORTAL=portal(basic=BASIC, seasonal=_body("Summer"))):
        run()

    (write,) = fake.writes()
    assert write.params == {"active": True}
    assert len(fake.by_key("seasonal")) == 1
    assert fake.by_key("seasonal")[0]["active"] is True


def test_only_limits_the_run_to_one_key(fake: FakeStripeConfigurations) -> None:
    _synced(fake, one=_body("One"), two=_body("Two"))

    with override_settings(STRIPE_PORTAL=portal(one=_body("One!"), two=_body("Two!"))):
        output = run("--only", "two")

    (write,) = fake.writes()
    assert write.params == {"business_profile": {"headline": "Two!"}}
    assert "one" not in output.replace("done", "")
    assert fake.by_key("one")[0]["business_profile"]["headline"] == "One"


def test_only_an_unknown_key_is_an_error(fake: FakeStripeConfigurations) -> None:
    with override_settings(STRIPE_PORTAL=portal(one=BASIC)):
        error, _ = run_fails("--only", "nope")
    assert error.returncode == 2
    assert "'nope'" in str(error) and "declared: one" in str(error)
    assert fake.calls == []


def test_a_stripe_error_mid_run_reports_progress_and_keeps_the_database_true(
    fake: FakeStripeConfigurations,
) -> None:
    fake.failing_keys = {"b"}
    declared = {"a": _body("A"), "b": _body("B"), "c": _body("C")}

    with override_settings(STRIPE_PORTAL=portal(**declared)):
        error, _ = run_fails()

    message = str(error)
    assert error.returncode == 2
    assert "done: a" in message
    assert "failed: b" in message
    assert "not attempted: c" in message
    assert "request id req_" in message
    # The database holds exactly what Stripe holds.
    rows = {row.key: row for row in PortalConfiguration.objects.all()}
    assert set(rows) == {"a"}
    assert rows["a"].stripe_data == fake.by_key("a")[0]
    assert fake.by_key("b") == [] and fake.by_key("c") == []

    fake.failing_keys = set()
    fake.calls.clear()
    with override_settings(STRIPE_PORTAL=portal(**declared)):
        run()
    assert len(fake.writes()) == 2  # b and c; a is already right
    assert {row.key for row in PortalConfiguration.objects.all()} == {"a", "b", "c"}
    assert all(len(fake.by_key(key)) == 1 for key in declared)


@override_settings(STRIPE_PORTAL=portal(basic=BASIC))
def test_a_retried_write_cannot_create_a_duplicate(fake: FakeStripeConfigurations) -> None:
    steps = plan({"basic": BASIC}, list_configurations(), livemode=False)

    apply(steps, livemode=False)
    apply(steps, livemode=False)  # the same run again, e.g. after a lost response

    first, second = fake.writes()
    assert first.idempotency_key == second.idempotency_key
    assert len(fake.objects) == 1
    assert PortalConfiguration.objects.count() == 1


def test_idempotency_keys_follow_the_declaration(fake: FakeStripeConfigurations) -> None:
    keys = []
    for headline in ("A", "B", "A"):
        declared = {"basic": _body(headline)}
        with override_settings(STRIPE_PORTAL=portal(**declared)):
            keys.append(plan(declared, [], livemode=False))
    derived = [_idempotency_key(steps[0], False) for steps in keys]
    assert derived[0] == derived[2] != derived[1]
    assert _idempotency_key(keys[0][0], True) != derived[0]


def test_live_mode_rows_are_kept_apart_from_test_mode_rows(
    stripe_mock: responses.RequestsMock,
) -> None:
    test_row = PortalConfigurationFactory(key="basic", livemode=False, stripe_id="bpc_testmode")
    live = FakeStripeConfigurations(stripe_mock, livemode=True).install()

    with override_settings(STRIPE_PORTAL=portal(livemode=True, basic=BASIC)):
        output = run()

    assert "live mode" in output
    (obj,) = live.by_key("basic")
    live_row = PortalConfiguration.objects.get(key="basic", livemode=True)
    assert live_row.stripe_id == obj["id"]
    test_row.refresh_from_db()
    assert test_row.stripe_id == "bpc_testmode"  # the test-mode row is untouched


def test_objects_of_the_other_mode_stop_the_run(stripe_mock: responses.RequestsMock) -> None:
    live = FakeStripeConfigurations(stripe_mock, livemode=True).install()
    live.add(BASIC, metadata={MARKER_KEY: "basic"})

    with override_settings(STRIPE_PORTAL={**portal(basic=BASIC), "LIVEMODE": False}):
        error, _ = run_fails()

    assert error.returncode == 2
    assert "check API_KEY and LIVEMODE" in str(error)
    assert live.writes() == []
    assert PortalConfiguration.objects.count() == 0


def test_a_failed_list_call_writes_nothing_and_exits_2(
    stripe_mock: responses.RequestsMock,
) -> None:
    stripe_mock.get(
        "https://api.stripe.com/v1/billing_portal/configurations",
        status=401,
        json={"error": {"type": "invalid_request_error", "message": "Invalid API Key"}},
        headers={"Request-Id": "req_badkey"},
    )

    with override_settings(STRIPE_PORTAL=portal(basic=BASIC)):
        error, _ = run_fails()

    assert error.returncode == 2
    assert "Invalid API Key" in str(error) and "req_badkey" in str(error)
    assert [call.request.method for call in stripe_mock.calls] == ["GET"]
    assert PortalConfiguration.objects.count() == 0


def test_several_configurations_with_one_marker_are_reported(
    fake: FakeStripeConfigurations,
) -> None:
    first = fake.add(BASIC, metadata={MARKER_KEY: "basic"}, created=1)
    second = fake.add(BASIC, metadata={MARKER_KEY: "basic"}, created=2)
    out, err = StringIO(), StringIO()

    with override_settings(STRIPE_PORTAL=portal(basic=BASIC)):
        call_command("sync_portal_configs", stdout=out, stderr=err)

    assert f"2 active configurations carry this key's marker ({second['id']}, {first['id']})" in (
        err.getvalue()
    )
    assert PortalConfiguration.objects.get(key="basic").stripe_id == second["id"]
    assert fake.writes() == []


def test_a_row_of_a_renamed_key_is_taken_over_not_duplicated(
    fake: FakeStripeConfigurations,
) -> None:
    obj = fake.add(BASIC, metadata={MARKER_KEY: "basic"})
    legacy = PortalConfigurationFactory(key="legacy", stripe_id=obj["id"], livemode=False)

    with override_settings(STRIPE_PORTAL=portal(basic=BASIC)):
        run()

    row = PortalConfiguration.objects.get(stripe_id=obj["id"])
    assert row.pk == legacy.pk and row.key == "basic"
    assert PortalConfiguration.objects.count() == 1


def test_an_ill_formed_configurations_setting_fails_before_any_call(
    fake: FakeStripeConfigurations,
) -> None:
    with override_settings(STRIPE_PORTAL={"API_KEY": "sk_test_tests", "CONFIGURATIONS": ["x"]}):
        error, _ = run_fails()
    assert error.returncode == 2
    assert "CONFIGURATIONS: must be a dict" in str(error)
    assert fake.calls == []
