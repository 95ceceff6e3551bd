"""Migrations 0010's and 0011's covering indexes: on PostgreSQL the run rate at stake and
the year's activity are read from indexes alone; on SQLite nothing is declared that Django
would warn about (models.W040)."""

from __future__ import annotations

import pytest
from django.core import checks
from django.db import connection

pytestmark = pytest.mark.django_db


def test_postgresql_indexes_carry_the_run_rate_columns() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("covering indexes are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN "
            "('stripe_portal_sub_cust', 'stripe_portal_sub_at_risk')"
        )
        definitions = dict(cursor.fetchall())
    assert (
        "INCLUDE (currency, monthly_amount, livemode, account)"
        in (definitions["stripe_portal_sub_cust"])
    )
    assert "INCLUDE (livemode, account)" in definitions["stripe_portal_sub_at_risk"]


def test_postgresql_indexes_carry_the_activity_columns() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("covering indexes are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN "
            "('stripe_portal_sess_cust', 'stripe_portal_evt_visit_change', "
            "'stripe_portal_sess_offer', 'stripe_portal_evt_cancellation')"
        )
        definitions = dict(cursor.fetchall())
    assert (
        "INCLUDE (returned_at, configuration_id, account)"
        in (definitions["stripe_portal_sess_cust"])
    )
    assert (
        "INCLUDE (cancel_feedback, cancel_feedback_option, cancel_feedback_option_label, "
        + ("currency, cancel_reason, run_rate_before, run_rate_after, discount_cost)")
        in definitions["stripe_portal_evt_visit_change"]
    )
    assert (
        "WHERE (NOT ((retention_coupon)::text = ''::text))"
        in (definitions["stripe_portal_sess_offer"])
    )
    assert (
        "INCLUDE (currency, run_rate_before, livemode, account, portal_session_id)"
        in (definitions["stripe_portal_evt_cancellation"])
    )


def test_the_models_declare_no_index_sqlite_would_warn_about() -> None:
    messages = checks.run_checks(tags=[checks.Tags.models], databases=["default"])
    assert [m.id for m in messages if m.id == "models.W040"] == []
