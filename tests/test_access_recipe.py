"""The grant/revoke recipe of docs/access.md, run as written against signed webhooks."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.dispatch import Signal
from django.test import Client

from tests import stripe_objects
from tests.factories import StripeCustomerFactory

pytestmark = pytest.mark.django_db
DOC = Path(__file__).resolve().parent.parent / "docs" / "access.md"


def recipe_source() -> str:
    """The Python block of the page that defines ``sync_pro_group``."""
    text = DOC.read_text()
    blocks = text.split("```python\n")[1:]
    [block] = [b.split("```")[0] for b in blocks if "def sync_pro_group" in b]
    return block


@pytest.fixture
def recipe() -> Iterator[dict[str, Any]]:
    before = {id(s): list(s.receivers) for s in gc.get_objects() if isinstance(s, Signal)}
    namespace: dict[str, Any] = {"__name__": "docs_access_recipe"}
    exec(compile(recipe_source(), str(DOC), "exec"), namespace)  # noqa: S102  (our own docs)
    yield namespace
    for signal in gc.get_objects():
        if isinstance(signal, Signal):
            with signal.lock:
                signal.receivers = before.get(id(signal), [])
                signal.sender_receivers_cache.clear()


def send(client: Client, event_type: str, subscription: dict[str, Any], created: int) -> None:
    from django_stripe_portal.testing import make_event, post_event

    event = make_event(event_type, subscription)
    event["created"] = created
    assert post_event(client, event).status_code == 200


def in_pro_group(user: Any) -> bool:
    return Group.objects.filter(name="pro", user=user).exists()


def test_recipe_grants_then_revokes(client: Client, recipe: dict[str, Any]) -> None:
    user = StripeCustomerFactory(customer_id="cus_recipe0001").user
    now = int(time.time())
    sub = stripe_objects.subscription(customer="cus_recipe0001", status="active")

    send(client, "customer.subscription.created", sub, now - 30)
    assert in_pro_group(user)

    scheduled = {**sub, "cancel_at_period_end": True}
    send(client, "customer.subscription.updated", scheduled, now - 20)
    assert in_pro_group(user)  # paid to the period's end

    ended = {**sub, "status": "canceled", "canceled_at": now - 10}
    send(client, "customer.subscription.deleted", ended, now - 10)
    assert not in_pro_group(user)


def test_a_late_event_does_not_grant_again(client: Client, recipe: dict[str, Any]) -> None:
    user = StripeCustomerFactory(customer_id="cus_recipe0002").user
    now = int(time.time())
    sub = stripe_objects.subscription(customer="cus_recipe0002", status="active")

    send(client, "customer.subscription.deleted", {**sub, "status": "canceled"}, now)
    send(client, "customer.subscription.updated", sub, now - 60)  # delivered late

    assert not in_pro_group(user)


def test_unknown_customer_is_ignored(client: Client, recipe: dict[str, Any]) -> None:
    sub = stripe_objects.subscription(customer="cus_notlinked01", status="active")

    send(client, "customer.subscription.created", sub, int(time.time()))

    assert not Group.objects.filter(name="pro", user__isnull=False).exists()
