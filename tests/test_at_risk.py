"""Customers at risk: each reason, what it rests on, who stops being at risk, the bounded
number of queries, and the command's and the admin page's answers."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_stripe_portal.activity import AtRiskCustomer, customers_at_risk, largest_at_risk
from django_stripe_portal.activity.at_risk import at_risk_run_rate
from django_stripe_portal.models import PortalSession, StripeSubscription
from tests import stripe_objects as so
from tests.factories import (
    PortalSessionFactory,
    StripeSubscriptionFactory,
    WebhookEventFactory,
)
from tests.test_webhook_domain import _post_recording

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def ago(**delta: float) -> dt.datetime:
    return NOW - dt.timedelta(**delta)


def visit(customer: str, when: dt.datetime, **fields: Any) -> PortalSession:
    return PortalSessionFactory(customer_id=customer, created_at=when, **fields)


def changed(session: PortalSession, kind: str = "plan_changed") -> None:
    WebhookEventFactory(
        customer_id=session.customer_id,
        created_at=session.created_at + dt.timedelta(minutes=1),
        portal_session=session,
        change_kind=kind,
    )


def at_risk(**kw: Any) -> dict[str, AtRiskCustomer]:
    return {row.customer_id: row for row in customers_at_risk(now=NOW, **kw)}


def test_a_scheduled_cancellation_rests_on_its_date() -> None:
    ends = NOW + dt.timedelta(days=12)
    sub = StripeSubscriptionFactory(
        customer_id="cus_sched",
        cancel_at_period_end=True,
        canceled_at=ago(days=2),
        current_period_end=ends,
    )

    (signal,) = at_risk()["cus_sched"].signals
    assert (signal.reason, signal.at, signal.cancels_at) == ("cancel_scheduled", ago(days=2), ends)
    assert (signal.subscription_id, signal.subscription_pk) == (sub.stripe_id, sub.pk)


def test_cancel_at_counts_as_scheduled_too() -> None:
    when = NOW + dt.timedelta(days=3)
    StripeSubscriptionFactory(customer_id="cus_at", cancel_at=when)
    assert at_risk()["cus_at"].signals[0].cancels_at == when


@pytest.mark.parametrize("status", ["past_due", "unpaid", "incomplete"])
def test_payment_trouble_rests_on_the_status(status: str) -> None:
    StripeSubscriptionFactory(customer_id="cus_pay", status=status, event_created_at=ago(hours=5))

    (signal,) = at_risk()["cus_pay"].signals
    assert (signal.reason, signal.status, signal.at) == ("payment_trouble", status, ago(hours=5))


def test_an_abandoned_cancel_flow_rests_on_the_visit() -> None:
    left = visit("cus_left", ago(days=3), flow_type="subscription_cancel")
    still_deciding = visit("cus_now", ago(minutes=5), flow_type="subscription_cancel")
    saved = visit("cus_saved", ago(days=2), flow_type="subscription_cancel")
    changed(saved, "retention_accepted")
    visit("cus_home", ago(days=1))  # not the cancel flow

    found = at_risk()
    (signal,) = found["cus_left"].signals
    assert (signal.reason, signal.visits, signal.visit_pks) == (
        "cancel_flow_abandoned",
        (left.stripe_id,),
        (left.pk,),
    )
    assert still_deciding.customer_id not in found  # within VISIT_WINDOW: not over yet
    assert "cus_saved" not in found and "cus_home" not in found


def test_only_the_latest_cancel_flow_visit_counts() -> None:
    visit("cus_later", ago(days=9), flow_type="subscription_cancel")
    changed(visit("cus_later", ago(days=1), flow_type="subscription_cancel"), "cancel_scheduled")
    assert "cus_later" not in at_risk()


def test_stuck_is_three_visits_in_seven_days_without_a_change() -> None:
    visits = [visit("cus_stuck", ago(days=days)) for days in (6, 4, 1)]
    spread = [visit("cus_spread", ago(days=days)) for days in (20, 12, 3)]

    found = at_risk()
    (signal,) = found["cus_stuck"].signals
    assert signal.reason == "stuck"
    assert signal.visits == tuple(v.stripe_id for v in visits)
    assert signal.at == visits[-1].created_at
    assert spread[0].customer_id not in found


def test_a_change_ends_being_stuck() -> None:
    for days in (6, 5, 4):
        visit("cus_unstuck", ago(days=days))
    changed(visit("cus_unstuck", ago(days=1)))
    assert "cus_unstuck" not in at_risk()


def test_visits_before_the_look_back_do_not_count() -> None:
    for days in (40, 39, 38):
        visit("cus_old", ago(days=days), flow_type="subscription_cancel")
    assert "cus_old" not in at_risk(days=30)
    assert set(at_risk(days=45)["cus_old"].reasons) == {"cancel_flow_abandoned", "stuck"}


def test_as_of_a_past_instant_later_visits_and_changes_are_not_yet() -> None:
    """A report of a past range asks who was at risk at its end (``revenue_report``)."""
    then = ago(days=20)
    visit("cus_then", then - dt.timedelta(days=3), flow_type="subscription_cancel")
    for days in (6, 5):
        visit("cus_stuck", then - dt.timedelta(days=days))
    last = visit("cus_stuck", then - dt.timedelta(days=1), returned_at=then)
    WebhookEventFactory(  # a change after ``then`` ends being stuck, but not before it
        customer_id="cus_stuck",
        created_at=then + dt.timedelta(hours=1),
        portal_session=last,
        change_kind="plan_changed",
    )
    after = then + dt.timedelta(days=2)
    visit("cus_after", after, flow_type="subscription_cancel", returned_at=after)
    for customer, amount in (("cus_then", 1000), ("cus_stuck", 300), ("cus_after", 50)):
        StripeSubscriptionFactory(customer_id=customer, currency="eur", monthly_amount=amount)

    found = {row.customer_id: row.reasons for row in customers_at_risk(now=then)}

    assert found == {"cus_then": ["cancel_flow_abandoned"], "cus_stuck": ["stuck"]}
    assert {row.customer_id for row in customers_at_risk(now=NOW)} == {"cus_then", "cus_after"}
    assert at_risk_run_rate(now=then) == {"eur": 1300}
    assert at_risk_run_rate(now=NOW) == {"eur": 1050}


def test_as_of_a_past_instant_a_later_return_does_not_end_the_visit() -> None:
    """A cancel flow 10 minutes before ``then`` (VISIT_WINDOW: an hour) was in progress
    at ``then``: it came back only after. As of ``then`` it is not over, so not left."""
    then = ago(days=5)
    visit(
        "cus_in_progress",
        then - dt.timedelta(minutes=10),
        flow_type="subscription_cancel",
        returned_at=then + dt.timedelta(minutes=5),
    )
    StripeSubscriptionFactory(customer_id="cus_in_progress", currency="eur", monthly_amount=900)
    for days in (3, 2):  # the same for "stuck": visits in progress are not counted
        visit("cus_stuckish", then - dt.timedelta(days=days))
    visit("cus_stuckish", then - dt.timedelta(minutes=10), returned_at=then + dt.timedelta(1))

    assert customers_at_risk(now=then) == []
    assert at_risk_run_rate(now=then) == {}
    assert {row.customer_id for row in customers_at_risk(now=NOW)} == {
        "cus_in_progress",
        "cus_stuckish",
    }


def test_two_reasons_newest_signal_first() -> None:
    StripeSubscriptionFactory(
        customer_id="cus_two", cancel_at_period_end=True, canceled_at=ago(days=1)
    )
    visit("cus_two", ago(days=4), flow_type="subscription_cancel")
    StripeSubscriptionFactory(
        customer_id="cus_older", status="past_due", event_created_at=ago(days=8)
    )

    rows = customers_at_risk(now=NOW)
    assert [row.customer_id for row in rows] == ["cus_two", "cus_older"]
    two = rows[0]
    assert two.reasons == ["cancel_scheduled", "cancel_flow_abandoned"]
    assert [s.reason for s in two.signals] == ["cancel_scheduled", "cancel_flow_abandoned"]
    assert two.latest_signal_at == ago(days=1)


def test_a_reactivated_customer_stops_being_at_risk(client: Client) -> None:
    sub = so.subscription(customer="cus_back", cancel_at_period_end=True)
    scheduled = so.event(
        "customer.subscription.updated", sub, previous_attributes={"cancel_at_period_end": False}
    )
    _post_recording(client, scheduled)
    assert customers_at_risk()[0].reasons == ["cancel_scheduled"]

    renewed = so.subscription(id=sub["id"], customer="cus_back", cancel_at_period_end=False)
    event = so.event(
        "customer.subscription.updated",
        renewed,
        previous_attributes={"cancel_at_period_end": True},
        created=scheduled["created"] + 1,
    )
    assert "subscription_reactivated" in _post_recording(client, event)
    assert customers_at_risk() == []


def test_a_customer_who_left_is_not_at_risk_any_more() -> None:
    visit("cus_left_for_good", ago(days=3), flow_type="subscription_cancel")
    StripeSubscriptionFactory(customer_id="cus_left_for_good", status="canceled")
    visit("cus_unknown", ago(days=3), flow_type="subscription_cancel")  # no subscription seen

    found = at_risk()
    assert "cus_left_for_good" not in found
    assert found["cus_unknown"].reasons == ["cancel_flow_abandoned"]


def test_ended_subscriptions_are_no_state_reason() -> None:
    StripeSubscriptionFactory(customer_id="cus_ended", status="canceled", cancel_at_period_end=True)
    StripeSubscriptionFactory(customer_id="cus_expired", status="incomplete_expired")
    assert at_risk() == {}


def _many_at_risk(count: int, prefix: str) -> None:
    for number in range(count):
        customer = f"cus_{prefix}{number:03d}"
        StripeSubscriptionFactory(customer_id=customer, status="past_due")
        StripeSubscriptionFactory(customer_id=customer, cancel_at_period_end=True)
        visit(customer, ago(days=2), flow_type="subscription_cancel")
        for days in (5, 4, 3):
            visit(customer, ago(days=days))


def _reading_queries(run: Any) -> tuple[Any, list[str]]:
    """``run()``'s answer and the SELECTs it sent (on PostgreSQL the JIT is also turned off
    for the transaction: a SET LOCAL and the transaction's own statements)."""
    with CaptureQueriesContext(connection) as queries:
        answer = run()
    sql = [query["sql"] for query in queries]
    others = [text for text in sql if not text.lstrip(" (").upper().startswith("SELECT")]
    assert len(others) <= (3 if connection.vendor == "postgresql" else 0), others
    return answer, [text for text in sql if text not in others]


def _visit_only_at_risk(count: int, prefix: str) -> None:
    """Customers whose only reason is a visit: a cancel flow left, a live subscription."""
    for number in range(count):
        customer = f"cus_{prefix}{number:03d}"
        StripeSubscriptionFactory(customer_id=customer, monthly_amount=1000 + number)
        visit(customer, ago(days=2), flow_type="subscription_cancel")


def test_eight_queries_whatever_the_number_of_rows() -> None:
    """Four for the signals (the visits a change is linked to among them), two for the
    run rates at stake (of the customers with a subscription at risk, joined in the
    database; of the others, by id), two for the labels (the links, then the Accounts v2
    links of customers no user is linked to by cus_…)."""
    _many_at_risk(3, "few")
    _visit_only_at_risk(2, "flow")
    few, selects = _reading_queries(lambda: customers_at_risk(now=NOW))
    assert len(few) == 5 and len(selects) == 8
    _many_at_risk(30, "many")
    _visit_only_at_risk(30, "left")
    rows, selects = _reading_queries(lambda: customers_at_risk(now=NOW))
    assert len(selects) == 8
    assert len(rows) == 65
    assert {tuple(row.reasons) for row in rows} == {
        ("cancel_scheduled", "cancel_flow_abandoned", "payment_trouble", "stuck"),
        ("cancel_flow_abandoned",),
    }


def test_the_largest_are_the_first_rows_of_the_whole_list() -> None:
    """``largest_at_risk`` (the admin page's) builds only the rows it answers with: they
    are the whole list's first, named, in its order, and it counts the others."""
    _many_at_risk(12, "tie")  # the same run rate: the newest signal, then the id decide
    _visit_only_at_risk(12, "flow")  # each its own run rate
    for number in range(0, 12, 3):
        StripeSubscription.objects.filter(customer_id=f"cus_tie{number:03d}").update(
            monthly_amount=1005
        )
    whole = customers_at_risk(now=NOW)

    for limit in (1, 5, 13, 24, 30):
        top = largest_at_risk(limit=limit, now=NOW)
        assert top.total == len(whole) == 24
        assert [row.as_dict() for row in top.customers] == [row.as_dict() for row in whole[:limit]]
    assert largest_at_risk(days=1, now=NOW).customers == customers_at_risk(days=1, now=NOW)


def test_days_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        customers_at_risk(0)


# --- the command and the admin page -----------------------------------------------------


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command("portal_activity", "--at-risk", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def two_at_risk() -> None:
    StripeSubscriptionFactory(
        stripe_id="sub_cmdsched",
        customer_id="cus_cmd1",
        cancel_at_period_end=True,
        canceled_at=timezone.now() - dt.timedelta(hours=1),
    )
    PortalSessionFactory(
        stripe_id="bps_cmdleft",
        customer_id="cus_cmd2",
        created_at=timezone.now() - dt.timedelta(days=2),
        flow_type="subscription_cancel",
    )


def test_command_json(two_at_risk: None) -> None:
    data = json.loads(_command("--format", "json"))
    assert data["version"] == 1
    first, second = data["customers"]
    assert (first["customer_id"], first["reasons"]) == ("cus_cmd1", ["cancel_scheduled"])
    assert first["signals"][0]["subscription"] == "sub_cmdsched"
    assert "cancels_at" in first["signals"][0]
    assert second["signals"] == [
        {
            "reason": "cancel_flow_abandoned",
            "at": second["latest_signal_at"],
            "visits": ["bps_cmdleft"],
        }
    ]


def test_command_csv_and_table(two_at_risk: None) -> None:
    rows = list(csv.DictReader(io.StringIO(_command("--format", "csv"))))
    assert [(r["customer_id"], r["reason"]) for r in rows] == [
        ("cus_cmd1", "cancel_scheduled"),
        ("cus_cmd2", "cancel_flow_abandoned"),
    ]
    assert rows[1]["visits"] == "bps_cmdleft"
    table = _command()
    assert "Customers at risk: 2" in table
    assert "cancellation scheduled (sub_cmdsched ends" in table
    assert "left the cancel flow (1 visit(s): bps_cmdleft)" in table


def test_command_refuses_bad_days() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--days"):
        _command("--days", "0")


def test_admin_page_links_each_customer(
    admin_client: Client, two_at_risk: None, django_assert_max_num_queries: Any
) -> None:
    # customers_at_risk's eight, the session and the user's, and on PostgreSQL the
    # transaction the JIT is turned off in.
    with django_assert_max_num_queries(13):
        response = admin_client.get("/admin/django_stripe_portal/portalsession/at-risk/")
    html = response.content.decode()
    assert response.status_code == 200
    sub = StripeSubscription.objects.get(stripe_id="sub_cmdsched")
    left = PortalSession.objects.get(stripe_id="bps_cmdleft")
    assert f"/admin/django_stripe_portal/stripesubscription/{sub.pk}/change/" in html
    assert f"/admin/django_stripe_portal/portalsession/{left.pk}/change/" in html
    assert "/admin/django_stripe_portal/portalsession/?q=cus_cmd2" in html
    assert "/admin/django_stripe_portal/stripesubscription/?q=cus_cmd1" in html
    assert html.index("cus_cmd1") < html.index("cus_cmd2")
    assert "Left the cancel flow" in html and "Cancellation scheduled" in html
    assert "cancel_flow_abandoned" not in html.split("<tbody>")[1].replace(
        'data-reason="cancel_flow_abandoned"', ""
    )
    # What a person reads names no subscription or visit by its id: the words and the
    # visit's time are the links (the ids stay in links' targets and titles).
    table = html.split("<tbody>")[1].split("</tbody>")[0]
    words = re.sub(r"<[^>]*>", " ", table)
    assert "sub_cmdsched" not in words and "bps_cmdleft" not in words
    assert "the subscription" in words
    left_at = timezone.localtime(left.created_at).strftime("%b %-d, %H:%M")
    assert left_at in words


def test_admin_page_needs_the_view_permission(client: Client) -> None:
    from django.contrib.auth.models import User

    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/django_stripe_portal/portalsession/at-risk/").status_code == 403


def test_admin_index_and_activity_page_link_to_it(admin_client: Client) -> None:
    url = "/admin/django_stripe_portal/portalsession/at-risk/"
    assert url in admin_client.get("/admin/django_stripe_portal/").content.decode()
    assert (
        url
        in admin_client.get("/admin/django_stripe_portal/portalsession/activity/").content.decode()
    )


def test_the_list_is_of_this_mode_and_optionally_one_account() -> None:
    """Test-mode rows on a live site, or another account's customers, are not this list's."""
    StripeSubscriptionFactory(customer_id="cus_platform", status="past_due")
    StripeSubscriptionFactory(
        customer_id="cus_merchant", status="past_due", account="acct_1Merchant0001"
    )
    StripeSubscriptionFactory(customer_id="cus_live_row", status="past_due", livemode=True)
    assert {c.customer_id for c in customers_at_risk()} == {"cus_platform", "cus_merchant"}
    assert [c.customer_id for c in customers_at_risk(account="")] == ["cus_platform"]
    merchant = customers_at_risk(account="acct_1Merchant0001")
    assert [c.customer_id for c in merchant] == ["cus_merchant"]


@pytest.mark.parametrize("date_style", ["SQL, DMY", "German", "Postgres, MDY", "ISO, YMD"])
def test_times_are_read_whatever_the_connections_datestyle(date_style: str) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("DateStyle is PostgreSQL's; SQLite keeps timestamps as ISO text")
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('DateStyle', %s, true)", [date_style])
    ends = NOW + dt.timedelta(days=12)
    StripeSubscriptionFactory(
        customer_id="cus_style",
        cancel_at_period_end=True,
        canceled_at=ago(days=2),
        current_period_end=ends,
    )
    StripeSubscriptionFactory(
        customer_id="cus_style", status="past_due", event_created_at=ago(hours=5)
    )
    left = visit("cus_left", ago(days=3), flow_type="subscription_cancel")

    found = at_risk()

    scheduled, trouble = sorted(found["cus_style"].signals, key=lambda signal: signal.reason)
    assert (scheduled.at, scheduled.cancels_at) == (ago(days=2), ends)
    assert trouble.at == ago(hours=5)
    assert found["cus_left"].signals[0].at == left.created_at


def test_the_run_rate_at_risk_is_the_sum_of_the_rows() -> None:
    """``at_risk_run_rate`` (``revenue_report``'s at-risk figure) reads no rows' signals,
    yet adds up to exactly what the listed rows' ``monthly_amount`` add up to, per
    currency: every reason, a customer in two currencies (counted in the larger), one
    with no known figure, one paying nothing, ended and unrelated subscriptions."""
    sub = StripeSubscriptionFactory
    sub(customer_id="cus_sched", cancel_at_period_end=True, currency="eur", monthly_amount=2900)
    sub(customer_id="cus_sched", currency="eur", monthly_amount=1000)  # live, not at risk
    sub(customer_id="cus_sched", status="canceled", currency="eur", monthly_amount=5000)
    sub(customer_id="cus_due", status="past_due", currency="usd", monthly_amount=4900)
    sub(customer_id="cus_two", status="unpaid", currency="usd", monthly_amount=700)
    sub(customer_id="cus_two", currency="eur", monthly_amount=900)  # shown in eur (larger)
    sub(customer_id="cus_unknown", status="past_due", currency="", monthly_amount=None)
    sub(customer_id="cus_free", status="past_due", currency="eur", monthly_amount=0)
    sub(customer_id="cus_calm", currency="eur", monthly_amount=99_900)  # not at risk
    sub(customer_id="cus_flow", currency="gbp", monthly_amount=1200)
    visit("cus_flow", ago(days=3), flow_type="subscription_cancel")
    sub(customer_id="cus_stuck", currency="eur", monthly_amount=300)
    for days in (5, 4, 3):
        visit("cus_stuck", ago(days=days))
    rows = customers_at_risk(now=NOW)
    expected: dict[str, int] = {}
    for row in rows:
        if row.monthly_amount:
            expected[row.currency] = expected.get(row.currency, 0) + row.monthly_amount
    assert len(rows) == 7
    assert expected == {"eur": 2900 + 1000 + 900 + 300, "usd": 4900, "gbp": 1200}
    assert at_risk_run_rate(now=NOW) == expected
    assert at_risk_run_rate(now=NOW, account="acct_other") == {}
