"""``manage.py sync_entitlements``: every linked customer per account, every page, the
never-backwards rule against summaries, a progress line and a summary, and one clear
line (never a traceback) when Stripe cannot be reached."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from django_stripe_portal.customers import link_customer
from django_stripe_portal.management.commands import sync_entitlements
from django_stripe_portal.models import ActiveEntitlements
from django_stripe_portal.webhooks.entitlement_summaries import record_entitlement_summary
from django_stripe_portal.webhooks.payload import stripe_time
from tests import contract
from tests import stripe_objects as so
from tests.conftest import STRIPE_API
from tests.factories import StripeSubscriptionFactory, UserFactory

pytestmark = pytest.mark.django_db
LIST_URL = f"{STRIPE_API}/v1/entitlements/active_entitlements"
MERCHANT = "acct_1MerchantS0001"
SETTINGS: dict[str, Any] = {"API_KEY": "sk_test_tests", "MAX_NETWORK_RETRIES": 0}


@pytest.fixture(autouse=True)
def _settings() -> Any:
    with override_settings(STRIPE_PORTAL=SETTINGS):
        yield


class ListedEntitlements:
    """Answers the list per (account, customer), in pages of ``page_size``."""

    def __init__(self, mock: responses.RequestsMock, page_size: int = 100) -> None:
        self.keys: dict[tuple[str, str], list[str]] = {}
        self.page_size = page_size
        self.requests: list[tuple[str, dict[str, Any]]] = []
        mock.add_callback(responses.GET, LIST_URL, callback=self.answer)

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        import json

        params = contract.validate_request("GET", request.url, None)
        account = request.headers.get("Stripe-Account", "")
        self.requests.append((account, params))
        key = (account, params["customer"])
        if key not in self.keys:
            error = {"type": "invalid_request_error", "message": "No such customer"}
            return 404, {}, json.dumps({"error": error})
        page = so.active_entitlements_page([])
        entitlements = [so.active_entitlement(k) for k in self.keys[key]]
        start = 0
        if "starting_after" in params:
            start = 1 + next(
                i for i, e in enumerate(self._ids(key)) if e == params["starting_after"]
            )
        size = min(int(params.get("limit", 10)), self.page_size)
        ids = self._ids(key)
        for index, entitlement in enumerate(entitlements):
            entitlement["id"] = ids[index]
        page["data"] = entitlements[start : start + size]
        page["has_more"] = start + size < len(entitlements)
        return 200, {}, json.dumps(page)

    def _ids(self, key: tuple[str, str]) -> list[str]:
        return [f"ent_{key[1]}_{n}" for n in range(len(self.keys[key]))]


@pytest.fixture
def listed(stripe_mock: responses.RequestsMock) -> ListedEntitlements:
    return ListedEntitlements(stripe_mock)


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("sync_entitlements", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_every_linked_customer_on_every_account_is_synced(listed: ListedEntitlements) -> None:
    link_customer(UserFactory(), "cus_platform0001")
    both = UserFactory()
    link_customer(both, "cus_platform0002")
    link_customer(both, "cus_merchant0001", MERCHANT)
    listed.keys = {
        ("", "cus_platform0001"): ["pro-reports"],
        ("", "cus_platform0002"): [],
        (MERCHANT, "cus_merchant0001"): ["merchant-feature", "api-access"],
    }

    out, err = run()

    rows = {
        (row.account, row.customer_id): row.lookup_keys for row in ActiveEntitlements.objects.all()
    }
    assert rows == {
        ("", "cus_platform0001"): ["pro-reports"],
        ("", "cus_platform0002"): [],
        (MERCHANT, "cus_merchant0001"): ["api-access", "merchant-feature"],
    }
    assert "3 customer(s) written (3 feature(s) in all), 0 kept" in out
    assert err == ""


def test_one_account_only(listed: ListedEntitlements) -> None:
    link_customer(UserFactory(), "cus_platform0001")
    link_customer(UserFactory(), "cus_merchant0001", MERCHANT)
    listed.keys = {(MERCHANT, "cus_merchant0001"): ["merchant-feature"]}
    run("--account", MERCHANT)
    assert list(ActiveEntitlements.objects.values_list("account", "customer_id")) == [
        (MERCHANT, "cus_merchant0001")
    ]
    assert {account for account, _ in listed.requests} == {MERCHANT}


def test_one_account_given_as_a_string_from_code(listed: ListedEntitlements) -> None:
    link_customer(UserFactory(), "cus_merchant0001", MERCHANT)
    link_customer(UserFactory(), "cus_platform0001")
    listed.keys = {(MERCHANT, "cus_merchant0001"): ["merchant-feature"]}
    call_command("sync_entitlements", account=MERCHANT, stdout=io.StringIO())
    assert list(ActiveEntitlements.objects.values_list("account", "customer_id")) == [
        (MERCHANT, "cus_merchant0001")
    ]


def test_one_customer_unlinked_is_synced_too(listed: ListedEntitlements) -> None:
    listed.keys = {("", "cus_nobodyyet001"): ["pro-reports"]}
    run("--customer", "cus_nobodyyet001")
    assert ActiveEntitlements.objects.get().lookup_keys == ["pro-reports"]


def test_every_page_is_read(stripe_mock: responses.RequestsMock) -> None:
    listed = ListedEntitlements(stripe_mock, page_size=3)
    keys = [f"feature-{n}" for n in range(8)]
    listed.keys = {("", "cus_many0001"): keys}
    run("--customer", "cus_many0001")
    assert ActiveEntitlements.objects.get().lookup_keys == sorted(keys)
    assert len(listed.requests) == 3
    assert "starting_after" in listed.requests[1][1]


def test_a_newer_summary_is_not_overwritten(listed: ListedEntitlements) -> None:
    later = stripe_time(time.time()) + timedelta(seconds=60)
    record_entitlement_summary(
        so.entitlement_summary("cus_platform0001", ["from-the-summary"]),
        account="",
        event_created_at=later,
    )
    listed.keys = {("", "cus_platform0001"): ["from-the-list"]}
    out, _ = run("--customer", "cus_platform0001")
    assert ActiveEntitlements.objects.get().lookup_keys == ["from-the-summary"]
    assert "0 customer(s) written (0 feature(s) in all), 1 kept" in out


def test_an_accounts_v2_customer_is_listed_by_the_customer_stripe_named(
    listed: ListedEntitlements,
) -> None:
    link_customer(UserFactory(), "acct_1CustomerV2000001")
    StripeSubscriptionFactory(
        customer_id="cus_ofaccount0001", customer_account="acct_1CustomerV2000001"
    )
    listed.keys = {("", "cus_ofaccount0001"): ["pro-reports"]}
    run()
    assert ActiveEntitlements.objects.get().customer_id == "cus_ofaccount0001"


def test_a_customer_stripe_does_not_know_is_reported_and_the_rest_go_on(
    listed: ListedEntitlements,
) -> None:
    link_customer(UserFactory(), "cus_deleted0001")
    link_customer(UserFactory(), "cus_platform0001")
    listed.keys = {("", "cus_platform0001"): ["pro-reports"]}
    out, err = run()
    assert "cus_deleted0001: No such customer" in err
    assert "1 customer(s) written" in out and "1 not found at Stripe" in out


def test_a_progress_line_on_long_runs(
    listed: ListedEntitlements, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_entitlements, "PROGRESS_EVERY", 2)
    for n in range(5):
        link_customer(UserFactory(), f"cus_progress{n:04d}")
        listed.keys[("", f"cus_progress{n:04d}")] = []
    _, err = run()
    assert err.splitlines() == ["… 2 of 5 customer(s)", "… 4 of 5 customer(s)"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--customer", "sub_123"], "starts with cus_"),
        (["--customer", "acct_1CustomerV2000001"], "starts with cus_"),
        (["--account", "cus_123"], "connected account id"),
    ],
)
def test_bad_options_are_refused(args: list[str], fragment: str) -> None:
    with pytest.raises(CommandError, match=fragment):
        run(*args)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_offline_it_says_so_in_one_line(stripe_mock: responses.RequestsMock) -> None:
    host = f"127.0.0.1:{_closed_port()}"
    stripe_mock.add_passthru(f"http://{host}")
    link_customer(UserFactory(), "cus_platform0001")
    offline = {**SETTINGS, "API_BASE": f"http://{host}"}
    with override_settings(STRIPE_PORTAL=offline), pytest.raises(CommandError) as raised:
        run()
    message = str(raised.value)
    assert message == (
        f"Could not list the entitlements: could not reach Stripe at {host} (the connection "
        "was refused). 0 customer(s) were synced before; running the command again is safe."
    )
    assert not ActiveEntitlements.objects.exists()


def test_without_an_api_key_it_says_which_setting() -> None:
    with override_settings(STRIPE_PORTAL={}), pytest.raises(CommandError, match="API_KEY"):
        run()


def test_offline_through_manage_py_there_is_no_traceback(tmp_path: Path) -> None:
    """The real command line: an error line and exit status 1, no traceback."""
    host = f"127.0.0.1:{_closed_port()}"
    root = Path(__file__).resolve().parent.parent
    script = (
        "import django, sys\n"
        "from django.conf import settings\n"
        "from django.core.management import call_command\n"
        "django.setup()\n"
        f"settings.STRIPE_PORTAL = {{'API_KEY': 'sk_test_x', 'API_BASE': 'http://{host}',"
        " 'MAX_NETWORK_RETRIES': 0}\n"
        "from django.core.management import execute_from_command_line\n"
        "execute_from_command_line(['manage.py', 'sync_entitlements', '--customer', 'cus_x1'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2  # Stripe unreachable: could not run (docs/settings.md)
    assert "Traceback" not in done.stderr
    assert "CommandError: Could not list the entitlements: could not reach Stripe" in done.stderr


def test_stripe_context_goes_with_every_call(
    listed: ListedEntitlements, stripe_mock: responses.RequestsMock
) -> None:
    """An organization key: STRIPE_CONTEXT is sent on the app's other calls too."""
    listed.keys = {("", "cus_platform0001"): ["pro-reports"]}
    with override_settings(STRIPE_PORTAL={**SETTINGS, "STRIPE_CONTEXT": "acct_1Organization01"}):
        run("--customer", "cus_platform0001")
    (call,) = [c for c in stripe_mock.calls if c.request.url.startswith(LIST_URL)]
    assert call.request.headers["Stripe-Context"] == "acct_1Organization01"
