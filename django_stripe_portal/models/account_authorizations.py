"""Whether the platform may act for each connected account, kept as state of its own."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AccountAuthorization(models.Model):
    """The latest ``account.application.*`` event of one connected account.

    State of its own, not read from ``WebhookEvent`` rows, so that pruning old events
    (docs/deployment.md) never gives a disconnected merchant's customers access again.
    """

    account = models.CharField(max_length=255, unique=True, help_text="acct_…")
    authorized = models.BooleanField(
        help_text="False once the account disconnected from the platform "
        "(account.application.deauthorized), True again once it authorized it"
    )
    event_created_at = models.DateTimeField(
        help_text="Stripe time of the event that last wrote this row"
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("connected account authorization")

    def __str__(self) -> str:
        return f"{self.account} ({'authorized' if self.authorized else 'deauthorized'})"
