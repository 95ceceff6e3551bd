"""The check every test's webhook events pass (``conftest._accepted_events_fit_stripes_schema``)."""

from __future__ import annotations

import pytest

from tests import contract
from tests import stripe_objects as so

pytestmark = contract.requires_openapi


@pytest.mark.parametrize(
    "event",
    [
        so.event("customer.subscription.updated", so.subscription()),
        so.event("payment_method.attached", so.payment_method()),
        so.event("customer.created", so.customer()),
        so.event("billing_portal.session.created", so.portal_session()),
    ],
    ids=lambda event: event["type"],
)
def test_whole_objects_fit(event: dict[str, object]) -> None:
    assert contract.misfits_of_event(event) == []


def test_a_partial_object_is_reported_with_what_it_lacks() -> None:
    event = so.event("charge.succeeded", {"id": "ch_1", "object": "charge"})
    (misfit,) = contract.misfits_of_event(event)
    assert misfit.startswith("charge.succeeded (charge)")
    assert "Missing required field: amount" in misfit


def test_an_object_without_a_schema_is_reported() -> None:
    event = so.event("customer.created", {"id": "x_1", "object": "no_such_thing"})
    assert contract.misfits_of_event(event) == [
        "customer.created: no schema 'no_such_thing' to check it against"
    ]


def test_a_broken_envelope_is_reported() -> None:
    event = so.event("customer.created", so.customer())
    del event["pending_webhooks"]
    (misfit,) = contract.misfits_of_event(event)
    assert "(event)" in misfit and "pending_webhooks" in misfit
