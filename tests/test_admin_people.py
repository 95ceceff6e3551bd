"""People on the admin pages: every list names the customer by ``CUSTOMER_LABEL`` (one
query a page, whatever its length), change pages are titled with the person, and search
finds rows by the linked user's name or email."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_stripe_portal.customers import link_customer
from tests.factories import (
    PortalSessionFactory,
    StripeCustomerFactory,
    StripeSubscriptionFactory,
    UserFactory,
    WebhookEventFactory,
)

pytestmark = pytest.mark.django_db

FACTORIES = {
    "portalsession": PortalSessionFactory,
    "stripesubscription": StripeSubscriptionFactory,
    "webhookevent": WebhookEventFactory,
}


def admin_url(model: str, view: str, *args: object) -> str:
    return reverse(f"admin:django_stripe_portal_{model}_{view}", args=args)


def _dana() -> Any:
    user = UserFactory(username="dana", first_name="Dana", last_name="Li", email="dana@shop.test")
    link_customer(user, "cus_dana")
    return user


def _shout(user: Any) -> str:
    return f"{user.get_username().upper()}!"


def _title(html: str) -> str:
    found = re.search(r"<title>(.*?)</title>", html, re.S)
    assert found is not None
    return " ".join(found.group(1).split())


@pytest.mark.parametrize("model", FACTORIES)
def test_lists_name_the_linked_person_and_keep_the_id_of_the_unlinked(
    admin_client: Client, model: str
) -> None:
    _dana()
    FACTORIES[model](customer_id="cus_dana")
    FACTORIES[model](customer_id="cus_nobody")

    html = admin_client.get(admin_url(model, "changelist")).content.decode()

    assert '<span title="cus_dana">Dana Li</span>' in html
    assert '<span title="cus_nobody">cus_nobody</span>' in html


@pytest.mark.parametrize("model", FACTORIES)
def test_a_list_asks_for_labels_once_whatever_its_length(admin_client: Client, model: str) -> None:
    def queries_for_a_page() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(admin_url(model, "changelist")).status_code == 200
        return len(queries)

    for number in range(2):
        user = UserFactory(first_name=f"Person{number}")
        link_customer(user, f"cus_p{number}")
        FACTORIES[model](customer_id=f"cus_p{number}")
    two_rows = queries_for_a_page()
    for number in range(2, 8):
        user = UserFactory(first_name=f"Person{number}")
        link_customer(user, f"cus_p{number}")
        FACTORIES[model](customer_id=f"cus_p{number}")

    assert queries_for_a_page() == two_rows


@pytest.mark.parametrize("model", FACTORIES)
def test_a_custom_label_names_people_in_lists_and_titles(admin_client: Client, model: str) -> None:
    _dana()
    row = FACTORIES[model](customer_id="cus_dana")

    with override_settings(STRIPE_PORTAL={"CUSTOMER_LABEL": f"{__name__}._shout"}):
        listing = admin_client.get(admin_url(model, "changelist")).content.decode()
        page = admin_client.get(admin_url(model, "change", row.pk)).content.decode()

    assert '<span title="cus_dana">DANA!</span>' in listing
    assert _title(page).startswith("DANA!")


@pytest.mark.parametrize("model", FACTORIES)
def test_change_pages_are_titled_with_the_person(admin_client: Client, model: str) -> None:
    _dana()
    linked = FACTORIES[model](customer_id="cus_dana")
    unlinked = FACTORIES[model](customer_id="cus_nobody")

    linked_page = admin_client.get(admin_url(model, "change", linked.pk)).content.decode()
    unlinked_page = admin_client.get(admin_url(model, "change", unlinked.pk)).content.decode()

    assert _title(linked_page).startswith("Dana Li")
    assert re.search(r"<h2>Dana Li[^<]*</h2>", linked_page)
    assert 'Dana Li <code class="stripe-id">cus_dana</code>' in linked_page
    assert _title(unlinked_page).startswith("cus_nobody")


def test_an_event_without_a_customer_is_titled_by_what_it_is(admin_client: Client) -> None:
    event = WebhookEventFactory(type="billing_portal.configuration.updated", customer_id="")

    html = admin_client.get(admin_url("webhookevent", "change", event.pk)).content.decode()

    assert _title(html).startswith("billing_portal.configuration.updated, ")


def test_the_customer_links_page_names_people(admin_client: Client) -> None:
    _dana()
    StripeCustomerFactory(user=UserFactory(username="bo", email=""), customer_id="cus_bo")
    link = StripeCustomerFactory(
        user=UserFactory(username="cy", email="cy@shop.test"), customer_id="cus_cy"
    )

    listing = admin_client.get(admin_url("stripecustomer", "changelist")).content.decode()
    page = admin_client.get(admin_url("stripecustomer", "change", link.pk)).content.decode()

    for label in ("Dana Li", "bo", "cy@shop.test"):
        assert f">{label}</a>" in listing
    assert _title(page).startswith("cy@shop.test |")


@pytest.mark.parametrize("model", [*FACTORIES, "stripecustomer"])
@pytest.mark.parametrize(
    "term", ["Dana", "dana li", "LI", "shop.test", "dana@shop.test", "cus_dana"]
)
def test_search_by_name_email_or_id(admin_client: Client, model: str, term: str) -> None:
    dana = _dana()
    link_customer(UserFactory(username="bo", first_name="Bo", email="bo@else.test"), "cus_bo")
    if model == "stripecustomer":
        wanted = {dana.stripe_customers.get().pk}
    else:
        wanted = {FACTORIES[model](customer_id="cus_dana").pk}
        FACTORIES[model](customer_id="cus_bo")
        FACTORIES[model](customer_id="cus_nobody")

    response = admin_client.get(admin_url(model, "changelist"), {"q": term})

    assert {row.pk for row in response.context["cl"].result_list} == wanted


@pytest.mark.parametrize("model", FACTORIES)
def test_a_name_search_is_one_statement(admin_client: Client, model: str) -> None:
    """The name becomes the linked customer ids inside the list's own query."""
    _dana()
    FACTORIES[model](customer_id="cus_dana")
    table = f"django_stripe_portal_{model}"

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(admin_url(model, "changelist"), {"q": "dana li"})

    assert len(response.context["cl"].result_list) == 1
    subqueried = [q["sql"] for q in queries if f'"{table}"."customer_id" IN (SELECT' in q["sql"]]
    assert any("ORDER BY" in sql for sql in subqueried)  # the page's rows
    own_links = [
        q["sql"]
        for q in queries
        if q["sql"].startswith('SELECT "django_stripe_portal_stripecustomer".')
    ]
    assert len(own_links) == 1  # the page's labels; the name was no query of its own


def test_a_name_matches_no_unlinked_row(admin_client: Client) -> None:
    PortalSessionFactory(customer_id="cus_nobody")

    response = admin_client.get(admin_url("portalsession", "changelist"), {"q": "nobody"})

    assert list(response.context["cl"].result_list) == []


@pytest.mark.parametrize("model", FACTORIES)
def test_an_id_search_stays_an_exact_match(admin_client: Client, model: str) -> None:
    """A Stripe id names no one: the list's query is the exact, indexed match alone (an
    OR with the name subquery would make PostgreSQL test every row against it)."""
    _dana()
    FACTORIES[model](customer_id="cus_dana")
    table = f"django_stripe_portal_{model}"

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(admin_url(model, "changelist"), {"q": "cus_dana"})

    assert len(response.context["cl"].result_list) == 1
    rows = [q["sql"] for q in queries if f'FROM "{table}"' in q["sql"] and "ORDER BY" in q["sql"]]
    assert rows and not any("stripecustomer" in sql for sql in rows)


def test_a_username_shaped_like_an_id_is_still_found(admin_client: Client) -> None:
    link_customer(UserFactory(username="dana_li"), "cus_dana")
    wanted = PortalSessionFactory(customer_id="cus_dana")
    PortalSessionFactory(customer_id="cus_other")

    response = admin_client.get(admin_url("portalsession", "changelist"), {"q": "dana_li"})

    assert [row.pk for row in response.context["cl"].result_list] == [wanted.pk]
