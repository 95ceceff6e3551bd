"""People, not ids, in the activity figures: ``portal_activity --customer`` and the admin
activity page name the customer by ``CUSTOMER_LABEL`` and find them by email or username."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from django_stripe_portal.customers import link_customer
from tests.factories import PortalSessionFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/admin/django_stripe_portal/portalsession/activity/"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("portal_activity", *args, stdout=out)
    return out.getvalue()


def _shout(user: Any) -> str:
    return f"{user.get_username().upper()}!"


@pytest.fixture
def dana() -> Any:
    user = UserFactory(username="dana", first_name="Dana", last_name="Li", email="dana@shop.test")
    link_customer(user, "cus_dana")
    PortalSessionFactory(customer_id="cus_dana", created_at=timezone.now())
    PortalSessionFactory(customer_id="cus_nobody", created_at=timezone.now())
    return user


@pytest.mark.parametrize("given", ["cus_dana", "dana@shop.test", "DANA"])
def test_json_history_names_the_customer(dana: Any, given: str) -> None:
    data = json.loads(run("--format", "json", "--customer", given))

    (visit,) = data["customer_history"]
    assert (visit["customer"], visit["customer_id"]) == ("Dana Li", "cus_dana")


def test_an_unlinked_customer_keeps_their_id(dana: Any) -> None:
    data = json.loads(run("--format", "json", "--customer", "cus_nobody"))

    assert [visit["customer"] for visit in data["customer_history"]] == ["cus_nobody"]


def test_csv_and_table_name_the_customer(dana: Any) -> None:
    rows = list(csv.reader(io.StringIO(run("--format", "csv", "--customer", "cus_dana"))))
    table = run("--customer", "cus_dana")

    assert [row for row in rows if row[2] == "customer"] == [
        ["customer_visit", rows[-1][1], "customer", "Dana Li"]
    ]
    assert "Visits of Dana Li\n" in table


def test_a_custom_label_names_the_customer_in_the_export(dana: Any) -> None:
    with override_settings(STRIPE_PORTAL={"CUSTOMER_LABEL": f"{__name__}._shout"}):
        data = json.loads(run("--format", "json", "--customer", "cus_dana"))

    assert data["customer_history"][0]["customer"] == "DANA!"


@pytest.mark.parametrize("given", ["cus_dana", "dana@shop.test", "dana"])
def test_the_activity_page_names_the_customer(admin_client: Client, dana: Any, given: str) -> None:
    html = admin_client.get(URL, {"customer": given}).content.decode()

    assert '<h2 title="cus_dana">Visits of Dana Li</h2>' in html
