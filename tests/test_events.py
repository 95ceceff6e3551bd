"""Every event type the app subscribes to is one of Stripe's."""

from __future__ import annotations

from django_stripe_portal.events import HANDLED_EVENTS
from tests import contract


@contract.requires_openapi
def test_handled_events_exist_in_the_api() -> None:
    known = set(contract.event_types())
    assert [e for e in HANDLED_EVENTS if e not in known] == []
    assert len(set(HANDLED_EVENTS)) == len(HANDLED_EVENTS)
