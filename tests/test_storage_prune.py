"""``prune_stripe_events``: old finished payloads emptied in batches; rows, columns,
exactly-once, recovery and every figure unchanged; a pruned event's replay says so."""

from __future__ import annotations

import datetime as dt
import io
import time
from typing import Any

import pytest
from django.contrib.admin.sites import site
from django.core.management import call_command
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone

from django_stripe_portal import activity
from django_stripe_portal.admin.sessions import LinkedChangeInline
from django_stripe_portal.models import PortalSession, WebhookEvent
from django_stripe_portal.signals import subscription_cancel_scheduled
from django_stripe_portal.storage import prune as prune_module
from django_stripe_portal.storage.columns import backfill_payload_columns
from django_stripe_portal.storage.prune import prune_payloads
from django_stripe_portal.storage.pruned import PRUNED_PAYLOAD, is_pruned
from django_stripe_portal.webhooks.process import Outcome, process_stored_event
from tests import stripe_objects as so
from tests.factories import PortalConfigurationFactory, PortalSessionFactory, UserFactory
from tests.webhook_support import Recorder, connected, post_signed

pytestmark = pytest.mark.django_db(transaction=True)

TODAY = activity.ActivityRange.last_days(2)
OPTION = so.feedback_option(id="bfo_setup", description="Too hard to set up")
FUTURE = timezone.now() + dt.timedelta(days=1)  # a cutoff that makes every stored event old


def _subscription_event(customer: str, event_type: str, **fields: Any) -> dict[str, Any]:
    subscription = so.subscription(customer=customer, **fields)
    previous = {"cancel_at_period_end": False} if fields.get("cancel_at_period_end") else {}
    return so.event(event_type, subscription, previous_attributes=previous or None)


def _cancel(customer: str, **details: Any) -> dict[str, Any]:
    return _subscription_event(
        customer,
        "customer.subscription.updated",
        cancel_at_period_end=True,
        canceled_at=int(time.time()),
        cancellation_details={"reason": "cancellation_requested", **details},
    )


def _visit(customer: str, minutes_ago: float, **fields: Any) -> PortalSession:
    created = timezone.now() - dt.timedelta(minutes=minutes_ago)
    return PortalSessionFactory(customer_id=customer, created_at=created, **fields)


def _store_history(client: Client) -> list[dict[str, Any]]:
    """Visits and real deliveries whose figures read what payloads said: feedback
    enums, a custom option, a plan change, an abandoned cancel flow."""
    data = so.portal_configuration()
    features = data["features"]["subscription_cancel"]["cancellation_reason"]
    features["feedback_options"] = [OPTION]
    PortalConfigurationFactory(stripe_id=data["id"], stripe_data=data)
    _visit("cus_pr1", 3)
    _visit("cus_pr2", 3)
    _visit("cus_pr3", 3)
    _visit("cus_pr4", 120, flow_type="subscription_cancel")  # abandoned: at risk
    events = [
        _cancel("cus_pr1", feedback="too_expensive"),
        _cancel("cus_pr2", feedback=None, feedback_option="bfo_setup"),
        _cancel("cus_pr3", feedback="missing_features", comment="Bob here, call me"),
        so.event("customer.updated", so.customer(id="cus_pr4", email="ann@example.com")),
    ]
    for event in events:
        assert post_signed(client, event).status_code == 200
    return events


def _figures() -> dict[str, Any]:
    history = activity.customer_history("cus_pr3")
    return {
        "report": activity.activity_report(TODAY),
        "report_json": activity.activity_report(TODAY).as_dict(),
        "at_risk": [customer.as_dict() for customer in activity.customers_at_risk()],
        "history": [
            [(c.change_kind, c.feedback, c.feedback_option) for c in visit.changes]  # type: ignore[attr-defined]
            for visit in history
        ],
        "inline": _inline_feedback(),
        "revenue": activity.revenue_report(TODAY.start, TODAY.end).as_dict(),
    }


def _inline_feedback() -> list[str]:
    """What the visit page's linked-change table shows in its feedback column."""
    inline = LinkedChangeInline(PortalSession, site)
    request = RequestFactory().get("/")
    request.user = UserFactory(username="prune_admin", is_staff=True, is_superuser=True)
    return [str(inline.cancellation_feedback(row)) for row in inline.get_queryset(request)]


def test_every_figure_is_the_same_after_every_payload_is_pruned(client: Client) -> None:
    events = _store_history(client)
    before = _figures()
    reasons = {(r.feedback, r.feedback_option) for r in before["report"].cancellation_reasons}
    assert reasons == {("too_expensive", None), (None, "bfo_setup"), ("missing_features", None)}
    assert before["at_risk"] and any("missing_features" in text for text in before["inline"])
    (money,) = before["revenue"]["currencies"]
    assert money["canceled_by_reason"] and money["portal_cancellations"] == 3

    result = prune_payloads(FUTURE)

    assert result.pruned == len(events) == WebhookEvent.objects.count()
    assert all(
        is_pruned(payload) for payload in WebhookEvent.objects.values_list("payload", flat=True)
    )
    assert _figures() == before


def test_only_old_finished_payloads_are_pruned_and_every_column_stays(client: Client) -> None:
    events = _store_history(client)
    old, recent, pending, failed = (
        WebhookEvent.objects.get(stripe_id=event["id"]) for event in events
    )
    days_ago = timezone.now() - dt.timedelta(days=40)
    WebhookEvent.objects.filter(pk__in=[old.pk, pending.pk, failed.pk]).update(created_at=days_ago)
    WebhookEvent.objects.filter(pk=pending.pk).update(status="pending")
    WebhookEvent.objects.filter(pk=failed.pk).update(status="failed")
    columns = [f.attname for f in WebhookEvent._meta.fields if f.name != "payload"]
    kept = {row["pk"]: row for row in WebhookEvent.objects.values("pk", *columns)}

    out = io.StringIO()
    call_command("prune_stripe_events", "--older-than", "30", stdout=out)

    payloads = dict(WebhookEvent.objects.values_list("pk", "payload"))
    assert payloads[old.pk] == PRUNED_PAYLOAD
    assert payloads[recent.pk]["id"] == events[1]["id"]
    assert payloads[pending.pk]["id"] == events[2]["id"]  # recovery still reads it
    assert payloads[failed.pk]["id"] == events[3]["id"]
    assert {row["pk"]: row for row in WebhookEvent.objects.values("pk", *columns)} == kept
    assert "1 payload(s) of processed or ignored events" in out.getvalue()
    # A pending event is still found and dispatched by recovery once pruning ran.
    assert process_stored_event(pending.stripe_id, nowait=True) is Outcome.PROCESSED


def test_dry_run_and_the_setting(client: Client) -> None:
    _store_history(client)
    WebhookEvent.objects.update(created_at=timezone.now() - dt.timedelta(days=10))
    out = io.StringIO()
    call_command("prune_stripe_events", "--older-than", "5", "--dry-run", stdout=out)
    assert "4 payload(s)" in out.getvalue() and "would be pruned" in out.getvalue()
    assert not WebhookEvent.objects.filter(payload=PRUNED_PAYLOAD).exists()

    call_command("prune_stripe_events", stdout=(out := io.StringIO()))  # default: None
    assert "nothing pruned" in out.getvalue()
    assert not WebhookEvent.objects.filter(payload=PRUNED_PAYLOAD).exists()

    with override_settings(STRIPE_PORTAL={"API_KEY": "sk_test_x", "EVENT_PAYLOAD_DAYS": 20}):
        call_command("prune_stripe_events", stdout=(out := io.StringIO()))
        assert WebhookEvent.objects.filter(payload=PRUNED_PAYLOAD).count() == 0
    with override_settings(STRIPE_PORTAL={"API_KEY": "sk_test_x", "EVENT_PAYLOAD_DAYS": 7}):
        call_command("prune_stripe_events", stdout=(out := io.StringIO()))
        assert WebhookEvent.objects.filter(payload=PRUNED_PAYLOAD).count() == 4
        call_command("prune_stripe_events", stdout=(out := io.StringIO()))  # again: nothing left
        assert out.getvalue().startswith("0 payload(s)")


def test_batches_are_slices_of_ids_and_a_long_run_prints_progress(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store_history(client)
    seen: list[int] = []
    result = prune_payloads(FUTURE, batch_size=1, progress=lambda p: seen.append(p.pruned))
    assert result.batches == len(seen) >= 4 and seen[-1] == 4
    assert seen == sorted(seen)

    WebhookEvent.objects.update(
        payload={"id": "evt_x", "data": {"object": {}}},
        created_at=timezone.now() - dt.timedelta(days=3),
    )
    monkeypatch.setattr(
        "django_stripe_portal.management.commands.prune_stripe_events.PROGRESS_EVERY", 0
    )
    out = io.StringIO()
    call_command("prune_stripe_events", "--older-than", "1", "--batch-size", "1", stdout=out)
    assert out.getvalue().count("% of the ids scanned") >= 4
    assert "4 payload(s) of processed or ignored events" in out.getvalue()
    assert prune_module.BATCH_SIZE > 1


@pytest.mark.parametrize("argument", ["0", "-3"])
def test_bad_days_are_refused_clearly(argument: str) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--older-than"):
        call_command("prune_stripe_events", "--older-than", argument)


def test_a_pruned_event_is_not_dispatched_twice_and_its_replay_says_why(client: Client) -> None:
    events = _store_history(client)
    prune_payloads(FUTURE)
    recorder = Recorder()
    with connected(subscription_cancel_scheduled, recorder):
        # A redelivery of a pruned event: a duplicate, nothing dispatched.
        assert post_signed(client, events[0]).status_code == 200
        out, err = io.StringIO(), io.StringIO()
        call_command("replay_stripe_events", "--id", events[0]["id"], stdout=out, stderr=err)
    assert recorder.calls == []
    assert f"{events[0]['id']} customer.subscription.updated: pruned" in out.getvalue()
    assert "cannot be replayed" in err.getvalue()
    row = WebhookEvent.objects.get(stripe_id=events[0]["id"])
    assert (row.status, row.attempts, row.payload) == ("processed", 1, PRUNED_PAYLOAD)


def test_the_backfill_fills_the_columns_of_rows_stored_before_them(client: Client) -> None:
    _store_history(client)
    expected = dict(WebhookEvent.objects.values_list("stripe_id", "cancel_feedback"))
    WebhookEvent.objects.update(cancel_feedback="", cancel_feedback_option="")

    changed = backfill_payload_columns(WebhookEvent, batch_size=1)

    assert changed == 3
    assert dict(WebhookEvent.objects.values_list("stripe_id", "cancel_feedback")) == expected
    assert WebhookEvent.objects.filter(cancel_feedback_option="bfo_setup").count() == 1


def test_the_columns_are_written_by_the_event_insert_itself(
    client: Client, django_assert_max_num_queries: Any
) -> None:
    """No extra statement per event: the hot path's query budget is unchanged and the
    feedback arrives with the row's own INSERT."""
    _visit("cus_pr9", 3)
    event = _cancel("cus_pr9", feedback="unused", feedback_option="bfo_x")
    with django_assert_max_num_queries(4) as captured:
        assert post_signed(client, event).status_code == 200
    (insert,) = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("INSERT") and "webhookevent" in q["sql"]
    ]
    assert '"cancel_feedback"' in insert and '"cancel_feedback_option"' in insert
    row = WebhookEvent.objects.get(stripe_id=event["id"])
    assert (row.cancel_feedback, row.cancel_feedback_option) == ("unused", "bfo_x")


def test_an_expanded_options_description_survives_the_prune(client: Client) -> None:
    """No configuration names this option: only the event's expanded object did."""
    _visit("cus_pr8", 3)
    option = so.feedback_option(id="bfo_team", description="My team left")
    assert (
        post_signed(client, _cancel("cus_pr8", feedback=None, feedback_option=option)).status_code
        == 200
    )
    before = activity.cancellation_reasons(TODAY)
    assert [(r.feedback_option, r.option_label) for r in before] == [("bfo_team", "My team left")]

    assert prune_payloads(FUTURE).pruned == 1

    assert activity.cancellation_reasons(TODAY) == before
