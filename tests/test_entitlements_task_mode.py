"""Entitlement summaries in task mode on a real engine: gunicorn takes the signed
deliveries, a django-tasks-db ``db_worker`` process applies them, on PostgreSQL.

An older summary processed after a newer one changes nothing, a redelivery is processed
once, ``entitlements_changed`` is sent once per applied change (its receiver, in the
worker process, writes a line per call), and a summary that says ``has_more`` is
completed by the worker from a local Stripe."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from django_stripe_portal.models import ActiveEntitlements, WebhookEvent
from tests import contract
from tests import stripe_objects as so
from tests.engine_support import worker_args
from tests.process_support import (
    child_env,
    gunicorn,
    lines,
    local_stripe,
    post_body,
    running,
    wait_until,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]
CUSTOMER = "cus_taskentitled01"
COMPLETED_CUSTOMER = "cus_taskentitled02"
LIST_PATH = "/v1/entitlements/active_entitlements"


@dataclass
class Site:
    port: int
    directory: Path
    asked: list[str]

    def deliver(self, *events: dict[str, Any]) -> list[int]:
        for event in events:
            assert contract.misfits_of_event(event) == [], event["type"]
        return [post_body(self.port, json.dumps(event)) for event in events]

    def changes(self) -> list[dict[str, Any]]:
        """What the worker's ``entitlements_changed`` receiver was called with."""
        return [json.loads(line) for line in lines(self.directory / "entitlements_changed")]


@contextmanager
def _site(tmp_path: Path, answers: dict[str, dict[str, Any]]) -> Iterator[Site]:
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
        stack.enter_context(running(worker_args("db"), env, tmp_path / "worker.log"))
        yield Site(port, tmp_path, asked)


def _processed(*events: dict[str, Any]) -> bool:
    statuses = WebhookEvent.objects.filter(stripe_id__in=[e["id"] for e in events])
    return Counter(statuses.values_list("status", flat=True)) == Counter(
        {WebhookEvent.Status.PROCESSED: len(events)}
    )


def test_a_worker_applies_summaries_never_backwards_and_announces_each_change_once(
    tmp_path: Path,
) -> None:
    now = int(time.time())
    older = so.entitlements_event(CUSTOMER, ["pro-reports", "api-access"], created=now - 60)
    newer = so.entitlements_event(CUSTOMER, ["api-access", "exports"], created=now)
    # Only the first 2 of 3 in the event: the worker lists the rest.
    partial = so.entitlements_event(
        COMPLETED_CUSTOMER, ["alpha", "beta"], has_more=True, created=now
    )
    page = so.active_entitlements_page(["alpha", "beta", "gamma"])

    with _site(tmp_path, {LIST_PATH: page}) as site:
        # The newer summary, delivered twice (Stripe's redelivery), is applied first ...
        assert site.deliver(newer, newer) == [200, 200]
        wait_until(lambda: _processed(newer), "the newer summary to be processed")
        # ... then the older one arrives late, the newer once more, and the partial one.
        assert site.deliver(older, newer, partial) == [200, 200, 200]
        wait_until(lambda: _processed(newer, older, partial), "every summary to be processed")
        wait_until(lambda: len(site.changes()) >= 2, "the receivers")
        asked = list(site.asked)

    rows = dict(ActiveEntitlements.objects.values_list("customer_id", "lookup_keys"))
    assert rows == {
        CUSTOMER: ["api-access", "exports"],
        COMPLETED_CUSTOMER: ["alpha", "beta", "gamma"],
    }
    stored = ActiveEntitlements.objects.get(customer_id=CUSTOMER)
    assert stored.event_created_at.timestamp() == now
    for event in (newer, older, partial):
        row = WebhookEvent.objects.get(stripe_id=event["id"])
        assert (row.status, row.attempts) == (WebhookEvent.Status.PROCESSED, 1)
    completed = Counter(line.split()[0] for line in lines(tmp_path / "completed"))
    assert completed == Counter({newer["id"]: 1, older["id"]: 1, partial["id"]: 1})
    # One announcement per applied change; the late older summary announces nothing.
    assert sorted(site.changes(), key=lambda change: change["customer"]) == [
        {
            "event": newer["id"],
            "customer": CUSTOMER,
            "added": ["api-access", "exports"],
            "removed": [],
        },
        {
            "event": partial["id"],
            "customer": COMPLETED_CUSTOMER,
            "added": ["alpha", "beta", "gamma"],
            "removed": [],
        },
    ]
    # The one call to Stripe: the worker completing the partial summary, as the spec says.
    (path,) = asked
    params = contract.validate_request("GET", path, None)
    assert path.split("?")[0] == LIST_PATH
    assert params["customer"] == COMPLETED_CUSTOMER
