"""``id_lists.field_in``: the same rows as ``field__in`` whatever form the list is sent in
(one split string on PostgreSQL, an array when an id holds the separator, ``IN`` else)."""

from __future__ import annotations

import pytest
from django.db import router

from django_stripe_portal.id_lists import field_in
from django_stripe_portal.models import StripeSubscription
from tests.factories import StripeSubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "wanted",
    [
        [],
        ["cus_a"],
        ["cus_a", "cus_c", "cus_absent"],
        ["cus_a", "cus,b"],  # a comma: not split in two
        ["cus"],  # a prefix of ids matches none of them
    ],
)
def test_field_in_finds_exactly_the_ids_given(wanted: list[str]) -> None:
    for customer in ("cus_a", "cus,b", "cus_c", "cus_d"):
        StripeSubscriptionFactory(customer_id=customer)
    using = router.db_for_read(StripeSubscription)
    found = StripeSubscription.objects.filter(field_in("customer_id", wanted, using=using))
    expected = StripeSubscription.objects.filter(customer_id__in=wanted)
    assert sorted(found.values_list("customer_id", flat=True)) == sorted(
        expected.values_list("customer_id", flat=True)
    )
    assert set(found.values_list("customer_id", flat=True)) == set(wanted) & {
        "cus_a",
        "cus,b",
        "cus_c",
        "cus_d",
    }
