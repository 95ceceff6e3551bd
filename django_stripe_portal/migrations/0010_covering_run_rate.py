"""The run rate at stake read from indexes alone, on PostgreSQL: ``stripe_portal_sub_cust``
carries currency, monthly_amount, mode and account (no new index: the customer's one
widened), the partial ``stripe_portal_sub_at_risk`` carries mode and account. Each is
rebuilt once here (about a second at 250,000 subscriptions).

Written for PostgreSQL only, outside the model state: SQLite has no covering indexes, and
declaring ``include`` on the models would warn every SQLite project (``models.W040``)."""

from typing import Any

from django.db import migrations, models

_AT_RISK = models.Q(
    models.Q(cancel_at_period_end=True)
    | models.Q(cancel_at__isnull=False)
    | models.Q(status__in=["past_due", "unpaid", "incomplete"])
) & ~models.Q(status__in=["canceled", "incomplete_expired"])


def _indexes(covering: bool) -> list[models.Index]:
    return [
        models.Index(
            fields=["customer_id", "status"],
            include=["currency", "monthly_amount", "livemode", "account"] if covering else None,
            name="stripe_portal_sub_cust",
        ),
        models.Index(
            fields=["customer_id"],
            include=["livemode", "account"] if covering else None,
            condition=_AT_RISK,
            name="stripe_portal_sub_at_risk",
        ),
    ]


def _rebuild(covering: bool) -> Any:
    def rebuild(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        model = apps.get_model("django_stripe_portal", "StripeSubscription")
        for old, new in zip(_indexes(not covering), _indexes(covering), strict=True):
            schema_editor.remove_index(model, old)
            schema_editor.add_index(model, new)

    return rebuild


class Migration(migrations.Migration):
    dependencies = [
        ("django_stripe_portal", "0009_payload_columns"),
    ]

    operations = [
        migrations.RunPython(_rebuild(covering=True), _rebuild(covering=False)),
    ]
