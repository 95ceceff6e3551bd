"""The default customer resolver and link_customer."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory, override_settings

from django_stripe_portal.customers import link_customer, linked_customer
from django_stripe_portal.models import StripeCustomer
from tests.factories import StripeCustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_linked_customer_reads_the_users_link(rf: RequestFactory) -> None:
    link = StripeCustomerFactory(customer_id="cus_linked1")
    request = rf.get("/")
    request.user = link.user
    assert linked_customer(request) == "cus_linked1"


def test_linked_customer_is_none_without_a_link_or_a_user(rf: RequestFactory) -> None:
    request = rf.get("/")
    request.user = UserFactory()
    assert linked_customer(request) is None
    request.user = AnonymousUser()
    assert linked_customer(request) is None


def test_link_customer_creates_then_replaces_the_users_link() -> None:
    user = UserFactory()
    link_customer(user, "cus_first")
    link_customer(user, "cus_second")
    assert list(StripeCustomer.objects.values_list("customer_id", flat=True)) == ["cus_second"]
    assert StripeCustomer.objects.get().livemode is False
    with override_settings(STRIPE_PORTAL={"API_KEY": "sk_live_x"}):
        assert link_customer(user, "cus_third").livemode is True


@pytest.mark.parametrize("bad", ["", "sub_123", "cus_", "cus_12 3", "acct_", "acct_1 2"])
def test_link_customer_refuses_what_is_not_a_customer_id(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Stripe customer id"):
        link_customer(UserFactory(), bad)
