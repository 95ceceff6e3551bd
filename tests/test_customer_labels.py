"""CUSTOMER_LABEL: people named by name, email or username; the id only where no user
is linked; one query for a whole list."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone

from django_stripe_portal.customer_labels import (
    customer_labels,
    default_customer_label,
    label_for_user,
)
from django_stripe_portal.customers import link_customer

pytestmark = pytest.mark.django_db


def _user(username: str, **fields: Any) -> Any:
    return get_user_model().objects.create_user(username=username, **fields)


def test_default_label_prefers_full_name_then_email_then_username() -> None:
    assert default_customer_label(_user("dana", first_name="Dana", last_name="Li")) == "Dana Li"
    assert default_customer_label(_user("bo", email="bo@example.com")) == "bo@example.com"
    assert default_customer_label(_user("cy")) == "cy"


def test_linked_customers_get_labels_and_unlinked_ones_keep_their_id(
    django_assert_num_queries: Any,
) -> None:
    link_customer(_user("dana", first_name="Dana", last_name="Li"), "cus_dana")
    link_customer(_user("bo", email="bo@example.com"), "cus_bo")
    with django_assert_num_queries(2):  # the links, then Accounts v2 links of the rest
        labels = customer_labels(["cus_dana", "cus_bo", "cus_nobody", ""])
    assert labels == {"cus_dana": "Dana Li", "cus_bo": "bo@example.com", "cus_nobody": "cus_nobody"}


def test_no_ids_no_query(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        assert customer_labels([]) == {}


def test_account_scopes_the_links() -> None:
    link_customer(_user("dana", first_name="Dana"), "cus_dana", account="acct_1")
    assert customer_labels(["cus_dana"], account="") == {"cus_dana": "cus_dana"}
    assert customer_labels(["cus_dana"], account="acct_1") == {"cus_dana": "Dana"}


def _shout(user: Any) -> str:
    return user.get_username().upper()


def _broken(user: Any) -> str:
    raise RuntimeError("host bug")


def test_a_custom_label_function_is_used() -> None:
    link_customer(_user("dana"), "cus_dana")
    with override_settings(STRIPE_PORTAL={"CUSTOMER_LABEL": f"{__name__}._shout"}):
        assert customer_labels(["cus_dana"]) == {"cus_dana": "DANA"}


def test_a_failing_label_function_falls_back_to_the_default() -> None:
    user = _user("dana", email="dana@example.com")
    with override_settings(STRIPE_PORTAL={"CUSTOMER_LABEL": f"{__name__}._broken"}):
        assert label_for_user(user) == "dana@example.com"


def test_every_id_linked_costs_one_query(django_assert_num_queries: Any) -> None:
    link_customer(_user("dana", first_name="Dana"), "cus_dana")
    with django_assert_num_queries(1):
        assert customer_labels(["cus_dana"]) == {"cus_dana": "Dana"}


def test_an_accounts_v2_customer_is_named_through_the_account_its_rows_name() -> None:
    from django_stripe_portal.models import StripeSubscription

    link_customer(_user("dana", first_name="Dana", last_name="Li"), "acct_dana")
    StripeSubscription.objects.create(
        stripe_id="sub_1",
        customer_id="cus_dana",
        customer_account="acct_dana",
        status="active",
        event_created_at=timezone.now(),
    )
    assert customer_labels(["cus_dana", "acct_dana"]) == {
        "cus_dana": "Dana Li",
        "acct_dana": "Dana Li",
    }
