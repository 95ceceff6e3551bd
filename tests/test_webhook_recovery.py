"""``recover_stripe_events`` and ``check_stripe_webhooks``: stuck pending events and due
failed ones are taken up once, busy ones are left to the worker holding them, and the
health figures say when a person is needed."""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.test import Client, override_settings

from django_stripe_portal import signals
from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.tasks import process_webhook_event
from django_stripe_portal.webhooks.recovery import recover_events
from tests import stripe_objects as so
from tests.webhook_support import SECRET, Recorder, connected, post_signed

pytestmark = pytest.mark.django_db(transaction=True)

Status = WebhookEvent.Status
DUMMY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def _settings(**extra: Any) -> Any:
    return override_settings(
        TASKS=DUMMY,
        STRIPE_PORTAL={
            "API_KEY": "sk_test_x",
            "WEBHOOK_SECRETS": [SECRET],
            "WEBHOOK_PROCESSING": "task",
            **extra,
        },
    )


def _deliver_pending(client: Client, count: int) -> list[str]:
    """Events stored pending, as after a delivery whose task was lost."""
    ids = []
    for _ in range(count):
        event = so.event("customer.subscription.created", so.subscription())
        assert post_signed(client, event).status_code == 200
        ids.append(event["id"])
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Status.PENDING}
    return ids


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    except CommandError as exc:
        return 1, out.getvalue(), str(exc)
    return 0, out.getvalue(), err.getvalue()


def test_only_pending_events_older_than_the_limit_are_taken_up(client: Client) -> None:
    with _settings(WEBHOOK_STUCK_AFTER=3600):
        ids = _deliver_pending(client, 2)
        assert recover_events().stuck == []
    with _settings(WEBHOOK_STUCK_AFTER=0), connected(signals.webhook_received, Recorder()) as rec:
        code, out, _ = _run("recover_stripe_events")
    assert code == 0
    assert "Took up 2 stuck and 0 due event(s): 2 processed." in out
    assert sorted(call["event"].stripe_id for call in rec.calls) == sorted(ids)
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}


def test_due_failed_events_are_retried_and_others_left(client: Client) -> None:
    failing = Recorder(raises=ConnectionError("down"))
    with _settings(WEBHOOK_RETRY_DELAYS=[0, 3600]), connected(signals.webhook_received, failing):
        due, later, gave_up = _deliver_pending(client, 3)
        for stripe_id in (due, later, gave_up):
            process_webhook_event.call(stripe_id)  # first attempt fails: next at +0 s
        process_webhook_event.call(later)  # second fails: next at +3600 s
        WebhookEvent.objects.filter(stripe_id=gave_up).update(next_attempt_at=None)
        assert recover_events(dry_run=True).due == [due]
    recorder = Recorder()
    with _settings(WEBHOOK_RETRY_DELAYS=[0, 3600]), connected(signals.webhook_received, recorder):
        code, out, _ = _run("recover_stripe_events")
    assert code == 0 and "0 stuck and 1 due" in out
    assert [call["event"].stripe_id for call in recorder.calls] == [due]
    statuses = dict(WebhookEvent.objects.values_list("stripe_id", "status"))
    assert statuses == {due: Status.PROCESSED, later: Status.FAILED, gave_up: Status.FAILED}


def test_dry_run_lists_and_dispatches_nothing(client: Client) -> None:
    with _settings(WEBHOOK_STUCK_AFTER=0):
        [stripe_id] = _deliver_pending(client, 1)
        code, out, _ = _run("recover_stripe_events", "--dry-run")
    assert code == 0
    assert f"{stripe_id}: pending for more than 0s" in out
    assert "1 stuck and 0 due event(s) would be taken up." in out
    assert WebhookEvent.objects.get().status == Status.PENDING


def test_a_recovered_event_that_fails_again_exits_1_and_is_scheduled(client: Client) -> None:
    with _settings(WEBHOOK_STUCK_AFTER=0, WEBHOOK_RETRY_DELAYS=[60]):
        _deliver_pending(client, 1)
        with connected(signals.webhook_received, Recorder(raises=ValueError("bad"))):
            code, _, err = _run("recover_stripe_events")
    assert code == 1 and "1 event(s) failed again" in err
    row = WebhookEvent.objects.get()
    assert row.status == Status.FAILED and row.next_attempt_at is not None


def test_health_figures_and_exit_status(client: Client) -> None:
    with _settings(WEBHOOK_STUCK_AFTER=3600):
        code, out, _ = _run("check_stripe_webhooks", "--format", "json")
        assert code == 0
        assert json.loads(out) == {
            "stuck": 0,
            "awaiting_retry": 0,
            "given_up": 0,
            "failed_awaiting_stripe": 0,
            "last_received_at": None,
            "stuck_after_seconds": 3600,
            "needs_attention": False,
        }
        _deliver_pending(client, 1)
        code, out, _ = _run("check_stripe_webhooks")
        assert code == 0 and "stuck (pending over 3600s): 0" in out
        assert "last event received: never" not in out
    with _settings(WEBHOOK_STUCK_AFTER=0):
        code, out, err = _run("check_stripe_webhooks")
    assert code == 1
    assert "stuck (pending over 0s): 1" in out
    assert "recover_stripe_events" in err


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")
def test_an_event_a_live_worker_holds_is_skipped_as_busy(client: Client) -> None:
    with _settings(WEBHOOK_STUCK_AFTER=0):
        [held, free] = _deliver_pending(client, 2)
    locked, release = threading.Event(), threading.Event()

    def worker() -> None:  # holds the row lock the way a dispatching worker does
        try:
            with transaction.atomic():
                WebhookEvent.objects.select_for_update().get(stripe_id=held)
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    assert locked.wait(30)
    try:
        with _settings(WEBHOOK_STUCK_AFTER=0):
            report = recover_events()
    finally:
        release.set()
        thread.join(30)
    assert report.outcomes == Counter({"busy": 1, "processed": 1})
    statuses = dict(WebhookEvent.objects.values_list("stripe_id", "status"))
    assert statuses == {held: Status.PENDING, free: Status.PROCESSED}


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")
def test_several_recoverers_at_once_dispatch_each_event_once(client: Client) -> None:
    with _settings(WEBHOOK_STUCK_AFTER=0):
        ids = _deliver_pending(client, 40)
    calls: list[str] = []
    lock = threading.Lock()

    def record(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        with lock:
            calls.append(event.stripe_id)

    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def recoverer() -> None:
        try:
            barrier.wait()
            recover_events()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    # Settings are overridden here, once: override_settings is not thread-safe.
    with _settings(WEBHOOK_STUCK_AFTER=0), connected(signals.webhook_received, record):
        threads = [threading.Thread(target=recoverer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    assert not errors
    assert sorted(calls) == sorted(ids)  # each once
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}


def test_the_admin_event_list_shows_the_figures_and_filters_by_retry_state(
    client: Client, admin_client: Client
) -> None:
    with _settings(WEBHOOK_RETRY_DELAYS=[], WEBHOOK_STUCK_AFTER=0):
        [gave_up, _still_pending] = _deliver_pending(client, 2)
        with connected(signals.webhook_received, Recorder(raises=ValueError("bad"))):
            process_webhook_event.call(gave_up)
        url = "/admin/django_stripe_portal/webhookevent/"
        page = admin_client.get(url).content.decode()
        only_given_up = admin_client.get(url, {"retries": "gave_up"})
    assert "1 stuck (pending for over 0 s)" in page
    assert "1 gave up" in page and "0 awaiting a retry" in page
    assert "Some events need a person" in page
    assert [row.stripe_id for row in only_given_up.context["cl"].result_list] == [gave_up]


def test_the_sweep_as_a_task_reports_what_it_took_up(client: Client) -> None:
    from django_stripe_portal.tasks import recover_webhook_events

    with _settings(WEBHOOK_STUCK_AFTER=0):
        _deliver_pending(client, 2)
        assert recover_webhook_events.call() == {"stuck": 2, "due": 0, "processed": 2}


@pytest.mark.parametrize(
    ("backend", "warned"),
    [
        ("django_tasks.backends.dummy.DummyBackend", True),
        ("django_tasks_db.DatabaseBackend", False),
        ("django_tasks_rq.RQBackend", False),
    ],
)
def test_task_mode_with_a_backend_that_never_runs_tasks_is_a_warning(
    backend: str, warned: bool
) -> None:
    from django_stripe_portal.checks import check_settings

    with (
        override_settings(TASKS={"default": {"BACKEND": backend}}),
        override_settings(
            STRIPE_PORTAL={
                "API_KEY": "sk_test_x",
                "WEBHOOK_SECRETS": [SECRET],
                "WEBHOOK_PROCESSING": "task",
            }
        ),
    ):
        ids = [message.id for message in check_settings()]
    assert ("stripe_portal.W015" in ids) is warned


def test_failures_nothing_will_retry_need_a_person(client: Client) -> None:
    """Sync mode: Stripe redelivers a failed delivery for about three days, not after, and
    never an event the app read from the Events API itself."""
    from datetime import timedelta

    from django.utils import timezone

    from django_stripe_portal.webhooks.health import webhook_health

    failing = Recorder(raises=ValueError("bad"))
    with connected(signals.webhook_received, failing):
        for _ in range(3):
            post_signed(client, so.event("customer.subscription.created", so.subscription()))
    recent, old, listed = WebhookEvent.objects.order_by("pk")
    WebhookEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=4))
    WebhookEvent.objects.filter(pk=listed.pk).update(received_via="events_api")
    health = webhook_health()
    assert (health.failed_awaiting_stripe, health.given_up) == (1, 2)
    assert health.needs_attention
    WebhookEvent.objects.exclude(pk=recent.pk).delete()
    assert not webhook_health().needs_attention  # Stripe still retries the recent one
