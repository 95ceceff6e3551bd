"""The payload column takes the body's JSON text where the database parses what it stores
(PostgreSQL's ``jsonb``): stored as ``json.dumps`` of the event would be, without encoding
the event a second time."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
import responses
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.state.row_writes import PreparedInsert, PreparedNewRows
from django_stripe_portal.testing import sign_payload
from django_stripe_portal.webhooks.accept import accept_event
from django_stripe_portal.webhooks.parse import json_text_of, parse_event
from tests import stripe_objects as so
from tests.fake_stripe_events import FakeStripeEvents
from tests.webhook_support import SECRET, post_raw

pytestmark = pytest.mark.django_db


def _customer_updated() -> dict[str, Any]:
    return so.event(
        "customer.updated",
        so.customer(id="cus_text", name="Zoë Ångström"),
        previous_attributes={"name": "Zoe"},
    )


def _stored_as_the_orm_would(event: dict[str, Any]) -> str:
    """The payload of a row the ORM saved from the parsed event, read back, as text."""
    reference = WebhookEvent.objects.create(
        stripe_id="evt_reference", type="x", created_at=timezone.now(), payload=event
    )
    reference.refresh_from_db()
    return json.dumps(reference.payload)


def test_the_payload_reads_back_as_the_event_whatever_the_bodys_layout(client: Client) -> None:
    event = _customer_updated()
    body = json.dumps(event, indent=2, ensure_ascii=False)  # as Stripe lays its bodies out

    assert post_raw(client, body, sign_payload(body, SECRET)).status_code == 200

    stored = WebhookEvent.objects.get(stripe_id=event["id"])
    assert stored.payload == event
    assert json.dumps(stored.payload) == _stored_as_the_orm_would(parse_event(body.encode()))


@pytest.mark.off_contract  # metadata holds strings; a number is what this test needs
@pytest.mark.parametrize("written", ["1.5e2", "150.00", "1E2", "0.5e300", "1e-400"])
def test_a_float_python_writes_otherwise_is_stored_as_json_dumps_would_store_it(
    client: Client, written: str
) -> None:
    """``jsonb`` keeps a number as written: ``1.5e2`` would read back as the int 150 where
    ``json.dumps`` writes ``150.0``. Such a body is encoded from the dict, as before."""
    event = _customer_updated()
    body = json.dumps(event).replace('"metadata": {}', f'"metadata": {{"figure": {written}}}')
    assert written in body

    assert post_raw(client, body, sign_payload(body, SECRET)).status_code == 200

    stored = WebhookEvent.objects.get(stripe_id=event["id"])
    assert json.dumps(stored.payload) == _stored_as_the_orm_would(parse_event(body.encode()))


def test_json_text_of_gives_the_parsed_text_once_and_only_for_that_body() -> None:
    body = json.dumps(_customer_updated()).encode()
    other = json.dumps(_customer_updated()).encode()
    parse_event(body)

    assert json_text_of(other) is None
    assert json_text_of(body) == body.decode()
    assert json_text_of(body) is None


def test_json_text_of_is_none_for_a_body_with_a_float_written_otherwise() -> None:
    text = json.dumps(_customer_updated()).replace('"metadata": {}', '"metadata": {"n": 1e5}')
    body = text.encode()
    assert parse_event(body)["data"]["object"]["metadata"] == {"n": 100000.0}

    assert json_text_of(body) is None


def test_a_redacted_event_is_not_stored_from_its_body() -> None:
    """The body still holds the session URL: the payload is encoded from the redacted dict."""
    event = so.event("billing_portal.session.created", so.portal_session(customer="cus_text"))
    event["data"]["object"]["url"] = "https://billing.stripe.com/p/session/secret"

    redacted, meaning = accept_event(json.dumps(event).encode(), False)

    assert meaning.payload_json is None
    assert redacted["data"]["object"]["url"] == "[redacted]"
    plain, plain_meaning = accept_event(json.dumps(_customer_updated()).encode(), False)
    assert plain_meaning.payload_json is not None
    assert json.loads(plain_meaning.payload_json) == plain


def test_an_insert_sends_the_text_only_where_the_database_parses_it() -> None:
    row = WebhookEvent(
        stripe_id="evt_texts", type="x", created_at=timezone.now(), payload={"from": "dict"}
    )
    assert PreparedInsert(row, json_texts={"payload": '{"from": "text"}'}).run() is not None

    stored = WebhookEvent.objects.get(stripe_id="evt_texts").payload
    expected = "text" if connection.vendor == "postgresql" else "dict"
    assert stored == {"from": expected}


def test_a_page_insert_sends_each_rows_text_only_where_the_database_parses_it() -> None:
    """Catch-up's page of rows takes the same texts as a delivery's insert, row by row."""
    rows = [
        WebhookEvent(
            stripe_id=f"evt_page_{n}", type="x", created_at=timezone.now(), payload={"from": "dict"}
        )
        for n in range(2)
    ]
    texts = [{"payload": '{"from": "text"}'}, {}]
    assert len(PreparedNewRows(rows, key="stripe_id", json_texts=texts).run()) == 2

    stored = dict(WebhookEvent.objects.values_list("stripe_id", "payload"))
    expected = "text" if connection.vendor == "postgresql" else "dict"
    assert stored == {"evt_page_0": {"from": expected}, "evt_page_1": {"from": "dict"}}


def test_a_page_insert_of_compact_texts_sends_them_on_every_database() -> None:
    """Catch-up's texts are its own compact ``json.dumps``: SQLite may store them too."""
    row = WebhookEvent(
        stripe_id="evt_compact", type="x", created_at=timezone.now(), payload={"from": "dict"}
    )
    texts = [{"payload": '{"from":"text"}'}]
    assert PreparedNewRows([row], key="stripe_id", json_texts=texts, compact_texts=True).run()

    assert WebhookEvent.objects.get(stripe_id="evt_compact").payload == {"from": "text"}


def test_catch_up_stores_a_page_of_payloads_as_deliveries_would(
    stripe_mock: responses.RequestsMock,
) -> None:
    """A page of the listing goes in with one insert: each payload reads back as the event,
    and a portal session's URL (still in the listing's text) is stored redacted."""
    stripe = FakeStripeEvents(stripe_mock).install()
    session = so.portal_session(customer="cus_text")
    session["url"] = "https://billing.stripe.com/p/session/secret"
    created = stripe.create("billing_portal.session.created", session, delivered=False)
    updated = stripe.create(
        "customer.updated",
        so.customer(id="cus_text", name="Zoë Ångström"),
        previous_attributes={"name": "Zoe"},
        delivered=False,
    )

    call_command("fetch_stripe_events", "--hours", "1", stdout=StringIO(), stderr=StringIO())

    assert stripe.refused == []
    stored = WebhookEvent.objects.get(stripe_id=updated["id"])
    assert stored.payload == updated
    assert json.dumps(stored.payload) == _stored_as_the_orm_would(updated)
    url = WebhookEvent.objects.get(stripe_id=created["id"]).payload["data"]["object"]["url"]
    assert url == "[redacted]"
