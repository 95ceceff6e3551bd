"""Portal configurations as this app last synced them."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


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
