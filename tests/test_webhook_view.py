"""The webhook endpoint: refusals, exactly-once storage, failure handling."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from django.db import connection
from django.test import Client, override_settings

from django_stripe_portal import signals
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from django_stripe_portal.testing import sign_payload
from tests import stripe_objects as so
from tests.factories import StripeSubscriptionFactory, WebhookEventFactory
from tests.webhook_support import SECRET, Recorder, connected, post_raw, post_signed

pytestmark = pytest.mark.django_db

Status = WebhookEvent.Status


def _sub_event(**kwargs: Any) -> dict[str, Any]:
    return so.event(
        "customer.subscription.updated", so.subscription(**kwargs), previous_attributes={}
    )


def test_valid_event_is_stored_processed_and_dispatched(client: Client) -> None:
    event = _sub_event(customer="cus_view")
    recorder = Recorder()
    with connected(signals.webhook_received, recorder):
        response = post_signed(client, event)
    assert response.status_code == 200
    row = WebhookEvent.objects.get(stripe_id=event["id"])
    assert row.status == Status.PROCESSED
    assert (row.type, row.customer_id, row.attempts) == (
        "customer.subscription.updated",
        "cus_view",
        1,
    )
    assert row.api_version == so.API_VERSION
    assert row.payload == event
    assert row.processed_at is not None
    assert len(recorder.calls) == 1
    call = recorder.calls[0]
    assert call["sender"] is WebhookEvent
    assert call["event"].pk == row.pk
    assert call["data"] == event["data"]["object"]


def _body_and_header(event: dict[str, Any], secret: str = SECRET, **kw: Any) -> tuple[str, str]:
    body = json.dumps(event)
    return body, sign_payload(body, secret, **kw)


def _refusals() -> dict[str, tuple[str, str | None]]:
    """Built when the test runs: signed timestamps are relative to now."""
    event = _sub_event()
    body, header = _body_and_header(event)
    ts = int(time.time())
    other_mode = {**event, "livemode": True}
    not_event = {**event, "object": "customer"}
    return {
        "missing header": (body, None),
        "empty header": (body, ""),
        "malformed header": (body, "garbage"),
        "no v1": (body, f"t={ts},v0=abc"),
        "no timestamp": (body, header.split(",", 1)[1]),
        "wrong secret": _body_and_header(event, "whsec_other"),
        "tampered body": (body.replace("cus_test", "cus_evil"), header),
        "too old": _body_and_header(event, timestamp=ts - 301),
        "too far in the future": _body_and_header(event, timestamp=ts + 301),
        "not json": ("{not json", sign_payload("{not json", SECRET)),
        "not an event": _body_and_header(not_event),
        "list body": ("[]", sign_payload("[]", SECRET)),
        "other mode": _body_and_header(other_mode),
    }


_REFUSAL_CASES = list(_refusals())


@pytest.mark.parametrize("case", _REFUSAL_CASES)
def test_refusals_answer_400_and_store_nothing(
    client: Client, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    body, header = _refusals()[case]
    recorder = Recorder()
    with connected(signals.webhook_received, recorder), caplog.at_level(logging.WARNING):
        response = post_raw(client, body, header)
    assert response.status_code == 400, case
    assert not WebhookEvent.objects.exists()
    assert recorder.calls == []
    refusal_logs = [r for r in caplog.records if "refused" in r.getMessage()]
    assert refusal_logs, "every refusal is logged"
    for record in refusal_logs:
        assert SECRET not in record.getMessage()
        assert body[:40] not in record.getMessage()


def test_wrong_secret_log_names_the_usual_mix_up(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    body, header = _body_and_header(_sub_event(), "whsec_from_stripe_listen")
    with caplog.at_level(logging.WARNING):
        assert post_raw(client, body, header).status_code == 400
    assert "stripe listen" in caplog.text
    assert "whsec_from_stripe_listen" not in caplog.text


def test_body_over_the_limit_is_refused_before_parsing(client: Client) -> None:
    event = _sub_event(metadata={"padding": "x" * 2000})
    with override_settings(
        STRIPE_PORTAL={
            "API_KEY": "sk_test_x",
            "WEBHOOK_SECRETS": [SECRET],
            "WEBHOOK_MAX_BODY_BYTES": 1000,
        }
    ):
        response = post_signed(client, event)
    assert response.status_code == 400
    assert response.content == b"body too large"
    assert not WebhookEvent.objects.exists()


def test_any_configured_secret_and_any_v1_value_is_accepted(client: Client) -> None:
    event = _sub_event()
    body = json.dumps(event)
    ts = int(time.time())
    good = sign_payload(body, "whsec_new", timestamp=ts).split("v1=")[1]
    header = f"t={ts},v1={'0' * 64},v1={good}"
    with override_settings(
        STRIPE_PORTAL={"API_KEY": "sk_test_x", "WEBHOOK_SECRETS": ["whsec_old", "whsec_new"]}
    ):
        assert post_raw(client, body, header).status_code == 200
    assert WebhookEvent.objects.filter(stripe_id=event["id"]).exists()


def test_livemode_setting_refuses_test_events_on_a_live_site(client: Client) -> None:
    with override_settings(STRIPE_PORTAL={"API_KEY": "sk_live_x", "WEBHOOK_SECRETS": [SECRET]}):
        response = post_signed(client, _sub_event())
    assert response.status_code == 400
    assert response.content == b"test-mode event refused"


def test_get_is_not_allowed(client: Client) -> None:
    assert client.get("/billing/webhook/").status_code == 405


def test_view_is_csrf_exempt_and_not_bounced_by_login_required(client: Client) -> None:
    strict = Client(enforce_csrf_checks=True)
    middleware = [
        *__import__("django.conf").conf.settings.MIDDLEWARE,
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    with override_settings(MIDDLEWARE=middleware):
        assert post_signed(strict, _sub_event()).status_code == 200


def test_redelivery_of_a_processed_event_is_not_dispatched_again(client: Client) -> None:
    event = _sub_event()
    recorder = Recorder()
    with connected(signals.webhook_received, recorder):
        assert post_signed(client, event).status_code == 200
        response = post_signed(client, event)
    assert response.status_code == 200
    assert response.content == b"duplicate"
    assert len(recorder.calls) == 1
    assert WebhookEvent.objects.get().attempts == 1


def test_failing_receiver_gives_500_failed_row_and_other_receivers_still_run(
    client: Client,
) -> None:
    event = _sub_event()
    failing = Recorder(raises=RuntimeError("mail server down"))
    after = Recorder()
    with connected(signals.webhook_received, failing), connected(signals.webhook_received, after):
        response = post_signed(client, event)
    assert response.status_code == 500
    assert len(after.calls) == 1
    row = WebhookEvent.objects.get(stripe_id=event["id"])
    assert row.status == Status.FAILED
    assert row.attempts == 1
    assert "RuntimeError: mail server down" in row.last_error
    assert "webhook_received" in row.last_error
    assert row.processed_at is None
    # The subscription state the event carries is still written.
    assert StripeSubscription.objects.filter(stripe_id=event["data"]["object"]["id"]).exists()


def test_redelivery_of_a_failed_event_is_processed_again(client: Client) -> None:
    event = _sub_event()
    failing = Recorder(raises=RuntimeError("boom"))
    with connected(signals.webhook_received, failing):
        assert post_signed(client, event).status_code == 500
    recorder = Recorder()
    with connected(signals.webhook_received, recorder):
        assert post_signed(client, event).status_code == 200
    row = WebhookEvent.objects.get(stripe_id=event["id"])
    assert (row.status, row.attempts, row.last_error) == (Status.PROCESSED, 2, "")
    assert len(recorder.calls) == 1


def test_redelivery_of_a_pending_event_is_processed_now(client: Client) -> None:
    event = _sub_event()
    WebhookEventFactory(stripe_id=event["id"], payload=event, status=Status.PENDING, attempts=1)
    recorder = Recorder()
    with connected(signals.webhook_received, recorder):
        assert post_signed(client, event).status_code == 200
    assert len(recorder.calls) == 1
    row = WebhookEvent.objects.get()
    assert (row.status, row.attempts) == (Status.PROCESSED, 2)


def test_database_error_in_one_receiver_does_not_poison_the_others(client: Client) -> None:
    def broken_sql(sender: Any, **kwargs: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    def writes(sender: Any, **kwargs: Any) -> None:
        StripeSubscriptionFactory(stripe_id="sub_written_by_receiver")

    event = _sub_event()
    with (
        connected(signals.webhook_received, broken_sql),
        connected(signals.webhook_received, writes),
    ):
        assert post_signed(client, event).status_code == 500
    assert StripeSubscription.objects.filter(stripe_id="sub_written_by_receiver").exists()
    assert WebhookEvent.objects.get().status == Status.FAILED


def test_unknown_type_is_stored_ignored(client: Client) -> None:
    event = so.event("customer.created", so.customer(id="cus_unhandled"))
    response = post_signed(client, event)
    assert (response.status_code, response.content) == (200, b"ignored")
    assert WebhookEvent.objects.get().status == Status.IGNORED


def test_unknown_type_with_a_per_type_receiver_is_processed(client: Client) -> None:
    event = so.event("customer.created", so.customer(id="cus_unhandled"))
    recorder = Recorder()
    with connected(signals.event_signal("customer.created"), recorder):
        assert post_signed(client, event).status_code == 200
    assert WebhookEvent.objects.get().status == Status.PROCESSED
    assert recorder.calls[0]["data"] == event["data"]["object"]


def test_on_decorator_receives_its_type_only(client: Client) -> None:
    seen: list[str] = []

    @signals.on("customer.subscription.deleted", weak=False)
    def on_deleted(sender: Any, event: WebhookEvent, data: dict[str, Any], **kwargs: Any) -> None:
        seen.append(event.type)

    try:
        post_signed(client, _sub_event())
        post_signed(
            client, so.event("customer.subscription.deleted", so.subscription(status="canceled"))
        )
    finally:
        signals.event_signal("customer.subscription.deleted").disconnect(on_deleted)
    assert seen == ["customer.subscription.deleted"]


def test_failed_row_is_kept_under_atomic_requests(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    failing = Recorder(raises=RuntimeError("boom"))
    with connected(signals.webhook_received, failing):
        assert post_signed(client, _sub_event()).status_code == 500
    assert WebhookEvent.objects.get().status == Status.FAILED


def test_portal_session_url_is_redacted_before_storage(client: Client) -> None:
    session = so.portal_session(url="https://billing.stripe.com/p/session/test_SECRETBEARER")
    event = so.event("billing_portal.session.created", session)
    assert post_signed(client, event).status_code == 200
    row = WebhookEvent.objects.get()
    assert row.payload["data"]["object"]["url"] == "[redacted]"
    assert "SECRETBEARER" not in json.dumps(row.payload)


def test_other_api_version_is_recorded_and_warned_once(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            event = so.event(
                "customer.subscription.updated", so.subscription(), api_version="2019-01-01"
            )
            assert post_signed(client, event).status_code == 200
    assert set(WebhookEvent.objects.values_list("api_version", flat=True)) == {"2019-01-01"}
    assert caplog.text.count("API version 2019-01-01") == 1


@pytest.mark.off_contract
def test_signed_event_whose_object_cannot_be_read_is_refused_not_a_500(client: Client) -> None:
    sub = so.subscription()
    del sub["id"]
    event = so.event("customer.subscription.updated", sub)
    response = post_signed(client, event)
    assert (response.status_code, response.content) == (400, b"event payload not understood")
    assert not WebhookEvent.objects.exists()


def test_view_opts_out_of_atomic_requests() -> None:
    from django_stripe_portal.views.webhook import stripe_webhook

    assert "default" in stripe_webhook._non_atomic_requests  # type: ignore[attr-defined]


def test_async_receivers_are_called(client: Client) -> None:
    seen: list[str] = []

    async def async_receiver(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        seen.append(event.stripe_id)

    event = _sub_event()
    with connected(signals.webhook_received, async_receiver):
        assert post_signed(client, event).status_code == 200
    assert seen == [event["id"]]


def test_nul_characters_are_replaced_so_postgresql_can_store_the_event(client: Client) -> None:
    customer = so.customer(id="cus_nul", name="Ada\u0000Lovelace")
    event = so.event("customer.updated", customer, previous_attributes={"name": "Ada"})
    assert "\\u0000" in json.dumps(event)
    assert post_signed(client, event).status_code == 200
    stored = WebhookEvent.objects.get(stripe_id=event["id"])
    assert stored.payload["data"]["object"]["name"] == "Ada\ufffdLovelace"
    assert stored.change_kind == "customer_details_changed"


def test_non_json_constants_are_refused(client: Client) -> None:
    body = json.dumps(_sub_event()).replace('"pending_webhooks": 1', '"pending_webhooks": NaN')
    assert "NaN" in body
    response = post_raw(client, body, sign_payload(body, SECRET))
    assert (response.status_code, response.content) == (400, b"body is not JSON")


def test_session_with_an_impossible_customer_is_refused(client: Client) -> None:
    event = so.event("billing_portal.session.created", so.portal_session(customer="c" * 300))
    assert post_signed(client, event).status_code == 400
    assert not WebhookEvent.objects.exists()


def test_a_failing_receiver_loses_only_its_own_writes(client: Client) -> None:
    def writes_then_raises(sender: Any, **kwargs: Any) -> None:
        StripeSubscriptionFactory(stripe_id="sub_half_done")
        raise RuntimeError("after writing")

    def writes(sender: Any, **kwargs: Any) -> None:
        StripeSubscriptionFactory(stripe_id="sub_kept")

    event = _sub_event()
    with (
        connected(signals.webhook_received, writes_then_raises),
        connected(signals.webhook_received, writes),
    ):
        assert post_signed(client, event).status_code == 500
    stored = set(StripeSubscription.objects.values_list("stripe_id", flat=True))
    assert "sub_half_done" not in stored
    assert "sub_kept" in stored
    row = WebhookEvent.objects.get()
    assert row.status == Status.FAILED
    assert "after writing" in row.last_error
