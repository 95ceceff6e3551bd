"""``django_stripe_portal.access``: active subscriptions from stored state, one query, no Stripe."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import Context, Template
from django.test import override_settings

from django_stripe_portal.access import active_subscriptions, has_active_subscription
from tests.factories import StripeCustomerFactory, StripeSubscriptionFactory, UserFactory

pytestmark = pytest.mark.django_db
TEST_SETTINGS: dict[str, Any] = {"API_KEY": "sk_test_tests", "WEBHOOK_SECRETS": ["whsec_tests"]}


@pytest.fixture
def linked_user() -> Any:
    return StripeCustomerFactory(customer_id="cus_access0001").user


def subscribe(status: str, customer_id: str = "cus_access0001", **kwargs: Any) -> Any:
    return StripeSubscriptionFactory(customer_id=customer_id, status=status, **kwargs)


@pytest.mark.parametrize(
    ("status", "active"),
    [
        ("active", True),
        ("trialing", True),
        ("past_due", False),
        ("unpaid", False),
        ("incomplete", False),
        ("incomplete_expired", False),
        ("paused", False),
        ("canceled", False),
    ],
)
def test_default_active_statuses(linked_user: Any, status: str, active: bool) -> None:
    subscribe(status)

    assert has_active_subscription(user=linked_user) is active
    assert has_active_subscription(customer_id="cus_access0001") is active


def test_past_due_counts_when_the_setting_says_so(linked_user: Any) -> None:
    subscribe("past_due")

    with override_settings(
        STRIPE_PORTAL={**TEST_SETTINGS, "ACTIVE_STATUSES": ["active", "trialing", "past_due"]}
    ):
        assert has_active_subscription(user=linked_user) is True


def test_lists_only_the_users_own_active_subscriptions(linked_user: Any) -> None:
    mine = subscribe("active")
    mine_trial = subscribe("trialing")
    subscribe("canceled")
    subscribe("active", customer_id="cus_someoneelse")
    subscribe("active", livemode=True)  # the other Stripe mode

    found = set(active_subscriptions(user=linked_user).values_list("stripe_id", flat=True))

    assert found == {mine.stripe_id, mine_trial.stripe_id}


def test_user_without_customer_link_has_nothing() -> None:
    user = UserFactory()
    subscribe("active")

    assert has_active_subscription(user=user) is False
    assert list(active_subscriptions(user=user)) == []


def test_one_query_and_no_stripe_call(
    linked_user: Any, django_assert_num_queries: Any, stripe_mock: Any
) -> None:
    subscribe("active")

    with django_assert_num_queries(1):
        assert has_active_subscription(user=linked_user) is True
    with django_assert_num_queries(1):
        assert len(list(active_subscriptions(user=linked_user))) == 1
    with django_assert_num_queries(1):
        assert has_active_subscription(customer_id="cus_access0001") is True
    assert len(stripe_mock.calls) == 0


def test_anonymous_user_costs_no_query(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        assert has_active_subscription(user=AnonymousUser()) is False
        assert list(active_subscriptions(user=AnonymousUser())) == []


@pytest.mark.parametrize("kwargs", [{}, {"user": "u", "customer_id": "cus_x"}])
def test_exactly_one_of_user_or_customer(kwargs: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="exactly one"):
        active_subscriptions(**kwargs)


def test_template_filter(linked_user: Any, django_assert_num_queries: Any) -> None:
    template = Template(
        "{% load stripe_portal %}{% if user|has_active_subscription %}pro{% else %}free{% endif %}"
    )
    assert template.render(Context({"user": linked_user})) == "free"

    subscribe("active")
    next_request_user = type(linked_user).objects.get(pk=linked_user.pk)

    with django_assert_num_queries(1):
        assert template.render(Context({"user": next_request_user})) == "pro"
    with django_assert_num_queries(0):
        assert template.render(Context({"user": AnonymousUser()})) == "free"


def test_template_filter_asks_once_per_user_object(
    linked_user: Any, django_assert_num_queries: Any
) -> None:
    subscribe("active")
    template = Template(
        "{% load stripe_portal %}"
        "{{ user|has_active_subscription }} {{ user|has_active_subscription }} "
        "{% if user|has_active_subscription %}pro{% endif %}"
    )

    with django_assert_num_queries(1):
        assert template.render(Context({"user": linked_user})) == "True True pro"
    fresh = type(linked_user).objects.get(pk=linked_user.pk)  # e.g. the next request
    with django_assert_num_queries(1):
        template.render(Context({"user": fresh}))
