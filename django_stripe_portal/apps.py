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
        # Importing checks and conf registers the checks and the settings reload hook.
        from django_stripe_portal import checks, conf, log_redaction  # noqa: F401

        log_redaction.install()  # portal session URLs never reach the logs
