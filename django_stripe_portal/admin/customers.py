"""The user ↔ customer links: the one table of the app that is ours to edit."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from django_stripe_portal.admin.records import (
    AccountColumn,
    AccountFilter,
    SafeListQuery,
    short_date,
)
from django_stripe_portal.customer_labels import label_for_user
from django_stripe_portal.customer_search import person_fields
from django_stripe_portal.models import StripeCustomer


@admin.register(StripeCustomer)
class StripeCustomerAdmin(SafeListQuery, AccountColumn, admin.ModelAdmin):  # type: ignore[type-arg]
    """The user ↔ customer links the default resolver reads: ours to edit."""

    # The columns that fit a 1280 px window beside the filters; the rest is on the page.
    list_display = ("person", "customer_id", "stripe_account", "linked")
    list_display_links = ("person",)
    list_filter = ("livemode", AccountFilter)
    list_select_related = ("user",)
    search_help_text = _("A person's name, email or username, or an exact customer id (cus_…).")
    raw_id_fields = ("user",)
    readonly_fields = ("created",)
    show_full_result_count = False

    class Media:
        css = {"all": ("django_stripe_portal/admin/lists.css",)}

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return ("=customer_id", *(f"user__{name}" for name in person_fields()))

    @admin.display(description=_("person"), ordering="user__username")
    def person(self, obj: StripeCustomer) -> str:
        """``CUSTOMER_LABEL``: the user was read in the same query (list_select_related)."""
        return label_for_user(obj.user)

    @admin.display(description=_("linked"), ordering="created")
    def linked(self, obj: StripeCustomer) -> str:
        return short_date(obj.created)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, object],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Model | None = None,
    ) -> HttpResponse:
        if isinstance(obj, StripeCustomer):
            context["subtitle"] = label_for_user(obj.user)
        return super().render_change_form(request, context, add, change, form_url, obj)
