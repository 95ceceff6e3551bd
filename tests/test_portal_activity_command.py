"""``manage.py portal_activity``: the same figures as table, CSV and JSON."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from django_stripe_portal.events import ChangeKind
from django_stripe_portal.models import PortalSession
from tests import stripe_objects
from tests.factories import PortalConfigurationFactory, PortalSessionFactory, WebhookEventFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent


def day_at(days_ago: int, hour: int) -> dt.datetime:
    today = timezone.localdate()
    return dt.datetime.combine(
        today - dt.timedelta(days=days_ago), dt.time(hour), tzinfo=timezone.get_default_timezone()
    )


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("portal_activity", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def visits() -> list[PortalSession]:
    """Two visits today (one customer, one came back, one cancelled with feedback), one
    five days ago with another configuration, one 40 days ago (outside 30 days)."""
    default = PortalConfigurationFactory(key="default")
    annual = PortalConfigurationFactory(key="annual")
    sessions = [
        PortalSessionFactory(
            customer_id="cus_a",
            created_at=day_at(0, 9),
            returned_at=day_at(0, 10),
            configuration=default,
        ),
        PortalSessionFactory(customer_id="cus_a", created_at=day_at(0, 11), configuration=default),
        PortalSessionFactory(customer_id="cus_b", created_at=day_at(5, 9), configuration=annual),
        PortalSessionFactory(customer_id="cus_c", created_at=day_at(40, 9), configuration=default),
    ]
    subscription = stripe_objects.subscription(
        customer="cus_a",
        cancel_at_period_end=True,
        cancellation_details={"reason": "cancellation_requested", "feedback": "unused"},
    )
    payload = stripe_objects.event("customer.subscription.updated", subscription)
    WebhookEventFactory(
        stripe_id=payload["id"],
        payload=payload,
        customer_id="cus_a",
        portal_session=sessions[1],
        change_kind=ChangeKind.CANCEL_SCHEDULED,
        created_at=day_at(0, 11) + dt.timedelta(minutes=2),
    )
    return sessions


def test_json_is_the_documented_layout(visits: list[PortalSession]) -> None:
    data = json.loads(run("--format", "json"))

    today = timezone.localdate()
    assert set(data) == {
        "version",
        "range",
        "summary",
        "per_day",
        "outcomes",
        "cancellation_reasons",
        "retention_offers",
    }
    assert data["version"] == 1
    assert data["range"] == {
        "start": (today - dt.timedelta(days=29)).isoformat(),
        "end": today.isoformat(),
        "time_zone": "UTC",
        "configuration": None,
        "account": None,
    }
    assert data["summary"] == {
        "visits": 3,
        "unique_customers": 2,
        "returned": 1,
        "changed": 1,
        "abandoned": 1,
        "return_rate": 0.3333,
    }
    assert len(data["per_day"]) == 30
    assert data["per_day"][-1] == {
        "date": today.isoformat(),
        "visits": 2,
        "unique_customers": 1,
    }
    assert {o["outcome"]: o["visits"] for o in data["outcomes"]}["cancel_scheduled"] == 1
    assert {o["outcome"]: o["visits"] for o in data["outcomes"]}["none"] == 2
    assert data["cancellation_reasons"] == [
        {
            "feedback": "unused",
            "cancellations": 1,
            "feedback_option": None,
            "feedback_option_description": None,
        }
    ]


def test_days_and_configuration(visits: list[PortalSession]) -> None:
    assert json.loads(run("--format", "json", "--days", "1"))["summary"]["visits"] == 2
    assert json.loads(run("--format", "json", "--days", "41"))["summary"]["visits"] == 4
    annual = json.loads(run("--format", "json", "--configuration", "annual"))
    assert annual["summary"]["visits"] == 1
    assert annual["range"]["configuration"] == "annual"


def test_customer_history_in_json(visits: list[PortalSession]) -> None:
    data = json.loads(run("--format", "json", "--customer", "cus_a"))

    history = data["customer_history"]
    assert [entry["visit"] for entry in history] == [visits[1].stripe_id, visits[0].stripe_id]
    assert [c["change_kind"] for c in history[0]["changes"]] == ["cancel_scheduled"]
    assert history[0]["changes"][0]["feedback"] == "unused"
    assert history[1]["changes"] == []
    assert history[1]["returned_at"] == day_at(0, 10).isoformat()


def test_csv_is_one_long_table(visits: list[PortalSession]) -> None:
    rows = list(csv.reader(io.StringIO(run("--format", "csv"))))

    assert rows[0] == ["section", "key", "metric", "value"]
    assert ["summary", "", "visits", "3"] in rows
    assert ["summary", "", "return_rate", "0.3333"] in rows
    assert ["day", timezone.localdate().isoformat(), "unique_customers", "1"] in rows
    assert ["outcome", "cancel_scheduled", "visits", "1"] in rows
    assert ["cancellation_reason", "unused", "cancellations", "1"] in rows
    assert len([row for row in rows if row[0] == "day"]) == 60


def test_table_for_people(visits: list[PortalSession]) -> None:
    text = run("--customer", "cus_a")

    assert re.search(r"^Visits +3$", text, re.MULTILINE)
    assert re.search(r"^Return rate +33.3 %$", text, re.MULTILINE)
    assert "cancellation scheduled" in text
    assert "unused" in text
    assert visits[1].stripe_id in text


def test_empty_database() -> None:
    data = json.loads(run("--format", "json", "--days", "7"))

    assert data["summary"]["visits"] == 0
    assert data["summary"]["return_rate"] is None
    assert re.search(r"^Return rate +-$", run("--days", "7"), re.MULTILINE)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--days", "0"), "--days: days must be at least 1, not 0."),
    ],
)
def test_bad_arguments_are_clear_errors(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_a_declared_configuration_not_synced_yet_says_to_sync() -> None:
    """Right after declaring "default" in settings, before any sync."""
    portal = {"API_KEY": "sk_test_tests", "CONFIGURATIONS": {"default": {"features": {}}}}
    with override_settings(STRIPE_PORTAL=portal), pytest.raises(CommandError) as raised:
        run("--configuration", "default")
    assert str(raised.value) == (
        "--configuration 'default': the configuration is declared but has not been synced to "
        "Stripe yet, so no visit used it. Run `manage.py sync_portal_configs` first."
    )


def test_an_unknown_configuration_lists_the_declared_and_synced_keys() -> None:
    PortalConfigurationFactory(key="annual")
    with pytest.raises(CommandError) as raised:
        run("--configuration", "nope")
    assert str(raised.value) == (
        "--configuration 'nope': no such key in STRIPE_PORTAL['CONFIGURATIONS'] "
        "(declared: none; synced: annual)."
    )


@pytest.mark.slow
def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    """``portal_activity --format csv | head``: the reader closes the pipe first."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
    }
    manage = [sys.executable, "-m", "django"]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    reader, writer = os.pipe()
    os.close(reader)  # `head` already gone: every write fails with EPIPE
    try:
        done = subprocess.run(
            [*manage, "portal_activity", "--format", "csv", "--days", "365"],
            env=env,
            cwd=ROOT,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(writer)
    assert "Traceback" not in done.stderr
    assert "BrokenPipeError" not in done.stderr
    assert done.stderr == ""
    assert done.returncode == 1
