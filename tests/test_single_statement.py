"""One-statement writes: insert-unless-exists and upsert, each a single round trip."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.db.models import Subquery
from django.utils import timezone

from django_stripe_portal.models import (
    PortalConfiguration,
    PortalSession,
    StripeSubscription,
    WebhookEvent,
)
from django_stripe_portal.state import row_writes
from django_stripe_portal.state.row_writes import (
    PreparedInsert,
    PreparedNewRows,
    insert_unless_exists,
    upsert,
)
from django_stripe_portal.webhooks import state_writes
from django_stripe_portal.webhooks.linking import visit_subquery

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = ["customer_id", "return_to", "source"]
FIXED = dt.datetime(2026, 11, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)


def _session(**values: Any) -> PortalSession:
    return PortalSession(
        stripe_id="bps_single", customer_id="cus_1", created_at=timezone.now(), **values
    )


def test_upsert_inserts_then_updates_the_same_row_in_one_statement_each(
    django_assert_num_queries: Any,
) -> None:
    with django_assert_num_queries(1):
        (first_pk,) = upsert(
            _session(source="webhook"), unique_fields=["stripe_id"], update_fields=FIELDS
        )
    with django_assert_num_queries(1) as captured:
        (second_pk,) = upsert(
            _session(source="app", return_to="/account/"),
            unique_fields=["stripe_id"],
            update_fields=FIELDS,
        )
    assert first_pk == second_pk
    assert "ON CONFLICT" in captured.captured_queries[0]["sql"].upper()
    row = PortalSession.objects.get()
    assert (row.pk, row.source, row.return_to) == (first_pk, "app", "/account/")


def test_insert_unless_exists_keeps_the_first_row() -> None:
    assert insert_unless_exists(_session(return_to="/first/")) is not None
    assert insert_unless_exists(_session(return_to="/second/")) is None
    assert PortalSession.objects.get().return_to == "/first/"


def _comparable(params: list[Any]) -> list[Any]:
    """psycopg's ``Jsonb`` wrapper has no equality; compare what it wraps."""
    return [getattr(value, "obj", value) for value in params]


def _fresh_statement(row: Any, **options: Any) -> PreparedInsert:
    row_writes._SQL_OF_PLAIN_INSERTS.clear()
    return PreparedInsert(row, **options)


@pytest.mark.parametrize(
    ("build", "options"),
    [
        (
            lambda: PortalSession(
                stripe_id="bps_1", customer_id="cus_1", created_at=FIXED, return_to="/a/"
            ),
            {"unique_fields": ["stripe_id"], "update_fields": FIELDS},
        ),
        (
            lambda: WebhookEvent(
                stripe_id="evt_1",
                type="customer.updated",
                created_at=FIXED,
                payload={"id": "evt_1", "nested": {"list": [1, 2.5, None, "é"]}},
                status="processed",
            ),
            {"returning": ("pk", "portal_session")},
        ),
        (
            lambda: StripeSubscription(
                stripe_id="sub_1",
                customer_id="cus_1",
                status="active",
                items=[{"id": "si_1", "price": "price_1", "quantity": 2}],
                cancel_at=FIXED,
                event_created_at=FIXED,
                updated=FIXED,
            ),
            {"unique_fields": ["stripe_id"], "update_fields": ["status"], "update_when": "1 = 1"},
        ),
        (
            lambda: StripeSubscription(
                stripe_id="sub_2",
                customer_id="cus_1",
                status="canceled",
                items=[],
                cancellation_details={"reason": "cancellation_requested", "comment": None},
                canceled_at=FIXED.astimezone(dt.timezone(dt.timedelta(hours=-5))),
                current_period_end=FIXED,
                monthly_amount=1234,
                run_rate_basis={"currency": "usd", "items": [[1, 2.5]]},
                event_created_at=FIXED,
                event_stage=2,
                updated=FIXED,
            ),
            {"unique_fields": ["stripe_id"], "update_fields": ["status"]},
        ),
        (
            lambda: WebhookEvent(
                stripe_id="evt_3",
                type="customer.subscription.updated",
                created_at=FIXED,
                payload=[],
                status="failed",
                attempts=3,
                run_rate_before=-5,
                run_rate_after=2**40,
                next_attempt_at=FIXED,
            ),
            {"returning": ("pk", "portal_session")},
        ),
        (
            lambda: WebhookEvent(
                stripe_id="evt_2",
                type="customer.updated",
                customer_id="cus_1",
                created_at=FIXED,
                payload={"id": "evt_2"},
                status="processed",
                change_kind="customer_details_changed",
                portal_session_id=visit_subquery("cus_1", FIXED, 3600),
            ),
            {"returning": ("pk", "portal_session")},
        ),
        (
            lambda: PortalSession(
                stripe_id="bps_2",
                customer_id="cus_1",
                created_at=FIXED,
                source="webhook",
                configuration_id=state_writes._configuration_subquery("bpc_1", ""),
            ),
            {"returning": ("pk", "configuration")},
        ),
    ],
    ids=[
        "portal-session-upsert",
        "webhook-event",
        "subscription-conditional-upsert",
        "subscription-integers-json-another-time-zone",
        "webhook-event-integers",
        "webhook-event-linked-to-a-visit",
        "portal-session-seen-by-a-webhook",
    ],
)
def test_a_cached_plain_insert_is_what_djangos_compiler_makes(
    build: Callable[[], Any], options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timezone, "now", lambda: FIXED)  # auto_now fields alike in both
    compiled = _fresh_statement(build(), **options)
    cached = PreparedInsert(build(), **options)

    assert cached.sql == compiled.sql
    assert _comparable(cached.params) == _comparable(compiled.params)
    assert cached.run() is not None


def test_an_expression_value_is_compiled_every_time() -> None:
    """A ``Subquery`` changes the SQL text, so such a row never uses or fills the cache."""
    configuration = PortalConfiguration.objects.create(stripe_id="bpc_1", key="default")

    def session(stripe_id: str, configuration_stripe_id: str) -> PortalSession:
        return PortalSession(
            stripe_id=stripe_id,
            customer_id="cus_1",
            created_at=FIXED,
            configuration_id=Subquery(
                PortalConfiguration.objects.filter(stripe_id=configuration_stripe_id).values("pk")[
                    :1
                ]
            ),
        )

    row_writes._SQL_OF_PLAIN_INSERTS.clear()
    first = insert_unless_exists(session("bps_x", "bpc_1"), returning=("pk", "configuration"))
    second = insert_unless_exists(session("bps_y", "bpc_none"), returning=("pk", "configuration"))

    assert row_writes._SQL_OF_PLAIN_INSERTS == {}
    assert first is not None and first[1] == configuration.pk
    assert second is not None and second[1] is None


def test_a_raw_sql_value_is_compiled_once_for_every_row_that_sends_its_text() -> None:
    """The visit link is ``RawSQL`` of one text: the event INSERT is compiled once, and
    each row still links its own visit (the subquery's parameters are the row's)."""
    visits = {
        customer: PortalSession.objects.create(
            stripe_id=f"bps_{customer}", customer_id=customer, created_at=FIXED
        )
        for customer in ("cus_a", "cus_b")
    }
    row_writes._SQL_OF_PLAIN_INSERTS.clear()
    linked = {}
    for customer in ("cus_a", "cus_b", "cus_none"):
        row = WebhookEvent(
            stripe_id=f"evt_{customer}",
            type="customer.updated",
            customer_id=customer,
            created_at=FIXED + dt.timedelta(minutes=1),
            payload={},
            status="processed",
            portal_session_id=visit_subquery(customer, FIXED + dt.timedelta(minutes=1), 3600),
        )
        inserted = insert_unless_exists(row, returning=("pk", "portal_session"))
        assert inserted is not None
        linked[customer] = inserted[1]

    assert len(row_writes._SQL_OF_PLAIN_INSERTS) == 1
    assert linked == {"cus_a": visits["cus_a"].pk, "cus_b": visits["cus_b"].pk, "cus_none": None}


def _page_row(customer: str, *, subquery: bool = False) -> WebhookEvent:
    at = FIXED + dt.timedelta(minutes=1)
    link = (
        Subquery(PortalSession.objects.filter(customer_id=customer).values("pk")[:1])
        if subquery
        else visit_subquery(customer, at, 3600)
    )
    return WebhookEvent(
        stripe_id=f"evt_page_{customer}",
        type="customer.updated",
        customer_id=customer,
        created_at=at,
        payload={"customer": customer},
        status="processed",
        portal_session_id=link,
    )


@pytest.mark.parametrize("subquery", [False, True], ids=["raw-sql", "compiled-by-django"])
def test_a_page_insert_writes_the_new_rows_in_one_statement_and_says_which(
    subquery: bool, django_assert_num_queries: Any
) -> None:
    """Rows already stored are left out of the answer (and kept as they were); each new row
    links its own visit, whether its values are made as ``PreparedInsert`` makes them or
    Django's compiler writes the statement (a ``Subquery``)."""
    visit = PortalSession.objects.create(stripe_id="bps_a", customer_id="cus_a", created_at=FIXED)
    stored = _page_row("cus_stored")
    stored.payload = {"kept": True}
    assert insert_unless_exists(stored) is not None
    rows = [_page_row(customer, subquery=subquery) for customer in ("cus_a", "cus_stored", "cus_b")]
    statement = PreparedNewRows(rows, key="stripe_id", returning=("portal_session",))

    # SQLite: a statement per row, of one text per shape (compiled once, no round trip).
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else len(rows)):
        inserted = statement.run()

    assert inserted == {"evt_page_cus_a": (visit.pk,), "evt_page_cus_b": (None,)}
    assert rows[0].pk == WebhookEvent.objects.get(stripe_id="evt_page_cus_a").pk
    assert rows[1].pk is None
    assert WebhookEvent.objects.get(stripe_id="evt_page_cus_stored").payload == {"kept": True}
    assert WebhookEvent.objects.get(stripe_id="evt_page_cus_b").payload == {"customer": "cus_b"}


@pytest.mark.parametrize("subquery", [False, True], ids=["raw-sql", "compiled-by-django"])
def test_a_page_insert_unlogged_is_sent_once_through_the_wrappers_and_links_as_logged(
    subquery: bool,
) -> None:
    """Unlogged, SQLite is sent the ``?`` text (no conversion per execute): the same
    statements, each seen by every execute wrapper, with the same rows and links as logged."""
    visit = PortalSession.objects.create(stripe_id="bps_a", customer_id="cus_a", created_at=FIXED)
    rows = [_page_row(customer, subquery=subquery) for customer in ("cus_a", "cus_b")]
    statement = PreparedNewRows(rows, key="stripe_id", returning=("portal_session",))
    sent: list[str] = []

    def wrapper(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        sent.append(sql)
        return execute(sql, *args)

    with connection.execute_wrapper(wrapper):
        assert not connection.queries_logged
        inserted = statement.run()

    assert inserted == {"evt_page_cus_a": (visit.pk,), "evt_page_cus_b": (None,)}
    assert len(sent) == (1 if connection.vendor == "postgresql" else len(rows))
    assert all(sql.startswith("INSERT") for sql in sent)
    if connection.vendor == "sqlite":
        assert all("%s" not in sql and "?" in sql for sql in sent)
    assert WebhookEvent.objects.get(stripe_id="evt_page_cus_b").payload == {"customer": "cus_b"}


def test_a_page_insert_past_the_parameter_limit_takes_more_statements(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(row_writes, "parameter_limit", lambda connection: 100)
    rows = [_page_row(f"cus_{n}") for n in range(7)]

    statement = PreparedNewRows(rows, key="stripe_id")

    assert len(statement.statements) > 1
    assert set(statement.run()) == {f"evt_page_cus_{n}" for n in range(7)}
    assert WebhookEvent.objects.count() == 7


def test_a_page_insert_unwatched_still_refuses_a_transaction_marked_for_rollback() -> None:
    """Sent to SQLite's own cursor where nobody watches, a page insert still refuses to
    run in a transaction marked for rollback, as Django's cursor does."""
    from django.db import transaction
    from django.db.transaction import TransactionManagementError

    with transaction.atomic():
        connection.needs_rollback = True
        with pytest.raises(TransactionManagementError):
            PreparedNewRows([_page_row("cus_broken")], key="stripe_id").run()
        connection.needs_rollback = False
    assert not WebhookEvent.objects.filter(stripe_id="evt_page_cus_broken").exists()
