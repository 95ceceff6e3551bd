"""Portal visits: one row a session, from the click or from its webhook."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from django_stripe_portal.models.configurations import PortalConfiguration


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
    customer_account = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The Account (acct_…) standing for the customer (Accounts v2); empty for cus_…",
    )
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
            # Accounts v2 customers (django_stripe_portal.state.customers); partial: small.
            models.Index(
                fields=["customer_account"],
                name="stripe_portal_sess_cust_acct",
                condition=~models.Q(customer_account=""),
            ),
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
