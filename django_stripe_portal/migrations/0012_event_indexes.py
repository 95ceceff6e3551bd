"""Cheaper event inserts (issue 23): the row of a processed event that links no visit
(nearly every row) enters five indexes instead of eight.

- ``stripe_portal_evt_status`` (every row) becomes ``stripe_portal_evt_unprocessed``, the
  same columns for the ``pending``, ``failed`` and ``ignored`` rows only: what recovery,
  health and the admin's status filter read.
- Django's index of the ``portal_session`` foreign key (every row, NULL included) becomes
  ``stripe_portal_evt_visit``, the linked rows only. The field's ``db_index`` is switched
  off in the model state alone and its index dropped here: Django's own ``AlterField``
  would drop and re-add the foreign key constraint (checking every row again, under a
  lock, on PostgreSQL) and copy the whole table on SQLite.
- PostgreSQL only: the ``varchar_pattern_ops`` copy of the ``stripe_id`` unique index that
  Django adds for ``LIKE`` lookups goes. Nothing searches event ids by pattern (the
  admin matches them exactly, through the unique index). A later migration that alters
  ``stripe_id`` would make Django add it again: drop it there too.

The new indexes are built before the old ones go, so every reader keeps an index
meanwhile. Building them reads the table once each, while inserts wait (PostgreSQL's
``CREATE INDEX`` without ``CONCURRENTLY``): under a second for 400,000 events, figures in
docs/deployment.md.
"""

from typing import Any

import django.db.models.deletion
from django.db import migrations, models

VISIT_INDEX = "stripe_portal_evt_visit"


def _plain_indexes(schema_editor: Any, model: Any, column: str) -> list[str]:
    """Indexes of ``column`` alone that back no constraint and that no model declares:
    the ones Django makes by itself for a field (``db_index``, PostgreSQL's ``_like``)."""
    declared = {index.name for index in model._meta.indexes} | {VISIT_INDEX}
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return [
        name
        for name, details in constraints.items()
        if details["columns"] == [column]
        and details["index"]
        and not details["unique"]
        and not details["primary_key"]
        and not details["foreign_key"]
        and name not in declared
    ]


def _drop(column: str, field_name: str) -> Any:
    def drop(apps: Any, schema_editor: Any) -> None:
        model = apps.get_model("django_stripe_portal", "WebhookEvent")
        for name in _plain_indexes(schema_editor, model, column):
            schema_editor.remove_index(model, models.Index(fields=[field_name], name=name))

    return drop


def _restore_foreign_key_index(apps: Any, schema_editor: Any) -> None:
    """Django's own index of the foreign key, named as ``db_index`` names it."""
    model = apps.get_model("django_stripe_portal", "WebhookEvent")
    field = model._meta.get_field("portal_session")
    schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


def _restore_like_index(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    model = apps.get_model("django_stripe_portal", "WebhookEvent")
    statement = schema_editor._create_like_index_sql(model, model._meta.get_field("stripe_id"))
    if statement is not None:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("django_stripe_portal", "0011_activity_year"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="webhookevent",
            index=models.Index(
                condition=models.Q(("portal_session__isnull", False)),
                fields=["portal_session"],
                name=VISIT_INDEX,
            ),
        ),
        migrations.AddIndex(
            model_name="webhookevent",
            index=models.Index(
                condition=models.Q(
                    ("status", "pending"),
                    ("status", "failed"),
                    ("status", "ignored"),
                    _connector="OR",
                ),
                fields=["status", "created_at"],
                name="stripe_portal_evt_unprocessed",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="webhookevent",
                    name="portal_session",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="events",
                        to="django_stripe_portal.portalsession",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(
                    _drop("portal_session_id", "portal_session"), _restore_foreign_key_index
                ),
            ],
        ),
        migrations.RunPython(_drop("stripe_id", "stripe_id"), _restore_like_index),
        migrations.RemoveIndex(
            model_name="webhookevent",
            name="stripe_portal_evt_status",
        ),
    ]
