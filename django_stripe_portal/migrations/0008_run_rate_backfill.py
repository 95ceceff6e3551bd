"""Fill the run rate of the subscriptions stored before 0007, from the newest stored
payload of each (never from the network), in batches: see
``django_stripe_portal.webhooks.run_rate_backfill``. Not atomic, so each batch commits
and no lock outlives it; ``manage.py backfill_run_rate`` runs the same again."""

import sys

from django.db import migrations


def fill(apps, schema_editor):
    from django_stripe_portal.webhooks.run_rate_backfill import backfill_run_rates

    result = backfill_run_rates(
        apps.get_model("django_stripe_portal", "StripeSubscription"),
        apps.get_model("django_stripe_portal", "WebhookEvent"),
        apps.get_model("django_stripe_portal", "StripeDiscount"),
    )
    if result.filled or result.not_filled:
        sys.stdout.write(
            f"\n  Run rate filled for {result.filled} subscription(s); "
            f"{result.not_filled} could not be filled from the stored payloads "
            "(see docs/activity.md).\n"
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("django_stripe_portal", "0007_money"),
    ]

    operations = [
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
