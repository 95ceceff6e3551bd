"""The "Portal activity" admin page: staff only, figures for the chosen range,
inline SVG charts beside tables, and a customer's history."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from django_stripe_portal.events import ChangeKind
from django_stripe_portal.models import PortalSession
from tests import stripe_objects
from tests.factories import (
    PortalConfigurationFactory,
    PortalSessionFactory,
    UserFactory,
    WebhookEventFactory,
)

pytestmark = pytest.mark.django_db

URL = "/admin/django_stripe_portal/portalsession/activity/"
RANGE = {"start": "2026-11-01", "end": "2026-11-03"}


def at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, tzinfo=dt.UTC)


def cancel_during(session: PortalSession, feedback: str | None) -> None:
    subscription = stripe_objects.subscription(
        customer=session.customer_id,
        cancel_at_period_end=True,
        cancellation_details={"reason": "cancellation_requested", "feedback": feedback},
    )
    payload = stripe_objects.event("customer.subscription.updated", subscription)
    WebhookEventFactory(
        stripe_id=payload["id"],
        payload=payload,
        customer_id=session.customer_id,
        portal_session=session,
        change_kind=ChangeKind.CANCEL_SCHEDULED,
        created_at=session.created_at + dt.timedelta(minutes=1),
    )


@pytest.fixture
def visits() -> list[PortalSession]:
    default = PortalConfigurationFactory(key="default")
    sessions = [
        PortalSessionFactory(customer_id="cus_a", created_at=at(1, 9), configuration=default),
        PortalSessionFactory(
            customer_id="cus_a", created_at=at(1, 10), returned_at=at(1, 11), configuration=default
        ),
        PortalSessionFactory(customer_id="cus_b", created_at=at(3, 8)),
    ]
    cancel_during(sessions[0], "too_expensive")
    return sessions


def test_the_page_is_in_the_admin_url_space() -> None:
    assert reverse("admin:django_stripe_portal_portalsession_activity") == URL


def test_anonymous_users_are_sent_to_the_admin_login(client: Client) -> None:
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_signed_in_non_staff_users_are_sent_to_the_admin_login(client: Client) -> None:
    client.force_login(UserFactory(is_staff=False))

    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_without_permission_to_view_sessions_are_refused(client: Client) -> None:
    client.force_login(UserFactory(is_staff=True))

    assert client.get(URL).status_code == 403


def test_staff_allowed_to_view_sessions_see_the_page(
    client: Client, visits: list[PortalSession]
) -> None:
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_portalsession"))
    client.force_login(staff)

    response = client.get(URL, RANGE)

    assert response.status_code == 200
    assert response.context["report"].summary.visits == 3


def test_figures_charts_and_tables(admin_client: Client, visits: list[PortalSession]) -> None:
    response = admin_client.get(URL, RANGE)
    html = response.content.decode()
    summary = response.context["report"].summary

    assert (summary.visits, summary.unique_customers, summary.returned) == (3, 2, 1)
    assert (summary.changed, summary.abandoned) == (1, 1)
    # Three inline SVG charts (visits per day, outcomes, weekly visits beside weekly
    # cancellations; no money moved, so no movement chart), each with an accessible title.
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') == 3
    assert "<title>Visits and unique customers per day</title>" in html
    assert "<title>Portal visits and cancellations per week</title>" in html
    assert html.count('class="series"') == 4
    assert html.count('class="bar"') == len(ChangeKind) + 1
    # No script and no external resource: everything is in the page.
    assert "<script" not in html.split('id="content-main"')[1]
    assert not re.search(r'(src|href)="https?://', html)
    # The same figures in tables beside the charts.
    per_day = re.findall(r'<td>(2026-11-\d\d)</td><td class="number">(\d+)</td>', html)
    assert per_day == [("2026-11-01", "2"), ("2026-11-02", "0"), ("2026-11-03", "1")]
    assert '<td>Cancellation scheduled</td><td class="number">1</td>' in html
    assert '<td>No change</td><td class="number">2</td>' in html
    assert '<span title="too_expensive">Too expensive</span></td><td class="number">1</td>' in html
    # One date format on the page: the range, the inputs and the chart's axis.
    assert "From 2026-11-01 to 2026-11-03" in html
    assert 'value="2026-11-01"' in html
    assert ">2026-11-01</text>" in html
    assert not re.search(r"Nov\.? \d|\d+/\d+/\d{4}", html)
    assert "33&nbsp;%" in html  # return rate: 1 of 3


def test_the_default_range_is_the_last_30_days(admin_client: Client) -> None:
    PortalSessionFactory()  # now

    response = admin_client.get(URL)
    report = response.context["report"]

    assert len(report.per_day) == 30
    assert report.summary.visits == 1


def test_configuration_filter(admin_client: Client, visits: list[PortalSession]) -> None:
    response = admin_client.get(URL, {**RANGE, "configuration": "default"})

    assert response.context["report"].summary.visits == 2
    assert response.context["report"].range.configuration == "default"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-11-03", "end": "2026-11-01"}, "The range ends before it starts."),
        ({"start": "2025-01-01", "end": "2026-11-01"}, "Choose at most 366 days."),
        ({"start": "not a date"}, "Enter a valid date."),
        ({"configuration": "unknown"}, "Select a valid choice."),
    ],
)
def test_bad_input_shows_the_error_and_no_figures_of_another_range(
    admin_client: Client, params: dict[str, str], message: str
) -> None:
    PortalSessionFactory()  # a visit the default range would count
    response = admin_client.get(URL, params)
    html = response.content.decode()

    assert response.status_code == 200
    assert message in html
    assert "No figures for this range. Change it above and press “Show”:" in html
    assert response.context["report"] is None
    assert 'id="activity-summary"' not in html
    assert 'role="img"' not in html


def test_customer_history(admin_client: Client, visits: list[PortalSession]) -> None:
    response = admin_client.get(URL, {**RANGE, "customer": " cus_a "})
    html = response.content.decode()

    history = response.context["history"]
    assert [entry.visit.pk for entry, _ in history] == [visits[1].pk, visits[0].pk]
    assert "Visits of cus_a" in html
    assert "cancellation scheduled (too expensive)" in html
    assert visits[2].stripe_id not in html


def test_customer_history_escapes_what_it_shows(
    admin_client: Client, visits: list[PortalSession]
) -> None:
    cancel_during(visits[2], "<img src=x onerror=alert(1)>")

    html = admin_client.get(URL, {**RANGE, "customer": "cus_b"}).content.decode()

    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_the_app_index_links_to_the_page(admin_client: Client, client: Client) -> None:
    app_index = reverse("admin:app_list", args=["django_stripe_portal"])

    assert f'href="{URL}"' in admin_client.get(app_index).content.decode()
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client.force_login(staff)
    assert f'href="{URL}"' not in client.get(app_index).content.decode()


def test_the_session_list_links_to_the_page(admin_client: Client) -> None:
    changelist = reverse("admin:django_stripe_portal_portalsession_changelist")

    assert f'href="{URL}"' in admin_client.get(changelist).content.decode()


def test_a_long_range_is_charted_by_week(admin_client: Client) -> None:
    PortalSessionFactory(created_at=dt.datetime(2026, 3, 4, 12, tzinfo=dt.UTC))
    response = admin_client.get(URL, {"start": "2026-01-01", "end": "2026-06-30"})
    html = response.content.decode()

    assert response.context["weekly"] is True
    assert "<title>Visits and unique customers per week</title>" in html
    assert len(response.context["periods"]) == 27  # 2026-01-01 is a Thursday
    assert '<td>2026-03-02 \u2013 2026-03-08</td><td class="number">1</td>' in html
    assert "The same figures, week by week" in html


AT_RISK_URL = "/admin/django_stripe_portal/portalsession/at-risk/"


def test_the_admin_index_links_to_the_page(admin_client: Client, client: Client) -> None:
    index = reverse("admin:index")

    html = admin_client.get(index).content.decode()
    # First in the app's one section, not in a second section of the same name.
    section = html[html.index("app-django_stripe_portal") :]
    assert section.index(f'href="{URL}"') < section.index("portalconfiguration/")
    assert section.index(AT_RISK_URL) < section.index("portalconfiguration/")
    assert html.count(">Stripe customer portal</a>") == 1
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client.force_login(staff)
    assert f'href="{URL}"' not in client.get(index).content.decode()
