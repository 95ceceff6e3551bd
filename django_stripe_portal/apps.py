from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StripePortalConfig(AppConfig):
    """Registers the system checks and the app's own signal receivers."""

    name = "django_stripe_portal"
    label = "django_stripe_portal"
    verbose_name = _("Stripe customer portal")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_stripe_portal import checks, conf  # noqa: F401  (registers checks, reload hook)
