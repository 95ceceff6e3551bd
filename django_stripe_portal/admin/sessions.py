"""Portal visits, each with the changes linked to it; the list links to the activity page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _

from django_stripe_portal.admin.activity_page import activity_view
from django_stripe_portal.admin.at_risk_page import at_risk_view
from django_stripe_portal.admin.records import ChoicesFilter, ReadOnly, StripeRecordAdmin
from django_stripe_portal.models import PortalSession, WebhookEvent
from django_stripe_portal.portal.button_form import FLOW_TYPES


class FlowTypeFilter(ChoicesFilter):
    title = _("flow")
    parameter_name = "flow_type"
    field_name = "flow_type"
    choices_list = FLOW_TYPES


class ReturnedFilter(admin.SimpleListFilter):
    title = _("came back")
    parameter_name = "returned"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("yes")), ("no", _("no"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            return queryset.filter(returned_at__isnull=self.value() == "no")
        return queryset


class LinkedChangeInline(ReadOnly, admin.TabularInline):  # type: ignore[type-arg]
    """The events the dispatcher linked to this visit: what the customer did."""

    model = WebhookEvent
    fk_name = "portal_session"
    verbose_name = _("linked change")
    verbose_name_plural = _("changes made during this visit")
    fields = ("stripe_id", "type", "change_kind", "created_at", "cancellation_feedback")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEvent]:
        events: QuerySet[WebhookEvent] = super().get_queryset(request)
        return (
            events.defer("payload")
            .annotate(feedback=F("payload__data__object__cancellation_details__feedback"))
            .order_by("created_at", "pk")
        )

    @admin.display(description=_("cancellation feedback"))
    def cancellation_feedback(self, obj: WebhookEvent) -> str:
        return str(getattr(obj, "feedback", None) or "")


@admin.register(PortalSession)
class PortalSessionAdmin(StripeRecordAdmin):
    """Portal visits, each with the changes linked to it; also serves the activity page."""

    list_display = (
        "stripe_id",
        "customer_id",
        "created_at",
        "returned_at",
        "configuration",
        "flow_type",
        "source",
        "livemode",
    )
    list_select_related = ("configuration",)
    list_filter = (ReturnedFilter, "source", "livemode", FlowTypeFilter, "configuration")
    ordering = ("-created_at",)
    fields = (
        "stripe_id",
        "customer_id",
        "user",
        "configuration",
        "flow_type",
        "retention_coupon",
        "locale",
        "return_to",
        "livemode",
        "source",
        "created_at",
        "returned_at",
    )
    readonly_fields = fields
    inlines = (LinkedChangeInline,)

    def get_urls(self) -> list[URLPattern]:
        activity_view = self.admin_site.admin_view(self.activity_view)
        custom = [
            path("activity/", activity_view, name="django_stripe_portal_portalsession_activity"),
            path(
                "at-risk/",
                self.admin_site.admin_view(self.at_risk_view),
                name="django_stripe_portal_portalsession_at_risk",
            ),
        ]
        return custom + super().get_urls()

    def activity_view(self, request: HttpRequest) -> HttpResponse:
        return activity_view(self, request)

    def at_risk_view(self, request: HttpRequest) -> HttpResponse:
        return at_risk_view(self, request)
