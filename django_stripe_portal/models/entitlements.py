"""The features each customer may use, as Stripe's Entitlements last summarized them."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ActiveEntitlements(models.Model):
    """One customer's active entitlements on one account and mode, kept from
    ``entitlements.active_entitlement_summary.updated``; never moved backwards.

    Stored by customer id, not by user: a summary for a customer no user is linked to
    yet is kept, and the access helpers find it once ``link_customer`` links one.
    """

    customer_id = models.CharField(max_length=255, help_text="cus_…")
    account = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The connected account (acct_…) this row lives on; empty for the platform",
    )
    livemode = models.BooleanField(default=False)
    lookup_keys = models.JSONField(
        default=list, blank=True, help_text="The active features' lookup keys, sorted"
    )
    event_created_at = models.DateTimeField(
        help_text="Stripe time of the summary that last wrote this row"
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("active entitlements")
        verbose_name_plural = _("active entitlements")
        constraints = [
            models.UniqueConstraint(
                fields=["customer_id", "account", "livemode"],
                name="stripe_portal_entitlements_cust",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {', '.join(self.lookup_keys) or '-'}"
