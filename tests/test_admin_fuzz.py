"""The app's admin pages with odd query strings and odd ids: never a 500.

A staff member's browser sends what links and bookmarks hold, and an attacker who can get
one to follow a link chooses it: filters with values of the wrong type, orderings that
are not columns, pages past the end, dates that are not dates, NULs, ids that are not ids.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.factories import (
    PortalSessionFactory,
    StripeSubscriptionFactory,
    WebhookEventFactory,
)
from tests.hostile_json import bad_urls

pytestmark = pytest.mark.django_db

MODELS = [
    "webhookevent",
    "portalsession",
    "stripesubscription",
    "stripecustomer",
    "portalconfiguration",
]
PAGES = [
    *(f"admin:django_stripe_portal_{model}_changelist" for model in MODELS),
    "admin:django_stripe_portal_portalsession_activity",
    "admin:django_stripe_portal_portalsession_at_risk",
]
#: The parameters the pages read (filters, ordering, paging, the range forms), and others.
PARAMETERS = [
    "status",
    "status__exact",
    "type",
    "retries",
    "account",
    "flow_type",
    "configuration",
    "returned",
    "livemode__exact",
    "active__exact",
    "cancel_at_period_end__exact",
    "o",
    "p",
    "q",
    "e",
    "all",
    "_to_field",
    "_popup",
    "start",
    "end",
    "customer",
    "days",
    "created_at__gte",
    "id__in",
    "pk",
]
odd_values = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "-1",
            "0",
            "99999999999999999999",
            "1.5",
            "2026-02-30",
            "9999-12-31",
            "0001-01-01",
            "-0",
            "1.-2.3",
            "acct_",
            "platform",
            "connected",
            "x\x00y",
            "%00",
            "' OR 1=1 --",
            "1,2,3",
            "true",
            "None",
        ]
    ),
    bad_urls,
)


@pytest.fixture
def staff(client: Client) -> Client:
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    WebhookEventFactory()
    PortalSessionFactory()
    StripeSubscriptionFactory()
    return client


#: The pages hit a database and render templates: no deadline; the fixture is per test.
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@settings(FUZZ, max_examples=300)
@given(
    page=st.sampled_from(PAGES),
    query=st.lists(st.tuples(st.sampled_from(PARAMETERS), odd_values), max_size=4),
)
@example(page=PAGES[0], query=[("o", "99")])
@example(page=PAGES[0], query=[("p", "99999999999999999999")])
@example(page=PAGES[5], query=[("start", "9999-12-31"), ("end", "0001-01-01")])
@example(page=PAGES[6], query=[("days", "99999999999999999999")])
@example(page=PAGES[0], query=[("account", "acct_\x00")])  # PostgreSQL refused the NUL: 500
@example(page=PAGES[2], query=[("q", "cus_\x00")])
@example(page=PAGES[3], query=[("q", "\x00")])
def test_admin_pages_answer_any_query_string_without_a_500(
    staff: Client, page: str, query: list[tuple[str, str]]
) -> None:
    url = reverse(page) + "?" + urlencode(query)
    response = staff.get(url)
    assert response.status_code in (200, 302, 400, 404), (url, response.status_code)


@settings(FUZZ, max_examples=100)
@given(
    model=st.sampled_from(MODELS),
    object_id=st.one_of(
        st.text(min_size=1, max_size=20),
        st.sampled_from(["-1", "0", "99999999999999999999", "1e3", "%00", "..", "1 OR 1"]),
    ),
    action=st.sampled_from(["change", "history", "delete"]),
)
def test_admin_object_pages_answer_any_id_without_a_500(
    staff: Client, model: str, object_id: str, action: str
) -> None:
    url = f"/admin/django_stripe_portal/{model}/{quote(object_id, safe='')}/{action}/"
    response = staff.get(url)
    assert response.status_code in (200, 302, 403, 404), (url, response.status_code)


def test_a_filter_that_can_match_nothing_lists_nothing(staff: Client) -> None:
    """``?pk=`` past a bigint: Django sends no query, so the planner's estimate has nothing
    to read (it was a 500 on PostgreSQL)."""
    url = reverse("admin:django_stripe_portal_webhookevent_changelist")
    response = staff.get(url, {"pk": "9223372036854775808"})
    assert response.status_code in (200, 302, 400)


@pytest.mark.parametrize("end", ["0001-1-1", "9999-12-31", "9999-12-30"])
def test_the_activity_page_refuses_days_at_the_ends_of_the_calendar(
    staff: Client, end: str
) -> None:
    """``end`` at Python's date limits: the 30 days before it, or the day after it, do not
    exist (it was a 500)."""
    response = staff.get(reverse("admin:django_stripe_portal_portalsession_activity"), {"end": end})
    assert response.status_code == 200
    assert "Choose days between" in response.content.decode()


@pytest.mark.parametrize("query", ["id__in=9223372036854775808", "id__in=1,-99999999999999999999"])
def test_a_filter_integer_past_64_bits_is_a_400_not_a_500(staff: Client, query: str) -> None:
    """SQLite's driver cannot bind it, and Django guards ``exact``, not ``__in``."""
    url = reverse("admin:django_stripe_portal_webhookevent_changelist") + "?" + query
    assert staff.get(url).status_code == 400
