"""The domain signals a payload calls for, each from a real-shaped event, and no API call."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import responses
from django.test import Client, override_settings
from django.utils import timezone

from django_stripe_portal import signals
from django_stripe_portal.models import PortalSession, StripeSubscription, WebhookEvent
from django_stripe_portal.webhooks.linking import find_visit_id
from tests import stripe_objects as so
from tests.factories import PortalConfigurationFactory, PortalSessionFactory, UserFactory
from tests.webhook_support import SECRET, Recorder, post_signed

pytestmark = pytest.mark.django_db

DOMAIN_SIGNALS = {
    name: signal
    for name, signal in vars(signals).items()
    if isinstance(signal, signals.Signal) and name != "webhook_received"
}


def _post_recording(client: Client, event: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Post ``event`` and return the calls each domain signal received."""
    recorders = {name: Recorder() for name in DOMAIN_SIGNALS}
    for name, recorder in recorders.items():
        DOMAIN_SIGNALS[name].connect(recorder, weak=False)
    try:
        response = post_signed(client, event)
    finally:
        for name, recorder in recorders.items():
            DOMAIN_SIGNALS[name].disconnect(recorder)
    assert response.status_code == 200, response.content
    return {name: rec.calls for name, rec in recorders.items() if rec.calls}


def _updated(sub: dict[str, Any], previous: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return so.event("customer.subscription.updated", sub, previous_attributes=previous, **kw)


def _items_list(*items: tuple[str, int]) -> dict[str, Any]:
    return {"object": "list", "data": [so.subscription_item(p, q) for p, q in items]}


def _row(event: dict[str, Any]) -> WebhookEvent:
    return WebhookEvent.objects.get(stripe_id=event["id"])


def test_plan_change(client: Client) -> None:
    sub = so.subscription(customer="cus_d", items=[("price_pro", 1)])
    event = _updated(sub, {"items": _items_list(("price_basic", 1))})
    calls = _post_recording(client, event)
    assert list(calls) == ["subscription_plan_changed"]
    call = calls["subscription_plan_changed"][0]
    assert (call["previous_prices"], call["new_prices"]) == (["price_basic"], ["price_pro"])
    assert isinstance(call["subscription"], StripeSubscription)
    assert call["subscription"].pk == StripeSubscription.objects.get(stripe_id=sub["id"]).pk
    assert call["event"] == _row(event)
    assert call["data"] == sub
    assert _row(event).change_kind == "plan_changed"


def test_quantity_change(client: Client) -> None:
    sub = so.subscription(items=[("price_seat", 5)])
    event = _updated(sub, {"items": _items_list(("price_seat", 2))})
    calls = _post_recording(client, event)
    assert list(calls) == ["subscription_quantity_changed"]
    call = calls["subscription_quantity_changed"][0]
    assert (call["previous_quantity"], call["new_quantity"]) == (2, 5)
    assert _row(event).change_kind == "quantity_changed"


def test_plan_and_quantity_change_together_keep_the_first_kind(client: Client) -> None:
    sub = so.subscription(items=[("price_pro", 3)])
    event = _updated(sub, {"items": _items_list(("price_basic", 1))})
    calls = _post_recording(client, event)
    assert set(calls) == {"subscription_plan_changed", "subscription_quantity_changed"}
    assert _row(event).change_kind == "plan_changed"


def test_legacy_plan_and_quantity_shape(client: Client) -> None:
    sub = so.subscription(items=[("price_pro", 4)])
    event = _updated(sub, {"plan": {"id": "price_basic", "object": "plan"}, "quantity": 1})
    calls = _post_recording(client, event)
    assert calls["subscription_plan_changed"][0]["previous_prices"] == ["price_basic"]
    assert calls["subscription_quantity_changed"][0]["previous_quantity"] == 1


DETAILS = {"reason": "cancellation_requested", "feedback": "too_expensive", "comment": "pricey"}


def test_cancel_at_period_end_schedules_a_cancellation_with_details(client: Client) -> None:
    end = int(time_now()) + 86400
    sub = so.subscription(cancel_at_period_end=True, cancel_at=end, cancellation_details=DETAILS)
    previous = {
        "cancel_at": None,
        "cancel_at_period_end": False,
        "cancellation_details": {"reason": None, "feedback": None, "comment": None},
    }
    event = _updated(sub, previous)
    calls = _post_recording(client, event)
    assert list(calls) == ["subscription_cancel_scheduled"]
    call = calls["subscription_cancel_scheduled"][0]
    assert call["cancellation_details"] == {**DETAILS, "feedback_option": None}
    assert call["subscription"].cancel_at_period_end is True
    assert call["stale"] is False
    assert _row(event).change_kind == "cancel_scheduled"
    stored = StripeSubscription.objects.get(stripe_id=sub["id"])
    assert stored.cancellation_details == DETAILS
    assert stored.cancel_at == dt.datetime.fromtimestamp(end, tz=dt.UTC)


def test_cancel_at_alone_schedules_a_cancellation(client: Client) -> None:
    sub = so.subscription(cancel_at=int(time_now()) + 3600)
    calls = _post_recording(client, _updated(sub, {"cancel_at": None}))
    assert list(calls) == ["subscription_cancel_scheduled"]


def test_moving_a_scheduled_cancellation_is_not_a_new_one(client: Client) -> None:
    sub = so.subscription(cancel_at=int(time_now()) + 7200)
    event = _updated(sub, {"cancel_at": int(time_now()) + 3600})
    assert _post_recording(client, event) == {}
    assert _row(event).change_kind == ""


def test_unsetting_cancel_at_period_end_is_a_reactivation(client: Client) -> None:
    sub = so.subscription(cancel_at_period_end=False, cancel_at=None)
    event = _updated(sub, {"cancel_at_period_end": True, "cancel_at": int(time_now()) + 60})
    calls = _post_recording(client, event)
    assert list(calls) == ["subscription_reactivated"]
    assert calls["subscription_reactivated"][0]["subscription"].stripe_id == sub["id"]
    assert _row(event).change_kind == "reactivated"


def test_deleted_is_canceled_with_details(client: Client) -> None:
    sub = so.subscription(
        status="canceled", canceled_at=int(time_now()), cancellation_details=DETAILS
    )
    event = so.event("customer.subscription.deleted", sub)
    calls = _post_recording(client, event)
    assert list(calls) == ["subscription_canceled"]
    details = calls["subscription_canceled"][0]["cancellation_details"]
    assert details == {**DETAILS, "feedback_option": None}
    assert calls["subscription_canceled"][0]["subscription"].status == "canceled"
    assert _row(event).change_kind == "canceled"


def test_default_payment_method_change_on_customer_updated(client: Client) -> None:
    customer = so.customer(id="cus_pm")
    customer["invoice_settings"]["default_payment_method"] = "pm_new"
    previous = {"invoice_settings": {"default_payment_method": "pm_old"}}
    event = so.event("customer.updated", customer, previous_attributes=previous)
    calls = _post_recording(client, event)
    assert list(calls) == ["payment_method_changed"]
    assert calls["payment_method_changed"][0]["customer_id"] == "cus_pm"
    row = _row(event)
    assert (row.change_kind, row.customer_id) == ("payment_method_changed", "cus_pm")


def test_other_invoice_settings_change_is_not_a_payment_method_change(client: Client) -> None:
    customer = so.customer(id="cus_pm")
    previous = {"invoice_settings": {"footer": "old footer"}}
    event = so.event("customer.updated", customer, previous_attributes=previous)
    assert _post_recording(client, event) == {}


def test_address_change_is_a_details_change(client: Client) -> None:
    customer = so.customer(id="cus_addr", email="new@example.com")
    previous = {"email": "old@example.com", "address": None}
    event = so.event("customer.updated", customer, previous_attributes=previous)
    calls = _post_recording(client, event)
    assert list(calls) == ["customer_details_changed"]
    call = calls["customer_details_changed"][0]
    assert (call["customer_id"], call["previous_attributes"]) == ("cus_addr", previous)
    assert _row(event).change_kind == "customer_details_changed"


def test_payment_method_and_details_together(client: Client) -> None:
    customer = so.customer(id="cus_both")
    customer["invoice_settings"]["default_payment_method"] = "pm_new"
    previous = {"invoice_settings": {"default_payment_method": None}, "phone": "+100"}
    event = so.event("customer.updated", customer, previous_attributes=previous)
    calls = _post_recording(client, event)
    assert set(calls) == {"payment_method_changed", "customer_details_changed"}
    assert _row(event).change_kind == "payment_method_changed"


def test_tax_id_created_is_a_details_change(client: Client) -> None:
    tax_id = {
        "id": "txi_1",
        "object": "tax_id",
        "customer": "cus_tax",
        "type": "eu_vat",
        "value": "DE123456789",
        "country": "DE",
        "livemode": False,
        "created": 1,
    }
    calls = _post_recording(client, so.event("customer.tax_id.created", tax_id))
    assert calls["customer_details_changed"][0]["customer_id"] == "cus_tax"
    assert calls["customer_details_changed"][0]["previous_attributes"] == {}


def _tax_id(**fields: Any) -> dict[str, Any]:
    return {
        "id": "txi_self",
        "object": "tax_id",
        "type": "eu_vat",
        "value": "DE123456789",
        "country": "DE",
        "livemode": False,
        "created": 1,
        **fields,
    }


@pytest.mark.parametrize(
    "event_type", ["customer.tax_id.created", "customer.tax_id.updated", "customer.tax_id.deleted"]
)
@pytest.mark.parametrize(
    "owner",
    [
        {"type": "self", "account": None, "application": None, "customer": None},
        {"type": "account", "account": "acct_other", "application": None, "customer": None},
        {"type": "application", "account": None, "application": "ca_app", "customer": None},
    ],
    ids=["self", "account", "application"],
)
def test_a_tax_id_no_customer_owns_is_nobodys_details_change(
    client: Client, event_type: str, owner: dict[str, Any]
) -> None:
    """Issue 22, item 8: the account's own tax id (owner.type "self") sent
    customer_details_changed with an empty customer id."""
    event = so.event(event_type, _tax_id(customer=None, owner=owner))
    assert _post_recording(client, event) == {}
    row = _row(event)
    assert (row.status, row.customer_id, row.change_kind) == ("processed", "", "")


def test_a_customers_tax_id_named_by_its_owner_is_that_customers_change(client: Client) -> None:
    owner = {"type": "customer", "account": None, "application": None, "customer": "cus_tax"}
    event = so.event("customer.tax_id.created", _tax_id(customer="cus_tax", owner=owner))
    calls = _post_recording(client, event)
    assert [call["customer_id"] for call in calls["customer_details_changed"]] == ["cus_tax"]


def test_a_detached_method_naming_no_customer_signals_nothing(client: Client) -> None:
    event = so.event("payment_method.detached", so.payment_method(customer=None))
    assert _post_recording(client, event) == {}


@pytest.mark.parametrize("event_type", ["payment_method.attached", "payment_method.detached"])
def test_payment_method_attached_and_detached(client: Client, event_type: str) -> None:
    attached = event_type.endswith("attached") and not event_type.endswith("detached")
    pm = so.payment_method(customer="cus_card" if attached else None)
    previous = None if attached else {"customer": "cus_card"}
    event = so.event(event_type, pm, previous_attributes=previous)
    calls = _post_recording(client, event)
    assert calls["payment_method_changed"][0]["customer_id"] == "cus_card"
    assert _row(event).customer_id == "cus_card"


def test_foreign_portal_session_is_recorded_from_the_webhook(client: Client) -> None:
    config = PortalConfigurationFactory(stripe_id="bpc_known")
    session = so.portal_session(customer="cus_elsewhere", locale="fr")
    session["configuration"] = "bpc_known"
    event = so.event("billing_portal.session.created", session)
    calls = _post_recording(client, event)
    row = PortalSession.objects.get(stripe_id=session["id"])
    assert (row.source, row.customer_id, row.user, row.locale) == (
        "webhook",
        "cus_elsewhere",
        None,
        "fr",
    )
    assert row.configuration == config
    assert row.created_at == dt.datetime.fromtimestamp(session["created"], tz=dt.UTC)
    (call,) = calls["portal_session_created"]
    assert call["sender"] is PortalSession
    assert call["portal_session"] == row
    assert "url" not in call["data"] or call["data"]["url"] == "[redacted]"


def test_app_session_is_not_overwritten_and_not_signalled_again(client: Client) -> None:
    user = UserFactory()
    app_row = PortalSessionFactory(user=user, return_to="/account/", customer_id="cus_app")
    session = so.portal_session(id=app_row.stripe_id, customer="cus_app")
    calls = _post_recording(client, so.event("billing_portal.session.created", session))
    assert "portal_session_created" not in calls
    app_row.refresh_from_db()
    assert (app_row.source, app_row.user, app_row.return_to) == ("app", user, "/account/")


def test_configuration_update_reports_drift(client: Client) -> None:
    declared = {"features": {"invoice_history": {"enabled": True}}}
    config_obj = so.portal_configuration(metadata={"django_stripe_portal_key": "default"})
    config_obj["features"]["invoice_history"] = {"enabled": False}
    row = PortalConfigurationFactory(key="default", stripe_id=config_obj["id"])
    event = so.event(
        "billing_portal.configuration.updated",
        config_obj,
        previous_attributes={"features": {"invoice_history": {"enabled": True}}},
    )
    with override_settings(
        STRIPE_PORTAL={
            "API_KEY": "sk_test_x",
            "WEBHOOK_SECRETS": [SECRET],
            "CONFIGURATIONS": {"default": declared},
        }
    ):
        calls = _post_recording(client, event)
    (call,) = calls["portal_configuration_changed"]
    assert (call["configuration"], call["drifted"]) == (row, True)


def test_configuration_not_created_by_the_app_is_not_drift(client: Client) -> None:
    config_obj = so.portal_configuration(metadata={})
    calls = _post_recording(client, so.event("billing_portal.configuration.created", config_obj))
    (call,) = calls["portal_configuration_changed"]
    assert (call["configuration"], call["drifted"]) == (None, False)


def test_handling_makes_no_stripe_call(client: Client, stripe_mock: responses.RequestsMock) -> None:
    sub = so.subscription(cancel_at_period_end=True)
    _post_recording(client, _updated(sub, {"cancel_at_period_end": False}))
    _post_recording(client, so.event("billing_portal.session.created", so.portal_session()))
    assert len(stripe_mock.calls) == 0


def time_now() -> float:
    return timezone.now().timestamp()


class TestVisitLinking:
    """A change event is linked to the visit whose window covers its ``created``."""

    def _cancel_event(self, customer: str, created: int) -> dict[str, Any]:
        sub = so.subscription(customer=customer, cancel_at_period_end=True)
        return _updated(sub, {"cancel_at_period_end": False}, created=created)

    def test_event_during_an_open_visit_is_linked_to_the_latest_one(self, client: Client) -> None:
        now = timezone.now()
        PortalSessionFactory(customer_id="cus_v", created_at=now - dt.timedelta(minutes=30))
        latest = PortalSessionFactory(customer_id="cus_v", created_at=now - dt.timedelta(minutes=5))
        PortalSessionFactory(customer_id="cus_other", created_at=now - dt.timedelta(minutes=1))
        event = self._cancel_event("cus_v", int(now.timestamp()))
        post_signed(client, event)
        assert _row(event).portal_session == latest

    def test_event_after_the_user_came_back_is_not_linked(self, client: Client) -> None:
        now = timezone.now()
        PortalSessionFactory(
            customer_id="cus_v",
            created_at=now - dt.timedelta(minutes=5),
            returned_at=now - dt.timedelta(minutes=2),
        )
        event = self._cancel_event("cus_v", int(now.timestamp()))
        post_signed(client, event)
        assert _row(event).portal_session is None

    @pytest.mark.parametrize("before", [0, 0.9, 2])
    def test_a_return_recorded_up_to_2s_before_the_change_still_links(
        self, client: Client, before: float
    ) -> None:
        # Redirected back within a second of the change, by a server whose clock is
        # behind Stripe's: the return is recorded (a little) before Stripe's `created`.
        created = int(timezone.now().timestamp())
        at = dt.datetime.fromtimestamp(created, tz=dt.UTC)
        visit = PortalSessionFactory(
            customer_id="cus_v",
            created_at=at - dt.timedelta(minutes=3),
            returned_at=at - dt.timedelta(seconds=before),
        )
        event = self._cancel_event("cus_v", created)
        post_signed(client, event)
        assert _row(event).portal_session == visit
        # Reprocessing (a replay) finds the same visit.
        assert find_visit_id("cus_v", at, 3600) == visit.pk

    def test_a_return_3s_before_the_change_ended_the_visit(self, client: Client) -> None:
        created = int(timezone.now().timestamp())
        at = dt.datetime.fromtimestamp(created, tz=dt.UTC)
        PortalSessionFactory(
            customer_id="cus_v",
            created_at=at - dt.timedelta(minutes=3),
            returned_at=at - dt.timedelta(seconds=3),
        )
        event = self._cancel_event("cus_v", created)
        post_signed(client, event)
        assert _row(event).portal_session is None

    def test_event_beyond_the_visit_window_is_not_linked(self, client: Client) -> None:
        now = timezone.now()
        PortalSessionFactory(customer_id="cus_v", created_at=now - dt.timedelta(minutes=61))
        event = self._cancel_event("cus_v", int(now.timestamp()))
        post_signed(client, event)
        assert _row(event).portal_session is None

    def test_event_that_changed_nothing_is_not_linked(self, client: Client) -> None:
        now = timezone.now()
        PortalSessionFactory(customer_id="cus_v", created_at=now - dt.timedelta(minutes=5))
        event = _updated(so.subscription(customer="cus_v"), {}, created=int(now.timestamp()))
        post_signed(client, event)
        assert (_row(event).portal_session, _row(event).change_kind) == (None, "")

    def test_insert_path_and_replay_path_link_the_same_visit(self, client: Client) -> None:
        from django_stripe_portal.webhooks.linking import _visit_sql
        from django_stripe_portal.webhooks.process import process_stored_event

        assert _visit_sql("default") is not None, "the precompiled subquery is in use"
        now = timezone.now()
        PortalSessionFactory(customer_id="cus_v", created_at=now - dt.timedelta(minutes=20))
        latest = PortalSessionFactory(customer_id="cus_v", created_at=now - dt.timedelta(minutes=2))
        PortalSessionFactory(customer_id="cus_v", created_at=now + dt.timedelta(minutes=5))
        event = self._cancel_event("cus_v", int(now.timestamp()))
        post_signed(client, event)
        assert _row(event).portal_session == latest
        WebhookEvent.objects.filter(stripe_id=event["id"]).update(portal_session=None)
        process_stored_event(event["id"], nowait=False, statuses=["processed"])
        assert _row(event).portal_session == latest
