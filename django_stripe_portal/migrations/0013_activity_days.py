"""Settled days of portal activity (``activity.settled``): a year's report reads a row a
day for the weeks nothing can change any more, instead of every visit and change. The
table starts empty; the first report over old weeks sums them (about 6 s for a year at
1M visits), or run ``manage.py portal_activity --days 365`` once after upgrading.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("django_stripe_portal", "0012_event_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="ActivityDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("time_zone", models.CharField(max_length=64)),
                ("day", models.DateField()),
                ("version", models.PositiveSmallIntegerField()),
                ("visits", models.PositiveIntegerField(default=0)),
                ("returned", models.PositiveIntegerField(default=0)),
                ("customers", models.PositiveIntegerField(default=0)),
                ("last_of_week", models.PositiveIntegerField(default=0)),
                ("first_visit_gaps", models.JSONField(default=dict)),
                ("changes", models.JSONField(default=dict)),
                ("cancellation_reasons", models.JSONField(default=list)),
                ("retention_offers", models.JSONField(default=dict)),
                ("movements", models.JSONField(default=list)),
                ("cancellations", models.JSONField(default=dict)),
            ],
            options={
                "verbose_name": "settled activity day",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("time_zone", "version", "day"), name="stripe_portal_activity_day"
                    )
                ],
            },
        ),
    ]
