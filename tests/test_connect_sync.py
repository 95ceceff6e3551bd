"""sync_portal_configs on connected accounts: the same declarations applied on each
account through ``Stripe-Account``, each account's rows and idempotency keys apart, and
one account failing without stopping the others."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from django_stripe_portal.models import PortalConfiguration
from tests.fake_connect_configs import FakeConnectConfigurations

pytestmark = pytest.mark.django_db

A, B, C = "acct_1AccountA0001", "acct_1AccountB0002", "acct_1AccountC0003"
DEFAULT: dict[str, Any] = {
    "business_profile": {"headline": "Manage your subscription"},
    "features": {"invoice_history": {"enabled": True}},
}


def three_accounts() -> list[str]:
    """CONNECTED_ACCOUNTS of these tests (a duplicate on purpose: synced once)."""
    return [A, B, C, A]


SETTINGS = {
    "API_KEY": "sk_test_tests",
    "CONFIGURATIONS": {"default": DEFAULT},
    "CONNECTED_ACCOUNTS": "tests.test_connect_sync.three_accounts",
}


@pytest.fixture(autouse=True)
def _settings() -> Any:
    with override_settings(STRIPE_PORTAL=SETTINGS):
        yield


@pytest.fixture
def stripe(stripe_mock: responses.RequestsMock) -> FakeConnectConfigurations:
    return FakeConnectConfigurations(stripe_mock).install()


def run(*args: str) -> tuple[str, str, CommandError | None]:
    out, err = StringIO(), StringIO()
    try:
        call_command("sync_portal_configs", *args, stdout=out, stderr=err)
    except CommandError as error:
        return out.getvalue(), err.getvalue(), error
    return out.getvalue(), err.getvalue(), None


def test_all_accounts_get_the_configuration_on_their_own_account(
    stripe: FakeConnectConfigurations,
) -> None:
    output, _, error = run("--all-accounts")

    assert error is None
    for account in (A, B, C):
        (obj,) = stripe.on(account).by_key("default")
        row = PortalConfiguration.objects.get(key="default", account=account)
        assert row.stripe_id == obj["id"]
        assert f"Portal configurations on {account} in test mode" in output
    # Nothing on the platform; every request carried its account's header, never none.
    assert "" not in stripe.accounts
    assert {header for header, _, _ in stripe.log} == {A, B, C}
    assert len({row.stripe_id for row in PortalConfiguration.objects.all()}) == 3
    assert "Accounts: 3 done, 0 failed." in output


def test_idempotency_keys_differ_per_account(stripe: FakeConnectConfigurations) -> None:
    run("--account", A, "--account", B)

    keys = [stripe.on(acct).writes()[0].idempotency_key for acct in (A, B)]
    assert all(keys) and keys[0] != keys[1]


def test_one_account_given_as_a_string_from_code(stripe: FakeConnectConfigurations) -> None:
    """``call_command(..., account="acct_…")``, as code calls it, syncs that one account."""
    call_command("sync_portal_configs", account=B, stdout=StringIO())

    assert {header for header, _, _ in stripe.log} == {B}
    assert PortalConfiguration.objects.get(key="default").account == B


def test_the_platform_run_sends_no_header_and_keeps_its_rows_apart(
    stripe: FakeConnectConfigurations,
) -> None:
    run("--account", A)
    _, _, error = run()

    assert error is None
    assert stripe.log[-1][0] is None
    platform_row = PortalConfiguration.objects.get(key="default", account="")
    account_row = PortalConfiguration.objects.get(key="default", account=A)
    assert platform_row.stripe_id != account_row.stripe_id
    assert platform_row.stripe_id == stripe.on("").by_key("default")[0]["id"]


def test_a_second_run_writes_nothing_on_any_account(stripe: FakeConnectConfigurations) -> None:
    run("--all-accounts")
    writes = sum(len(stripe.on(acct).writes()) for acct in (A, B, C))

    output, _, error = run("--all-accounts")

    assert error is None
    assert sum(len(stripe.on(acct).writes()) for acct in (A, B, C)) == writes == 3
    assert output.count("default") >= 3 and "unchanged" in output


def test_one_account_failing_does_not_stop_the_others(stripe: FakeConnectConfigurations) -> None:
    stripe.revoked.add(B)

    output, errors, error = run("--all-accounts")

    assert error is not None and error.returncode == 2
    assert B in str(error)
    assert [acct for acct in (A, B, C) if stripe.on(acct).by_key("default")] == [A, C]
    assert set(PortalConfiguration.objects.values_list("account", flat=True)) == {A, C}
    assert "Accounts: 2 done, 1 failed." in output
    assert f"{B}: failed: Could not list" in output
    assert "lost access" in errors


def test_check_reports_drift_per_account(stripe: FakeConnectConfigurations) -> None:
    run("--account", A)

    output, _, error = run("--check", "--account", A, "--account", C)

    assert error is not None and error.returncode == 1
    assert f"{C}: differs from the declaration" in output
    assert f"{A}: differs" not in output
    assert stripe.on(C).writes() == []


@pytest.mark.parametrize("bad", ["cus_123", "acct_", "acct_1 2", ""])
def test_a_bad_account_id_sends_nothing(stripe: FakeConnectConfigurations, bad: str) -> None:
    _, _, error = run("--account", bad)

    assert error is not None and "acct_" in str(error)
    assert stripe.log == []


def test_bad_connected_accounts_answers_send_nothing(stripe: FakeConnectConfigurations) -> None:
    with override_settings(
        STRIPE_PORTAL={**SETTINGS, "CONNECTED_ACCOUNTS": lambda: [A, "cus_notanaccount"]}
    ):
        _, _, error = run("--all-accounts")

    assert error is not None and "CONNECTED_ACCOUNTS" in str(error)
    assert stripe.log == []


def test_all_accounts_needs_the_setting(stripe: FakeConnectConfigurations) -> None:
    with override_settings(STRIPE_PORTAL={**SETTINGS, "CONNECTED_ACCOUNTS": None}):
        _, _, error = run("--all-accounts")

    assert error is not None and "CONNECTED_ACCOUNTS" in str(error)
