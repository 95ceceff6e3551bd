"""One-statement writes: insert-unless-exists and upsert, each a single round trip."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from django_stripe_portal.models import PortalSession
from django_stripe_portal.single_statement import insert_unless_exists, upsert

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = ["customer_id", "return_to", "source"]


def _session(**values: Any) -> PortalSession:
    return PortalSession(
        stripe_id="bps_single", customer_id="cus_1", created_at=timezone.now(), **values
    )


def test_upsert_inserts_then_updates_the_same_row_in_one_statement_each(
    django_assert_num_queries: Any,
) -> None:
    with django_assert_num_queries(1):
        (first_pk,) = upsert(
            _session(source="webhook"), unique_fields=["stripe_id"], update_fields=FIELDS
        )
    with django_assert_num_queries(1) as captured:
        (second_pk,) = upsert(
            _session(source="app", return_to="/account/"),
            unique_fields=["stripe_id"],
            update_fields=FIELDS,
        )
    assert first_pk == second_pk
    assert "ON CONFLICT" in captured.captured_queries[0]["sql"].upper()
    row = PortalSession.objects.get()
    assert (row.pk, row.source, row.return_to) == (first_pk, "app", "/account/")


def test_insert_unless_exists_keeps_the_first_row() -> None:
    assert insert_unless_exists(_session(return_to="/first/")) is not None
    assert insert_unless_exists(_session(return_to="/second/")) is None
    assert PortalSession.objects.get().return_to == "/first/"
