from __future__ import annotations

from django.apps import AppConfig, apps
from django.utils.translation import gettext_lazy as _

#: The admin index with the way to the "Portal activity" page on it.
ADMIN_INDEX_TEMPLATE = "admin/django_stripe_portal/index.html"


class StripePortalConfig(AppConfig):
    """Registers the system checks and the app's own signal receivers, and puts the
    "Portal activity" page on the admin index."""

    name = "django_stripe_portal"
    label = "django_stripe_portal"
    verbose_name = _("Stripe customer portal")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing checks and conf registers the checks and the settings reload hook.
        from django_stripe_portal import checks, conf, database_checks, log_redaction  # noqa: F401

        log_redaction.install()  # portal session URLs never reach the logs
        _link_activity_from_the_admin_index()


def _link_activity_from_the_admin_index() -> None:
    """The default admin site's index shows the "Portal activity" page first, unless the
    project chose its own index template (docs/admin.md says what to include in it)."""
    if not apps.is_installed("django.contrib.admin"):
        return
    from django.contrib import admin

    if admin.site.index_template is None:
        admin.site.index_template = ADMIN_INDEX_TEMPLATE
