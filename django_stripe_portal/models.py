"""What the app remembers of Stripe: customers, configurations, portal visits,
subscription state and webhook events.

Times named ``created_at`` / ``event_created_at`` are Stripe's (from the object
or event), not the time the row was written.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from django_stripe_portal.events import ChangeKind


class StripeCustomer(models.Model):
    """Links a user to their Stripe customer, one per account (the platform, or each
    connected account the user is a customer on); read by the default customer resolver."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="stripe_customers",
    )
    customer_id = models.CharField(max_length=255, help_text="cus_…")
    account = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The connected account (acct_…) this row lives on; empty for the platform",
    )
    livemode = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("Stripe customer")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "account"], name="stripe_portal_customer_user_account"
            ),
            models.UniqueConstraint(
                fields=["account", "customer_id"], name="stripe_portal_customer_id_account"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} ({self.user})"


class PortalConfiguration(models.Model):
    """A portal configuration declared in ``STRIPE_PORTAL['CONFIGURATIONS']`` and synced."""

    key = models.CharField(max_length=100, help_text="The key in STRIPE_PORTAL['CONFIGURATIONS']")
    stripe_id = models.CharField(max_length=255, unique=True, help_text="bpc_…")
    livemode = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)
    definition_hash = models.CharField(max_length=64, blank=True)
    stripe_data = models.JSONField(default=dict, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    account = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The connected account (acct_…) this row lives on; empty for the platform",
    )

    class Meta:
        verbose_name = _("portal configuration")
        constraints = [
            # Test mode and live mode, and each account, hold their own configuration
            # under the same key.
            models.UniqueConstraint(
                fields=["key", "livemode", "account"], name="stripe_portal_config_key_mode_acct"
            ),
        ]

    def __str__(self) -> str:
        mode = "live" if self.livemode else "test"
        return f"{self.key} ({self.stripe_id}, {mode})"


class PortalSession(models.Model):
    """One portal visit. The session URL is a bearer credential and is never stored."""

    class Source(models.TextChoices):
        APP = "app", _("created by this app")
        WEBHOOK = "webhook", _("seen in a webhook")

    stripe_id = models.CharField(max_length=255, unique=True, help_text="bps_…")
    customer_id = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="portal_sessions",
    )
    configuration = models.ForeignKey(
        PortalConfiguration,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sessions",
    )
    flow_type = models.CharField(max_length=40, blank=True)
    return_to = models.CharField(max_length=2000, blank=True)
    locale = models.CharField(max_length=20, blank=True)
    livemode = models.BooleanField(default=False)
    created_at = models.DateTimeField(help_text="Stripe's creation time")
    returned_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.APP)
    #: The coupon offered in this visit's cancel flow (Stripe's retention offer); "" for none.
    retention_coupon = models.CharField(max_length=255, blank=True, default="")
    account = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The connected account (acct_…) this row lives on; empty for the platform",
    )
    # Random key the signed return link names: the link is part of the create request,
    # so it cannot carry the bps_ id Stripe has not assigned yet. Empty for webhook-only rows.
    return_key = models.CharField(max_length=64, blank=True, default="", editable=False)

    class Meta:
        verbose_name = _("portal session")
        constraints = [
            models.UniqueConstraint(
                fields=["return_key"],
                condition=~models.Q(return_key=""),
                name="stripe_portal_sess_return_key",
            ),
        ]
        indexes = [
            # Linking a change event to the visit it came from.
            models.Index(fields=["customer_id", "-created_at"], name="stripe_portal_sess_cust"),
            # Activity figures by day (django_stripe_portal.activity): every column those
            # queries read is in the key, so they scan the range's slice of this index only.
            models.Index(
                fields=["created_at", "customer_id", "returned_at", "configuration", "id"],
                name="stripe_portal_sess_created",
            ),
            # Customers at risk: the cancel-flow visits of the last days (partial: small).
            models.Index(
                fields=["created_at"],
                name="stripe_portal_sess_cancelflow",
                condition=models.Q(flow_type="subscription_cancel"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_id} ({self.customer_id})"


class StripeSubscription(models.Model):
    """Subscription state as the webhooks last told it; never moved backwards."""

    stripe_id = models.CharField(max_length=255, unique=True, help_text="sub_…")
    customer_id = models.CharField(max_length=255)
    status = models.CharField(max_length=30)
    items = models.JSONField(
        default=list, blank=True, help_text="[{id, price, quantity}] per subscription item"
    )
    cancel_at_period_end = models.BooleanField(default=False)
    cancel_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancellation_details = models.JSONField(default=dict, blank=True)
    pause_collection = models.JSONField(
        null=True,
        blank=True,
        help_text="Stripe's pause_collection (behavior, resumes_at); empty when not paused",
    )
    account = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The connected account (acct_…) this row lives on; empty for the platform",
    )
    livemode = models.BooleanField(default=False)
    event_created_at = models.DateTimeField(
        help_text="Stripe time of the event that last wrote this row"
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("Stripe subscription")
        indexes = [
            models.Index(fields=["customer_id", "status"], name="stripe_portal_sub_cust"),
            # Customers at risk: live subscriptions that will cancel or cannot be paid
            # (django_stripe_portal.activity.at_risk); partial, so it holds only those.
            models.Index(
                fields=["customer_id"],
                name="stripe_portal_sub_at_risk",
                condition=(
                    models.Q(cancel_at_period_end=True)
                    | models.Q(cancel_at__isnull=False)
                    | models.Q(status__in=["past_due", "unpaid", "incomplete"])
                )
                & ~models.Q(status__in=["canceled", "incomplete_expired"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_id} ({self.status})"

    @property
    def price_ids(self) -> list[str]:
        return [str(item.get("price")) for item in self.items]


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
        max_length=12, choices=ReceivedVia.choices, default=ReceivedVia.WEBHOOK
    )
    portal_session = models.ForeignKey(
        PortalSession,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
    )
    change_kind = models.CharField(
        max_length=30,
        choices=ChangeKind.choices,
        blank=True,
        help_text="What the event changed for the customer (empty: nothing the activity counts)",
    )

    class Meta:
        verbose_name = _("webhook event")
        indexes = [
            models.Index(fields=["type", "-created_at"], name="stripe_portal_evt_type"),
            models.Index(fields=["status", "created_at"], name="stripe_portal_evt_status"),
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
        ]

    def __str__(self) -> str:
        return f"{self.stripe_id} {self.type} ({self.status})"
