"""``{% load stripe_portal_admin %}``: the app's own admin pages ("Portal activity",
"Customers at risk") as rows of its section on the admin index, where staff look."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.translation import gettext as _

register = template.Library()

APP_LABEL = "django_stripe_portal"
#: Who may open the pages: the same permission their views ask for.
PAGES_PERMISSION = f"{APP_LABEL}.view_portalsession"


@register.simple_tag(takes_context=True)
def with_portal_pages(context: template.Context, app_list: list[dict[str, Any]]) -> list[Any]:
    """``app_list`` with the app's pages first in its own section (one section, not a
    second one of the same name), for staff who may view portal sessions."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.has_perm(PAGES_PERMISSION):
        return app_list
    pages = [
        _page(_("Portal activity"), "portalactivity", "portalsession_activity"),
        _page(_("Customers at risk"), "customersatrisk", "portalsession_at_risk"),
    ]
    return [
        {**app, "models": [*pages, *app["models"]]} if app.get("app_label") == APP_LABEL else app
        for app in app_list
    ]


def _page(name: str, object_name: str, url_name: str) -> dict[str, Any]:
    """A row shaped like the admin's model rows (``admin/app_list.html`` reads these)."""
    return {
        "name": name,
        "object_name": object_name,
        "admin_url": reverse(f"admin:{APP_LABEL}_{url_name}"),
        "add_url": None,
        "view_only": True,
        "perms": {"view": True, "add": False, "change": False, "delete": False},
    }
