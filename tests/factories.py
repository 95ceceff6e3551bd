"""factory-boy factories for every model."""

from __future__ import annotations

import datetime as dt
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from django_stripe_portal import models
from django_stripe_portal.storage.columns import event_column_values


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("pw")


class StripeCustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.StripeCustomer

    user = factory.SubFactory(UserFactory)
    customer_id = factory.Sequence(lambda n: f"cus_factory{n:05d}")
    livemode = False


class PortalConfigurationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.PortalConfiguration

    key = factory.Sequence(lambda n: f"config{n}")
    stripe_id = factory.Sequence(lambda n: f"bpc_factory{n:05d}")
    livemode = False
    active = True
    synced_at = factory.LazyFunction(timezone.now)


class PortalSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.PortalSession

    stripe_id = factory.Sequence(lambda n: f"bps_factory{n:05d}")
    customer_id = factory.Sequence(lambda n: f"cus_factory{n:05d}")
    created_at = factory.LazyFunction(timezone.now)
    source = models.PortalSession.Source.APP


class StripeSubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.StripeSubscription

    stripe_id = factory.Sequence(lambda n: f"sub_factory{n:05d}")
    customer_id = factory.Sequence(lambda n: f"cus_factory{n:05d}")
    status = "active"
    items: Any = factory.LazyFunction(lambda: [{"price": "price_basic", "quantity": 1}])
    current_period_end = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=30))
    event_created_at = factory.LazyFunction(timezone.now)


class WebhookEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.WebhookEvent

    stripe_id = factory.Sequence(lambda n: f"evt_factory{n:06d}")
    type = "customer.subscription.updated"
    created_at = factory.LazyFunction(timezone.now)
    payload: Any = factory.LazyAttribute(
        lambda o: {"id": o.stripe_id, "object": "event", "type": o.type, "data": {"object": {}}}
    )
    status = models.WebhookEvent.Status.PROCESSED
    # What ingest writes beside the payload (storage.columns), read from it as ingest does.
    cancel_feedback = factory.LazyAttribute(lambda o: _columns(o.payload)["cancel_feedback"])
    cancel_feedback_option = factory.LazyAttribute(
        lambda o: _columns(o.payload)["cancel_feedback_option"]
    )
    cancel_feedback_option_label = factory.LazyAttribute(
        lambda o: _columns(o.payload)["cancel_feedback_option_label"]
    )


def _columns(payload: Any) -> dict[str, str]:
    return event_column_values(payload or {})
