"""The year-long activity report and page read from indexes alone, on PostgreSQL.

* ``stripe_portal_sess_cust`` (customer, newest first) carries ``returned_at``,
  ``configuration`` and ``account``: ``activity.figures.visit_days`` reads a range's visits
  in its order, index-only (no new index: the customer's one widened).
* ``stripe_portal_evt_visit_change`` (the changes linked to visits) carries the cancellation
  feedback and the money columns: cancellation reasons and the money of the changes are
  read without the events' rows, whose payloads make them wide (no new index; the same
  entries, wider).
* ``stripe_portal_sess_offer``, new and partial: the visits that offered a retention coupon
  (a few in a hundred), for ``retention_offers``. Written on the redirect only.
* ``stripe_portal_evt_cancellation``, new and partial: the cancellations, linked to a visit
  or not, by time, with their money (``revenue_report``'s portal share, the page's weekly
  cancellations), which read the whole events table at a year. Another event enters it
  only as a check of its ``change_kind``.

Each is built once here. Written for PostgreSQL only, outside the model state, as 0010:
SQLite has no covering indexes and a year's report there is not a target."""

from typing import Any

from django.db import migrations, models

_VISIT_CHANGE = models.Q(portal_session__isnull=False) & ~models.Q(change_kind="")
_MONEY = [
    "cancel_feedback",
    "cancel_feedback_option",
    "cancel_feedback_option_label",
    "currency",
    "cancel_reason",
    "run_rate_before",
    "run_rate_after",
    "discount_cost",
]


def _session_indexes(covering: bool) -> list[models.Index]:
    return [
        models.Index(
            fields=["customer_id", "-created_at"],
            include=["returned_at", "configuration", "account"] if covering else None,
            name="stripe_portal_sess_cust",
        )
    ]


def _event_indexes(covering: bool) -> list[models.Index]:
    return [
        models.Index(
            fields=["created_at", "portal_session", "change_kind"],
            include=_MONEY if covering else None,
            name="stripe_portal_evt_visit_change",
            condition=_VISIT_CHANGE,
        )
    ]


_OFFERS = models.Index(
    fields=["created_at"],
    include=["id", "retention_coupon", "configuration", "account"],
    name="stripe_portal_sess_offer",
    condition=~models.Q(retention_coupon=""),
)
_CANCELLATIONS = models.Index(
    fields=["created_at"],
    include=["currency", "run_rate_before", "livemode", "account", "portal_session"],
    name="stripe_portal_evt_cancellation",
    condition=models.Q(change_kind__in=["canceled", "cancel_scheduled"]),
)


def _rebuild(covering: bool) -> Any:
    def rebuild(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        session = apps.get_model("django_stripe_portal", "PortalSession")
        event = apps.get_model("django_stripe_portal", "WebhookEvent")
        for model, indexes in ((session, _session_indexes), (event, _event_indexes)):
            for old, new in zip(indexes(not covering), indexes(covering), strict=True):
                schema_editor.remove_index(model, old)
                schema_editor.add_index(model, new)
        for model, index in ((session, _OFFERS), (event, _CANCELLATIONS)):
            if covering:
                schema_editor.add_index(model, index)
            else:
                schema_editor.remove_index(model, index)

    return rebuild


class Migration(migrations.Migration):
    dependencies = [
        ("django_stripe_portal", "0010_covering_run_rate"),
    ]

    operations = [
        migrations.RunPython(_rebuild(covering=True), _rebuild(covering=False)),
    ]
