"""The benchmark's own parts, without servers (``make bench-smoke`` runs those in CI):
the deliveries it sends are real-shaped and correctly signed, redeliveries are what
Stripe's are, rounds interleave fairly, and the SQL counter counts."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import stripe
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from tests import contract

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import load  # noqa: E402
import payloads  # noqa: E402
import report  # noqa: E402
import rounds  # noqa: E402
import scale  # noqa: E402
from benchproject.middleware import CountSQLMiddleware  # noqa: E402

OBJECT_SCHEMAS = {
    "customer.subscription.updated": "subscription",
    "customer.subscription.deleted": "subscription",
    "billing_portal.session.created": "billing_portal.session",
    "customer.updated": "customer",
    "payment_method.attached": "payment_method",
}


@contract.requires_openapi
@pytest.mark.parametrize("kind", [name for name, _ in payloads.MIX])
def test_every_kind_of_delivery_is_a_real_shaped_event(kind: str) -> None:
    import random

    event = payloads.build_event(kind, "evt_benchtest1", 1_763_770_000, random.Random(3))
    contract.validate_object("event", event)
    contract.validate_object(OBJECT_SCHEMAS[event["type"]], event["data"]["object"])
    if event["type"] in ("customer.subscription.updated", "customer.updated"):
        assert event["data"]["previous_attributes"]


def test_deliveries_are_signed_so_that_stripe_verifies_them_and_a_change_breaks_it() -> None:
    (delivery,) = payloads.deliveries(1, prefix="evt_sig", duplicate_share=0, seed=1)
    header = payloads.sign(delivery.body, "whsec_bench")
    event = stripe.Webhook.construct_event(delivery.body, header, "whsec_bench")
    assert event.id == delivery.event_id == "evt_sig0000000"
    tampered = delivery.body.replace(b'"livemode": false', b'"livemode": true', 1)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, header, "whsec_bench")


def test_redeliveries_repeat_an_earlier_body_and_come_after_the_first_answer() -> None:
    batch = payloads.deliveries(2000, prefix="evt_dup", duplicate_share=0.05, seed=7)
    first_seen: dict[str, int] = {}
    for position, delivery in enumerate(batch):
        if delivery.duplicate:
            original = first_seen[delivery.event_id]
            assert position - original > payloads.REDELIVERY_GAP
            assert batch[original].body == delivery.body
        else:
            assert delivery.event_id not in first_seen
            first_seen[delivery.event_id] = position
    share = sum(d.duplicate for d in batch) / len(batch)
    assert 0.03 < share < 0.07
    kinds = Counter(json.loads(d.body)["type"] for d in batch if not d.duplicate)
    assert set(kinds) == set(OBJECT_SCHEMAS)


def _outline(body: bytes) -> tuple[str, str, list[str]]:
    event = json.loads(body)
    obj = event["data"]["object"]
    return event["type"], obj.get("customer") or obj["id"], sorted(event["data"])


def test_same_seed_same_events_so_every_target_gets_the_same_round() -> None:
    one = payloads.deliveries(50, prefix="evt_a", duplicate_share=0.05, seed=4)
    two = payloads.deliveries(50, prefix="evt_a", duplicate_share=0.05, seed=4)
    assert [_outline(d.body) for d in one] == [_outline(d.body) for d in two]
    assert [d.event_id for d in one] == [d.event_id for d in two]


def test_rounds_alternate_so_each_target_goes_first_as_often_as_last() -> None:
    order = rounds.interleaved(4, ["A", "T", "F"])
    assert order == [["A", "T", "F"], ["F", "T", "A"], ["A", "T", "F"], ["F", "T", "A"]]


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert load.percentile(values, 0.50) == 50.0
    assert load.percentile(values, 0.99) == 99.0
    assert load.percentile([7.0], 0.99) == 7.0


@pytest.mark.django_db
def test_sql_counter_reports_every_statement_of_the_request() -> None:
    def view(request: HttpRequest) -> HttpResponse:
        User.objects.create(username="counted")
        User.objects.filter(username="counted").exists()
        return HttpResponse()

    response = CountSQLMiddleware(view)(RequestFactory().get("/"))
    verbs = dict(pair.split("=") for pair in response["X-Bench-SQL-Verbs"].split(","))
    assert verbs["INSERT"] == "1"
    assert verbs["SELECT"] == "1"
    assert int(response["X-Bench-SQL"]) == sum(int(n) for n in verbs.values())


def test_a_round_is_sized_to_what_the_fastest_target_serves_in_its_time_bound() -> None:
    bench_run = rounds.Run(scale.FULL, smoke=False)
    seconds = scale.FULL.round_seconds
    assert bench_run.round_count(4000, [50.0, 80.0]) == int(80 * seconds * 1.2)
    assert bench_run.round_count(100, [50.0, 80.0]) == 100
    assert bench_run.round_count(4000, [0.0]) == 1


def test_a_part_run_alone_keeps_the_other_parts_of_the_last_full_run(tmp_path: Path) -> None:
    earlier = tmp_path / "results.json"
    earlier.write_text(
        json.dumps(
            {
                "machine": {"date": "old"},
                "memory_postgres": {"run_date": "old", "end_mib": 60},
                "webhooks_sqlite": {"run_date": "old", "ratios": {}},
            }
        )
    )
    new = {"machine": {"date": "new"}, "webhooks_sqlite": {"run_date": "new", "ratios": {}}}
    merged = report.merged_with_earlier(earlier, new)
    assert merged["machine"] == {"date": "new"}
    assert merged["webhooks_sqlite"]["run_date"] == "new"
    assert merged["memory_postgres"] == {"run_date": "old", "end_mib": 60}


def test_the_received_log_keeps_each_events_first_time_and_latency_runs_from_the_send(
    tmp_path: Path, settings: object
) -> None:
    import engine_workers
    from benchproject import receivers

    received_log = tmp_path / "received.txt"
    settings.RECEIVED_LOG = str(received_log)  # type: ignore[attr-defined]

    class Row:
        stripe_id = "evt_late1"

    before = time.time()
    receivers._note_received(None, event=Row())
    receivers._note_received(None, event=Row())  # a retried transaction notes it again
    received_log.write_text(received_log.read_text() + "evt_never 1.0\n")
    first = engine_workers.received_times(received_log)
    assert set(first) == {"evt_late1", "evt_never"}
    assert before <= first["evt_late1"] <= time.time()

    sent = {"evt_late1": first["evt_late1"] - 0.25, "evt_lost": before}
    summary = engine_workers.latency_summary(sent, first)
    assert summary["events"] == 2
    assert summary["received"] == 1  # evt_lost never reached a receiver
    assert abs(summary["p50_ms"] - 250) < 1


def test_the_engines_part_is_not_in_the_smoke_run_but_in_the_full_one() -> None:
    import run

    assert "engines" in run.PARTS
    assert "engines" not in run.SMOKE_PARTS
    assert set(run.PARTS) - set(run.SMOKE_PARTS) == {"engines"}
