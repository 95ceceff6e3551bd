"""The churn loop from webhooks alone: custom feedback options, retention offers accepted
or declined, and both forms of a pause; every payload real-shaped and schema-checked."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from django_stripe_portal import activity, signals
from django_stripe_portal.events import HANDLED_EVENTS
from django_stripe_portal.models import PortalSession, StripeSubscription, WebhookEvent
from django_stripe_portal.tasks import process_webhook_event
from tests import contract
from tests import stripe_objects as so
from tests.factories import (
    PortalConfigurationFactory,
    PortalSessionFactory,
    StripeSubscriptionFactory,
)
from tests.test_webhook_domain import _post_recording
from tests.webhook_support import SECRET, Recorder, connected, post_signed

pytestmark = pytest.mark.django_db

TODAY = activity.ActivityRange.last_days(1)
SETUP = so.feedback_option(id="bfo_setup", description="Too hard to set up")


def _visit(customer: str, **fields: Any) -> PortalSession:
    created = timezone.now() - dt.timedelta(minutes=2)
    return PortalSessionFactory(customer_id=customer, created_at=created, **fields)


def _configuration_offering(*options: dict[str, Any]) -> Any:
    data = so.portal_configuration()
    data["features"]["subscription_cancel"]["cancellation_reason"]["feedback_options"] = list(
        options
    )
    return PortalConfigurationFactory(stripe_id=data["id"], stripe_data=data)


def _cancel_scheduled(customer: str, details: dict[str, Any], **kw: Any) -> dict[str, Any]:
    sub = so.subscription(
        customer=customer,
        cancel_at_period_end=True,
        canceled_at=int(time.time()),
        cancellation_details={"reason": "cancellation_requested", **details},
        **kw,
    )
    return so.event(
        "customer.subscription.updated", sub, previous_attributes={"cancel_at_period_end": False}
    )


# --- custom feedback options ------------------------------------------------------------


def test_a_custom_option_sent_as_an_id_is_kept_signalled_and_named(client: Client) -> None:
    _configuration_offering(SETUP)
    _visit("cus_fo1")
    event = _cancel_scheduled("cus_fo1", {"feedback": None, "feedback_option": "bfo_setup"})

    calls = _post_recording(client, event)

    (call,) = calls["subscription_cancel_scheduled"]
    assert call["cancellation_details"] == {
        "reason": "cancellation_requested",
        "feedback": None,
        "feedback_option": "bfo_setup",
        "comment": None,
    }
    stored = StripeSubscription.objects.get(stripe_id=event["data"]["object"]["id"])
    assert stored.cancellation_details["feedback_option"] == "bfo_setup"
    (reason,) = activity.cancellation_reasons(TODAY)
    assert (reason.feedback, reason.feedback_option, reason.cancellations) == (
        None,
        "bfo_setup",
        1,
    )
    assert reason.option_label == "Too hard to set up"


def test_an_expanded_option_is_kept_as_its_id_and_named_from_the_payload(client: Client) -> None:
    _visit("cus_fo2")
    option = so.feedback_option(id="bfo_team", description="My team left")
    event = _cancel_scheduled("cus_fo2", {"feedback": None, "feedback_option": option})
    assert contract.misfits_of_event(event) == []

    calls = _post_recording(client, event)

    assert calls["subscription_cancel_scheduled"][0]["cancellation_details"]["feedback_option"] == (
        "bfo_team"
    )
    stored = StripeSubscription.objects.get()
    assert stored.cancellation_details["feedback_option"] == "bfo_team"
    (reason,) = activity.cancellation_reasons(TODAY)
    assert (reason.feedback_option, reason.feedback_option_description) == (
        "bfo_team",
        "My team left",
    )


def test_feedback_and_a_custom_option_together_on_a_cancellation(client: Client) -> None:
    _configuration_offering(SETUP)
    _visit("cus_fo3")
    sub = so.subscription(
        customer="cus_fo3",
        status="canceled",
        canceled_at=int(time.time()),
        cancellation_details={
            "reason": "cancellation_requested",
            "feedback": "too_complex",
            "feedback_option": "bfo_setup",
            "comment": "Could not invite my team",
        },
    )
    event = so.event("customer.subscription.deleted", sub)

    calls = _post_recording(client, event)

    details = calls["subscription_canceled"][0]["cancellation_details"]
    assert (details["feedback"], details["feedback_option"]) == ("too_complex", "bfo_setup")
    report = activity.activity_report(TODAY).as_dict()
    assert report["cancellation_reasons"] == [
        {
            "feedback": "too_complex",
            "cancellations": 1,
            "feedback_option": "bfo_setup",
            "feedback_option_description": "Too hard to set up",
        }
    ]


def test_an_unknown_option_is_shown_as_its_id(client: Client, admin_client: Client) -> None:
    _visit("cus_fo4")
    post_signed(
        client, _cancel_scheduled("cus_fo4", {"feedback": None, "feedback_option": "bfo_gone"})
    )

    (reason,) = activity.cancellation_reasons(TODAY)
    assert (reason.feedback_option_description, reason.option_label) == (None, "bfo_gone")
    page = admin_client.get("/admin/django_stripe_portal/portalsession/activity/")
    assert "<code>bfo_gone</code>" in page.content.decode()


def test_options_are_named_in_one_query_with_no_stripe_call(
    client: Client, django_assert_max_num_queries: Any
) -> None:
    _configuration_offering(SETUP, so.feedback_option(id="bfo_price", description="Price"))
    for number, option in enumerate(["bfo_setup", "bfo_price", "bfo_setup"]):
        _visit(f"cus_foq{number}")
        post_signed(client, _cancel_scheduled(f"cus_foq{number}", {"feedback_option": option}))

    with django_assert_max_num_queries(2):  # the counts, then the descriptions
        reasons = activity.cancellation_reasons(TODAY)
    assert [(r.option_label, r.cancellations) for r in reasons] == [
        ("Too hard to set up", 2),
        ("Price", 1),
    ]


def test_a_cancellation_by_retention_policy_is_kept(client: Client) -> None:
    sub = so.subscription(
        customer="cus_rp",
        status="canceled",
        canceled_at=int(time.time()),
        cancellation_details={"reason": "canceled_by_retention_policy"},
    )
    calls = _post_recording(client, so.event("customer.subscription.deleted", sub))

    assert calls["subscription_canceled"][0]["cancellation_details"]["reason"] == (
        "canceled_by_retention_policy"
    )
    assert StripeSubscription.objects.get().cancellation_details["reason"] == (
        "canceled_by_retention_policy"
    )


# --- retention offers -------------------------------------------------------------------


def _discount_created(customer: str, subscription: str, coupon: str) -> dict[str, Any]:
    return so.event(
        "customer.discount.created",
        so.discount(customer=customer, subscription=subscription, coupon=coupon),
    )


def _discounts_updated(customer: str, subscription_id: str, discount_id: str) -> dict[str, Any]:
    """The subscription update Stripe sends beside it: ``discounts`` holds only ids."""
    sub = so.subscription(id=subscription_id, customer=customer, discounts=[discount_id])
    return so.event("customer.subscription.updated", sub, previous_attributes={"discounts": []})


def test_an_accepted_offer_is_read_from_the_discount_event(client: Client) -> None:
    visit = _visit("cus_keep", flow_type="subscription_cancel", retention_coupon="WINBACK25")
    subscription = StripeSubscriptionFactory(customer_id="cus_keep")
    discount = _discount_created("cus_keep", subscription.stripe_id, "WINBACK25")

    calls = _post_recording(client, discount)
    update_calls = _post_recording(
        client,
        _discounts_updated("cus_keep", subscription.stripe_id, discount["data"]["object"]["id"]),
    )

    (call,) = calls["retention_offer_accepted"]
    assert call["subscription"] == subscription
    assert call["coupon"] == "WINBACK25"
    assert call["portal_session"] == visit
    assert update_calls == {}  # a discounts change alone is no other change
    row = WebhookEvent.objects.get(stripe_id=discount["id"])
    assert (row.change_kind, row.portal_session_id) == ("retention_accepted", visit.pk)
    (offer,) = activity.retention_offers(TODAY)
    assert (offer.coupon, offer.offers, offer.accepted, offer.save_rate) == ("WINBACK25", 1, 1, 1.0)
    outcomes = {o.outcome: o.visits for o in activity.visit_outcomes(TODAY)}
    assert outcomes["retention_accepted"] == 1


def test_a_declined_offer_counts_as_an_offer_not_a_save(client: Client) -> None:
    _visit("cus_gone", flow_type="subscription_cancel", retention_coupon="WINBACK25")
    _visit("cus_kept", flow_type="subscription_cancel", retention_coupon="WINBACK25")
    kept = StripeSubscriptionFactory(customer_id="cus_kept")
    post_signed(client, _discount_created("cus_kept", kept.stripe_id, "WINBACK25"))

    calls = _post_recording(client, _cancel_scheduled("cus_gone", {"feedback": "too_expensive"}))

    assert "retention_offer_accepted" not in calls
    (offer,) = activity.retention_offers(TODAY)
    assert (offer.offers, offer.accepted, offer.save_rate) == (2, 1, 0.5)


def test_another_coupon_during_the_visit_is_not_the_offer(client: Client) -> None:
    _visit("cus_promo", flow_type="subscription_cancel", retention_coupon="WINBACK25")
    subscription = StripeSubscriptionFactory(customer_id="cus_promo")
    event = _discount_created("cus_promo", subscription.stripe_id, "SPRING10")

    calls = _post_recording(client, event)

    assert calls == {}
    row = WebhookEvent.objects.get(stripe_id=event["id"])
    assert (row.change_kind, row.portal_session_id) == ("", None)
    assert activity.retention_offers(TODAY)[0].accepted == 0


def test_a_coupon_on_a_subscription_that_still_cancels_is_no_save(client: Client) -> None:
    _visit("cus_both", flow_type="subscription_cancel", retention_coupon="WINBACK25")
    subscription = StripeSubscriptionFactory(customer_id="cus_both", cancel_at_period_end=True)

    calls = _post_recording(
        client, _discount_created("cus_both", subscription.stripe_id, "WINBACK25")
    )

    assert calls == {}
    assert WebhookEvent.objects.get().change_kind == ""


def test_an_accepted_offer_in_task_mode(client: Client) -> None:
    visit = _visit("cus_task", flow_type="subscription_cancel", retention_coupon="WINBACK25")
    subscription = StripeSubscriptionFactory(customer_id="cus_task")
    event = _discount_created("cus_task", subscription.stripe_id, "WINBACK25")
    recorder = Recorder()
    task_mode = {"API_KEY": "sk_test_x", "WEBHOOK_SECRETS": [SECRET], "WEBHOOK_PROCESSING": "task"}
    dummy = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    with (
        override_settings(STRIPE_PORTAL=task_mode, TASKS=dummy),
        connected(signals.retention_offer_accepted, recorder),
    ):
        assert post_signed(client, event).status_code == 200
        assert process_webhook_event.call(event["id"]) == "processed"

    (call,) = recorder.calls
    assert (call["portal_session"], call["coupon"]) == (visit, "WINBACK25")
    row = WebhookEvent.objects.get()
    assert (row.change_kind, row.portal_session_id) == ("retention_accepted", visit.pk)


def test_discount_events_are_subscribed_to() -> None:
    for event_type in (
        "customer.discount.created",
        "customer.discount.updated",
        "customer.discount.deleted",
    ):
        assert event_type in HANDLED_EVENTS
        assert event_type in contract.event_types()


# --- pauses -----------------------------------------------------------------------------


def test_pause_collection_set_and_cleared_on_an_update(client: Client) -> None:
    resumes = int(time.time()) + 30 * 86400
    pause = {"behavior": "void", "resumes_at": resumes}
    paused_sub = so.subscription(customer="cus_p", pause_collection=pause)
    paused = so.event(
        "customer.subscription.updated", paused_sub, previous_attributes={"pause_collection": None}
    )

    calls = _post_recording(client, paused)

    (call,) = calls["subscription_paused"]
    assert call["resumes_at"] == dt.datetime.fromtimestamp(resumes, tz=dt.UTC)
    assert call["subscription"].pause_collection == pause
    assert StripeSubscription.objects.get().pause_collection == pause
    assert WebhookEvent.objects.get(stripe_id=paused["id"]).change_kind == "paused"

    resumed_sub = so.subscription(id=paused_sub["id"], customer="cus_p", pause_collection=None)
    resumed = so.event(
        "customer.subscription.updated",
        resumed_sub,
        previous_attributes={"pause_collection": pause},
        created=paused["created"] + 1,
    )
    calls = _post_recording(client, resumed)

    assert calls["subscription_resumed"][0]["resumes_at"] is None
    assert StripeSubscription.objects.get().pause_collection is None
    assert WebhookEvent.objects.get(stripe_id=resumed["id"]).change_kind == "resumed"


def test_an_open_ended_pause_has_no_resume_date(client: Client) -> None:
    pause = {"behavior": "keep_as_draft", "resumes_at": None}
    sub = so.subscription(pause_collection=pause)
    event = so.event(
        "customer.subscription.updated", sub, previous_attributes={"pause_collection": None}
    )

    assert _post_recording(client, event)["subscription_paused"][0]["resumes_at"] is None


def test_a_changed_resume_date_is_no_new_pause(client: Client) -> None:
    sub = so.subscription(
        pause_collection={"behavior": "void", "resumes_at": int(time.time()) + 99}
    )
    event = so.event(
        "customer.subscription.updated",
        sub,
        previous_attributes={"pause_collection": {"behavior": "void", "resumes_at": None}},
    )
    assert _post_recording(client, event) == {}


@pytest.mark.parametrize(
    ("event_type", "status", "signal_name", "kind"),
    [
        ("customer.subscription.paused", "paused", "subscription_paused", "paused"),
        ("customer.subscription.resumed", "active", "subscription_resumed", "resumed"),
    ],
)
def test_the_status_form_of_a_pause(
    client: Client, event_type: str, status: str, signal_name: str, kind: str
) -> None:
    sub = so.subscription(customer="cus_ps", status=status, pause_collection=None)
    event = so.event(event_type, sub)

    calls = _post_recording(client, event)

    assert list(calls) == [signal_name]
    assert calls[signal_name][0]["resumes_at"] is None
    assert calls[signal_name][0]["subscription"].status == status
    assert WebhookEvent.objects.get().change_kind == kind
