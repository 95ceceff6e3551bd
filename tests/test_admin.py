"""The admin: read-only Stripe records, editable customer links, exact id search,
formatted payloads, linked changes on each visit, and no full-table counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_stripe_portal.admin import events as events_admin
from django_stripe_portal.admin import records as records_admin
from django_stripe_portal.events import ChangeKind
from django_stripe_portal.models import (
    PortalConfiguration,
    PortalSession,
    StripeCustomer,
    StripeSubscription,
    WebhookEvent,
)
from tests import stripe_objects
from tests.factories import (
    PortalConfigurationFactory,
    PortalSessionFactory,
    StripeCustomerFactory,
    StripeSubscriptionFactory,
    UserFactory,
    WebhookEventFactory,
)

pytestmark = pytest.mark.django_db

MODELS = ("stripecustomer", "portalconfiguration", "portalsession", "stripesubscription")


def admin_url(model: str, view: str, *args: object) -> str:
    return reverse(f"admin:django_stripe_portal_{model}_{view}", args=args)


def cancel_event(session: PortalSession | None, feedback: str) -> WebhookEvent:
    subscription = stripe_objects.subscription(
        customer=session.customer_id if session else "cus_x",
        cancel_at_period_end=True,
        cancellation_details={"reason": "cancellation_requested", "feedback": feedback},
    )
    payload = stripe_objects.event("customer.subscription.updated", subscription)
    event: WebhookEvent = WebhookEventFactory(
        stripe_id=payload["id"],
        payload=payload,
        portal_session=session,
        change_kind=ChangeKind.CANCEL_SCHEDULED,
        customer_id=subscription["customer"],
    )
    return event


@pytest.mark.parametrize("model", [*MODELS, "webhookevent"])
def test_every_model_has_a_list_and_a_detail_page(admin_client: Client, model: str) -> None:
    factories = {
        "stripecustomer": StripeCustomerFactory,
        "portalconfiguration": PortalConfigurationFactory,
        "portalsession": PortalSessionFactory,
        "stripesubscription": StripeSubscriptionFactory,
        "webhookevent": WebhookEventFactory,
    }
    obj = factories[model]()

    listing = admin_client.get(admin_url(model, "changelist"))
    detail = admin_client.get(admin_url(model, "change", obj.pk))

    assert listing.status_code == 200
    assert str(obj.pk) in listing.content.decode()
    assert detail.status_code == 200


@pytest.mark.parametrize(
    ("model", "factory"),
    [
        ("portalconfiguration", PortalConfigurationFactory),
        ("portalsession", PortalSessionFactory),
        ("stripesubscription", StripeSubscriptionFactory),
        ("webhookevent", WebhookEventFactory),
    ],
)
def test_stripe_records_are_read_only(admin_client: Client, model: str, factory: type) -> None:
    obj = factory()

    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.post(admin_url(model, "change", obj.pk), {}).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert b'name="_save"' not in admin_client.get(admin_url(model, "change", obj.pk)).content
    assert obj.__class__.objects.filter(pk=obj.pk).exists()


def test_customer_links_are_editable(admin_client: Client) -> None:
    link = StripeCustomerFactory(customer_id="cus_old")
    new_user = UserFactory()

    response = admin_client.post(
        admin_url("stripecustomer", "change", link.pk),
        {"user": new_user.pk, "customer_id": "cus_new", "livemode": ""},
    )

    assert response.status_code == 302
    link.refresh_from_db()
    assert (link.customer_id, link.user_id) == ("cus_new", new_user.pk)
    assert admin_client.get(admin_url("stripecustomer", "add")).status_code == 200


def test_search_is_an_exact_match_on_stripe_and_customer_ids(admin_client: Client) -> None:
    wanted = PortalSessionFactory(stripe_id="bps_wanted", customer_id="cus_wanted")
    other = PortalSessionFactory(stripe_id="bps_wanted2", customer_id="cus_other")
    url = admin_url("portalsession", "changelist")

    def found(term: str) -> set[int]:
        response = admin_client.get(url, {"q": term})
        return {row.pk for row in response.context["cl"].result_list}

    assert found("bps_wanted") == {wanted.pk}
    assert found("cus_other") == {other.pk}
    assert found("wanted") == set()
    assert found("cus_wanted bps_wanted") == {wanted.pk}


def test_webhook_event_search_and_filters(admin_client: Client) -> None:
    event = WebhookEventFactory(type="payment_method.attached", customer_id="cus_pm")
    WebhookEventFactory(type="customer.updated", status=WebhookEvent.Status.FAILED)
    url = admin_url("webhookevent", "changelist")

    def found(**params: str) -> set[int]:
        return {row.pk for row in admin_client.get(url, params).context["cl"].result_list}

    assert found(q=event.stripe_id) == {event.pk}
    assert found(q="cus_pm") == {event.pk}
    assert found(type="payment_method.attached") == {event.pk}
    assert found(status="processed") == {event.pk}


def test_payload_is_shown_formatted_and_escaped(admin_client: Client) -> None:
    customer = stripe_objects.customer(id="cus_x", name="<script>alert(1)</script>")
    payload = stripe_objects.event("customer.updated", customer)
    event = WebhookEventFactory(stripe_id=payload["id"], type="customer.updated", payload=payload)

    html = admin_client.get(admin_url("webhookevent", "change", event.pk)).content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "\n  &quot;api_version&quot;: &quot;2026-10-28.endive&quot;," in html
    assert "<pre" in html


def test_portal_session_page_lists_its_linked_changes(admin_client: Client) -> None:
    session = PortalSessionFactory()
    cancel = cancel_event(session, "too_expensive")
    unrelated = cancel_event(None, "unused")

    html = admin_client.get(admin_url("portalsession", "change", session.pk)).content.decode()

    assert "changes made during this visit" in html.lower()
    assert cancel.stripe_id in html
    assert '<span title="too_expensive">too expensive</span>' in html
    assert "cancellation scheduled" in html
    assert unrelated.stripe_id not in html


def test_feedback_shows_on_cancellations_only(admin_client: Client) -> None:
    """A plan change carries the subscription's earlier cancellation_details along: the
    session page must not present them as this change's feedback."""
    session = PortalSessionFactory(flow_type="subscription_update")
    subscription = stripe_objects.subscription(
        customer=session.customer_id,
        cancellation_details={"reason": None, "feedback": "too_expensive", "comment": None},
    )
    payload = stripe_objects.event("customer.subscription.updated", subscription)
    WebhookEventFactory(
        stripe_id=payload["id"],
        payload=payload,
        portal_session=session,
        change_kind=ChangeKind.PLAN_CHANGED,
        customer_id=subscription["customer"],
    )

    html = admin_client.get(admin_url("portalsession", "change", session.pk)).content.decode()

    assert "plan changed" in html
    assert "too expensive" not in html
    assert "too_expensive" not in html
    assert 'plan change <code class="stripe-id">subscription_update</code>' in html


def test_lists_show_words_with_the_ids_for_developers(admin_client: Client) -> None:
    PortalSessionFactory(flow_type="payment_method_update")
    StripeSubscriptionFactory(status="past_due", cancel_at_period_end=True)
    cancel_event(None, "unused")

    sessions = admin_client.get(admin_url("portalsession", "changelist")).content.decode()
    subscriptions = admin_client.get(admin_url("stripesubscription", "changelist")).content.decode()
    events = admin_client.get(admin_url("webhookevent", "changelist")).content.decode()

    assert '<span title="payment_method_update">card update</span>' in sessions
    assert '<span title="past_due">past due</span>' in subscriptions
    assert "cancels " in subscriptions
    assert "customer.<wbr>subscription.<wbr>updated" in events
    assert '<span class="change">cancellation scheduled</span>' in events


def test_webhook_event_list_links_the_visit_without_joining(admin_client: Client) -> None:
    session = PortalSessionFactory()
    cancel_event(session, "other")

    with CaptureQueriesContext(connection) as queries:
        html = admin_client.get(admin_url("webhookevent", "changelist")).content.decode()

    assert admin_url("portalsession", "change", session.pk) in html
    listing = [q["sql"] for q in queries if "django_stripe_portal_webhookevent" in q["sql"]]
    assert not any("django_stripe_portal_portalsession" in sql for sql in listing)


def test_a_filtered_list_counts_once(admin_client: Client) -> None:
    WebhookEventFactory.create_batch(3)

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(admin_url("webhookevent", "changelist"), {"status": "failed"})

    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    page_counts = [sql for sql in counts if "next_attempt_at" not in sql]
    assert response.status_code == 200
    assert len(page_counts) == 1  # the filtered page; never the whole table as well
    # The health figures on top: one count over the unfinished events only.
    [health] = [sql for sql in counts if "next_attempt_at" in sql]
    assert "IN" in health.upper()


def test_list_filters_do_not_ask_the_database_for_choices(admin_client: Client) -> None:
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(admin_url("webhookevent", "changelist"))

    assert not any("DISTINCT" in q["sql"].upper() for q in queries)


def test_returned_filter(admin_client: Client) -> None:
    came_back = PortalSessionFactory(returned_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    left = PortalSessionFactory()
    url = admin_url("portalsession", "changelist")

    def found(value: str) -> set[int]:
        response = admin_client.get(url, {"returned": value})
        return {row.pk for row in response.context["cl"].result_list}

    assert found("yes") == {came_back.pk}
    assert found("no") == {left.pk}


def test_view_only_staff_can_read_but_not_change(client: Client) -> None:
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(codename="view_webhookevent"),
        Permission.objects.get(codename="view_stripecustomer"),
    )
    client.force_login(staff)
    event = WebhookEventFactory()
    link = StripeCustomerFactory()

    assert client.get(admin_url("webhookevent", "change", event.pk)).status_code == 200
    assert client.post(admin_url("stripecustomer", "change", link.pk), {}).status_code == 403
    assert client.get(admin_url("portalsession", "changelist")).status_code == 403


def test_paginator_counts_small_results_exactly() -> None:
    PortalSessionFactory.create_batch(3)

    paginator = records_admin.EstimatedCountPaginator(PortalSession.objects.order_by("pk"), 2)

    assert paginator.count == 3
    assert paginator.num_pages == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="planner estimates: PostgreSQL")
def test_paginator_uses_the_planner_estimate_for_large_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    PortalSessionFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {PortalSession._meta.db_table}")
    monkeypatch.setattr(records_admin, "EXACT_COUNT_BELOW", 1)

    with CaptureQueriesContext(connection) as queries:
        count = records_admin.EstimatedCountPaginator(PortalSession.objects.order_by("pk"), 2).count

    assert count == 3  # ANALYZE just counted the three rows
    assert [q["sql"].split()[0] for q in queries] == ["EXPLAIN"]


def test_models_registered() -> None:
    from django.contrib import admin

    for model in (StripeCustomer, PortalConfiguration, PortalSession, WebhookEvent):
        assert admin.site.is_registered(model)


def _stored_subscription_event(status: str) -> WebhookEvent:
    subscription = stripe_objects.subscription(customer="cus_replay")
    payload = stripe_objects.event("customer.subscription.updated", subscription)
    event: WebhookEvent = WebhookEventFactory(
        stripe_id=payload["id"],
        payload=payload,
        status=status,
        attempts=1,
        last_error="boom" if status == WebhookEvent.Status.FAILED else "",
    )
    return event


def _replay(client: Client, *events: WebhookEvent) -> Any:
    return client.post(
        admin_url("webhookevent", "changelist"),
        {"action": "replay_events", "_selected_action": [event.pk for event in events]},
        follow=True,
    )


def test_replay_action_dispatches_the_selected_events_again(admin_client: Client) -> None:
    failed = _stored_subscription_event(WebhookEvent.Status.FAILED)
    processed = _stored_subscription_event(WebhookEvent.Status.PROCESSED)
    untouched = _stored_subscription_event(WebhookEvent.Status.FAILED)

    response = _replay(admin_client, failed, processed)

    for row in (failed, processed):
        row.refresh_from_db()
        assert (row.status, row.attempts, row.last_error) == ("processed", 2, "")
    untouched.refresh_from_db()
    assert (untouched.status, untouched.attempts) == ("failed", 1)
    assert StripeSubscription.objects.filter(customer_id="cus_replay").count() == 2
    assert "Replayed 2 event(s): 2 processed." in response.content.decode()


def test_replay_action_refuses_a_selection_too_large(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_admin, "MAX_REPLAY", 1)
    events = [_stored_subscription_event(WebhookEvent.Status.FAILED) for _ in range(2)]

    response = _replay(admin_client, *events)

    assert "Select at most 1 events to replay here" in response.content.decode()
    assert {row.attempts for row in WebhookEvent.objects.all()} == {1}


def test_replay_action_needs_the_change_permission(client: Client) -> None:
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client.force_login(staff)
    event = _stored_subscription_event(WebhookEvent.Status.FAILED)

    listing = client.get(admin_url("webhookevent", "changelist")).content.decode()
    _replay(client, event)

    assert "replay_events" not in listing
    event.refresh_from_db()
    assert event.attempts == 1


def test_sessions_filter_by_configuration_key(admin_client: Client) -> None:
    default = PortalConfigurationFactory(key="default")
    # The same key on a connected account: one choice in the filter, matching both.
    default_connected = PortalConfigurationFactory(key="default", account="acct_1Merchant")
    annual = PortalConfigurationFactory(key="annual")
    kept = PortalSessionFactory(configuration=annual)
    on_default = PortalSessionFactory(configuration=default)
    on_connected = PortalSessionFactory(configuration=default_connected)
    url = admin_url("portalsession", "changelist")

    html = admin_client.get(url).content.decode()

    def found(key: str) -> set[int]:
        response = admin_client.get(url, {"configuration": key})
        return {row.pk for row in response.context["cl"].result_list}

    assert '<a href="?configuration=annual">annual</a>' in html
    assert html.count('<a href="?configuration=default">default</a>') == 1
    assert default.stripe_id not in html  # the filter names keys, not bpc_… ids
    assert found("annual") == {kept.pk}
    assert found("default") == {on_default.pk, on_connected.pk}
    assert found("nothing") == set()
