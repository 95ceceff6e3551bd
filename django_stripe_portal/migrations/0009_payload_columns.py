"""The cancellation feedback as columns of ``WebhookEvent`` (the figures read them instead
of the payload, which ``prune_stripe_events`` may empty), filled for the stored change events
in batches (``storage.columns.backfill_payload_columns``). Not atomic: each batch commits and
no lock outlives it."""

from django.db import migrations, models


def fill(apps, schema_editor):
    from django_stripe_portal.storage.columns import backfill_payload_columns

    backfill_payload_columns(apps.get_model("django_stripe_portal", "WebhookEvent"))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("django_stripe_portal", "0008_run_rate_backfill"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookevent",
            name="cancel_feedback",
            field=models.CharField(
                blank=True,
                default="",
                help_text="The subscription's cancellation_details.feedback (Stripe's enum) at the event",
                max_length=50,
            ),
        ),
        migrations.AddField(
            model_name="webhookevent",
            name="cancel_feedback_option",
            field=models.CharField(
                blank=True,
                default="",
                help_text="The subscription's cancellation_details.feedback_option (bfo_…) at the event",
                max_length=255,
            ),
        ),
        migrations.AddField(
            model_name="webhookevent",
            name="cancel_feedback_option_label",
            field=models.CharField(
                blank=True,
                default="",
                help_text="That option's description, when the event sent it expanded",
                max_length=255,
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
