"""Task mode for thin events on a real engine: gunicorn takes the notifications (fetching
each event from a local Stripe), a django-tasks-db worker process dispatches the stored
event by its id, once, on PostgreSQL."""

from __future__ import annotations

import http.client
import json
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.testing import sign_payload
from tests import stripe_objects as so
from tests.process_support import child_env, gunicorn, lines, local_stripe, running, wait_until
from tests.thin_support import (
    DESTINATION_SECRET,
    EVENTS_URL,
    notification_of,
    related_reference,
    v2_event,
)
from tests.webhook_support import SECRET, WEBHOOK_URL

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


def _post(port: int, path: str, body: str, secret: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST",
            path,
            body=body.encode(),
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": sign_payload(body, secret),
            },
        )
        return conn.getresponse().status
    finally:
        conn.close()


def test_thin_events_are_dispatched_by_a_worker_process_once(tmp_path: Path) -> None:
    created = int(time.time())
    changes = []
    answers: dict[str, dict[str, Any]] = {}
    for _ in range(4):
        sub = so.subscription(cancel_at_period_end=True)
        snapshot = so.event(
            "customer.subscription.updated",
            sub,
            previous_attributes={"cancel_at_period_end": False},
            created=created,
        )
        thin = v2_event(
            "v1.customer.subscription.updated",
            sub,
            changes={
                "before": {"cancel_at_period_end": False},
                "after": {"cancel_at_period_end": True},
            },
            snapshot_event=snapshot["id"],
            created=created,
        )
        answers[f"/v2/core/events/{thin['id']}"] = thin
        answers[related_reference(sub)["url"]] = sub
        changes.append((snapshot, thin))

    with local_stripe(answers) as (api_base, asked), ExitStack() as stack:
        env = child_env(
            "tests.engines.settings",
            TASK_ENGINE="db",
            ENGINES_DIR=str(tmp_path),
            STRIPE_API_BASE=api_base,
        )
        port = stack.enter_context(
            gunicorn("tests.engines.wsgi:application", env, tmp_path / "gunicorn.log")
        )
        stack.enter_context(
            running(
                [
                    "-m",
                    "django",
                    "db_worker",
                    "--interval",
                    "0.1",
                    "--no-startup-delay",
                    "--no-reload",
                ],
                env,
                tmp_path / "worker.log",
            )
        )
        codes = []
        for _, thin in changes:
            body = json.dumps(notification_of(thin))
            codes += [_post(port, EVENTS_URL, body, DESTINATION_SECRET) for _ in range(2)]
        # The first change also comes through the snapshot endpoint, after its thin twin.
        codes.append(_post(port, WEBHOOK_URL, json.dumps(changes[0][0]), SECRET))
        keys = [snapshot["id"] for snapshot, _ in changes]
        wait_until(
            lambda: (
                Counter(
                    WebhookEvent.objects.filter(stripe_id__in=keys).values_list("status", flat=True)
                )
                == Counter({WebhookEvent.Status.PROCESSED: len(keys)})
            ),
            "the worker to process every thin event",
        )
        wait_until(lambda: len(lines(tmp_path / "completed")) >= len(keys), "the receivers")

    assert set(codes) == {200}, codes
    completed = Counter(line.split()[0] for line in lines(tmp_path / "completed"))
    assert completed == Counter({key: 1 for key in keys}), "each change dispatched once"
    rows = WebhookEvent.objects.filter(stripe_id__in=keys)
    assert {row.received_via for row in rows} == {WebhookEvent.ReceivedVia.EVENT_DESTINATION}
    assert {row.attempts for row in rows} == {1}
    assert any(path.startswith("/v2/core/events/") for path in asked)
