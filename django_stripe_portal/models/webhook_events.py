"""Every verified Stripe event, stored once."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from django_stripe_portal.events import ChangeKind
from django_stripe_portal.models.sessions import PortalSession

#: The rows of ``stripe_portal_evt_unprocessed``: written as ``OR``ed equalities, which
#: SQLite (like PostgreSQL) proves ``status = …`` implies, so both use the partial index.
UNPROCESSED = models.Q(status="pending") | models.Q(status="failed") | models.Q(status="ignored")


class WebhookEvent(models.Model):
    """A verified Stripe event, stored exactly once by its ``evt_…`` id."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        PROCESSED = "processed", _("processed")
        FAILED = "failed", _("failed")
        IGNORED = "ignored", _("ignored")

    class ReceivedVia(models.TextChoices):
        WEBHOOK = "webhook", _("webhook delivery")
        EVENTS_API = "events_api", _("Events API catch-up")
        #: A thin notification of an event destination, the event fetched from the API.
        EVENT_DESTINATION = "event_destination", _("event destination (thin)")

    # Matched exactly only: on PostgreSQL migration 0012 drops the ``LIKE`` copy of its
    # unique index that Django adds (``…_like``), one index less for every insert.
    stripe_id = models.CharField(max_length=255, unique=True, help_text="evt_…")
    type = models.CharField(max_length=100)
    livemode = models.BooleanField(default=False)
    api_version = models.CharField(max_length=50, blank=True)
    account = models.CharField(max_length=255, blank=True, help_text="acct_… for Connect events")
    customer_id = models.CharField(
        max_length=255, blank=True, help_text="The customer the event is about, where it names one"
    )
    created_at = models.DateTimeField(help_text="Stripe's event time")
    received_at = models.DateTimeField(auto_now_add=True)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a failed event is tried again (task mode); empty when nothing will",
    )
    gave_up_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the last scheduled attempt failed and retries stopped (task mode)",
    )
    received_via = models.CharField(
        max_length=20, choices=ReceivedVia.choices, default=ReceivedVia.WEBHOOK
    )
    portal_session = models.ForeignKey(
        PortalSession,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
        # Most events link no visit: Django's own index would hold every row, NULL
        # included; the partial ``stripe_portal_evt_visit`` below holds the linked ones.
        db_index=False,
    )
    change_kind = models.CharField(
        max_length=30,
        choices=ChangeKind.choices,
        blank=True,
        help_text="What the event changed for the customer (empty: nothing the activity counts)",
    )
    # Money (docs/activity.md): written with the row at ingest, so that figures never
    # read payloads (which may be pruned).
    currency = models.CharField(max_length=3, blank=True, default="")
    run_rate_before = models.BigIntegerField(
        null=True, blank=True, help_text="The subscription's run rate per month before the event"
    )
    run_rate_after = models.BigIntegerField(
        null=True, blank=True, help_text="The subscription's run rate per month after the event"
    )
    discount_cost = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="What an accepted retention offer's coupon gives away over its duration",
    )
    cancel_reason = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="A cancellation's feedback (Stripe's) or custom feedback option (bfo_…)",
    )
    # Read by the figures and pages instead of the payload, which prune_stripe_events may
    # empty: written by the same INSERT as the row (docs/deployment.md, "Storage").
    cancel_feedback = models.CharField(
        max_length=50,
        blank=True,
        default="",
        help_text="The subscription's cancellation_details.feedback (Stripe's enum) at the event",
    )
    cancel_feedback_option = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The subscription's cancellation_details.feedback_option (bfo_…) at the event",
    )
    cancel_feedback_option_label = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="That option's description, when the event sent it expanded",
    )

    class Meta:
        verbose_name = _("webhook event")
        indexes = [
            models.Index(fields=["type", "-created_at"], name="stripe_portal_evt_type"),
            # Recovery, health and the admin's status filter: every event not processed.
            # Partial, so a processed event (nearly every one) never enters it.
            models.Index(
                fields=["status", "created_at"],
                name="stripe_portal_evt_unprocessed",
                condition=UNPROCESSED,
            ),
            # Recovery: failed events whose next attempt is due (partial: stays small).
            models.Index(
                fields=["next_attempt_at"],
                name="stripe_portal_evt_due",
                condition=models.Q(next_attempt_at__isnull=False),
            ),
            models.Index(fields=["created_at"], name="stripe_portal_evt_created"),
            models.Index(fields=["customer_id", "-created_at"], name="stripe_portal_evt_cust"),
            # Activity figures: the changes linked to visits, read by time
            # (django_stripe_portal.activity.linked_changes); partial, so it stays small.
            models.Index(
                fields=["created_at", "portal_session", "change_kind"],
                name="stripe_portal_evt_visit_change",
                condition=models.Q(portal_session__isnull=False) & ~models.Q(change_kind=""),
            ),
            # A visit's own events (its admin page, the at-risk and retention probes, a
            # customer's history) and SET_NULL when a visit is deleted: linked rows only.
            models.Index(
                fields=["portal_session"],
                name="stripe_portal_evt_visit",
                condition=models.Q(portal_session__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_id} {self.type} ({self.status})"
