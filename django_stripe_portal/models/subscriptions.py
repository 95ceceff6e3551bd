"""Subscription state kept from webhooks alone."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


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
    customer_account = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The Account (acct_…) standing for the customer (Accounts v2); empty for cus_…",
    )
    livemode = models.BooleanField(default=False)
    currency = models.CharField(
        max_length=3,
        blank=True,
        default="",
        help_text="Stripe's lowercase ISO code; empty: unknown",
    )
    monthly_amount = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Run rate per month in the currency's minor units, after the discounts the "
        "app knows of (0 while trialing, paused or ended; empty: the payloads cannot tell)",
    )
    run_rate_basis = models.JSONField(
        null=True,
        blank=True,
        help_text="What the run rate rests on (items' amounts per month, discounts), so that a "
        "discount learned later is applied without the payload",
    )
    event_created_at = models.DateTimeField(
        help_text="Stripe time of the event that last wrote this row"
    )
    event_stage = models.PositiveSmallIntegerField(
        default=1,
        help_text="Where the event that last wrote this row stands in a subscription's "
        "life (0 created, 1 changed, 2 deleted): decides a tie of the same second",
    )
    previous_status = models.CharField(
        max_length=30,
        blank=True,
        default="",
        help_text="The status that event's previous_attributes named (empty: unchanged)",
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("Stripe subscription")
        indexes = [
            # A customer's subscriptions; on PostgreSQL it also carries what the run rates
            # at stake read (activity.at_risk_money), so they come from the index alone
            # (migration 0010 adds the INCLUDE columns there: not declared here, since
            # SQLite has no covering indexes and Django would warn every SQLite project).
            models.Index(
                fields=["customer_id", "status"],
                name="stripe_portal_sub_cust",
            ),
            # Accounts v2 customers (django_stripe_portal.state.customers); partial: small.
            models.Index(
                fields=["customer_account"],
                name="stripe_portal_sub_cust_acct",
                condition=~models.Q(customer_account=""),
            ),
            # Customers at risk: live subscriptions that will cancel or cannot be paid
            # (django_stripe_portal.activity.at_risk); partial, so it holds only those;
            # the mode and account ride along (PostgreSQL, migration 0010) so the run rate
            # at stake finds its customers from the index alone.
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
