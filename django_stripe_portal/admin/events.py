"""Every verified event as received, with its processing state, and the replay action."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from django_stripe_portal import labels
from django_stripe_portal.admin.people import PeopleAdmin
from django_stripe_portal.admin.records import (
    AccountFilter,
    ChoicesFilter,
    pretty_json,
    short_datetime,
)
from django_stripe_portal.events import CONNECT_ENDPOINT_EVENTS
from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.webhooks.health import webhook_health
from django_stripe_portal.webhooks.process import PRUNED_NOTE, Outcome, process_stored_event

#: The replay action dispatches at most this many events in one request; more is a
#: job for ``manage.py replay_stripe_events``.
MAX_REPLAY = 100


class EventTypeFilter(ChoicesFilter):
    title = _("type")
    parameter_name = "type"
    field_name = "type"
    choices_list = CONNECT_ENDPOINT_EVENTS  # the handled types and the Connect ones

    def label_of(self, value: str) -> str:
        return _breakable(value)


def _breakable(event_type: str) -> SafeString:
    """``customer.subscription.updated`` may wrap after a dot, never inside a word."""
    return format_html_join(mark_safe(".<wbr>"), "{}", ((part,) for part in event_type.split(".")))


class RetryStateFilter(admin.SimpleListFilter):
    """Task mode's retry schedule: what will be tried again, what gave up."""

    title = _("retries")
    parameter_name = "retries"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("scheduled", _("next attempt scheduled")), ("gave_up", _("gave up"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        failed = queryset.filter(status=WebhookEvent.Status.FAILED)
        if self.value() == "scheduled":
            return failed.filter(next_attempt_at__isnull=False)
        if self.value() == "gave_up":
            return failed.filter(gave_up_at__isnull=False)
        return queryset


@admin.register(WebhookEvent)
class WebhookEventAdmin(PeopleAdmin):
    """Every verified event as received, with its processing state."""

    # The columns that fit a 1280 px window beside the filters; the rest is on the event.
    # Customers are found by searching their name, email or id.
    list_display = ("created", "event", "customer", "processing", "visit")
    list_display_links = ("created",)
    list_filter = (
        "status",
        RetryStateFilter,
        EventTypeFilter,
        "change_kind",
        "received_via",
        "livemode",
        AccountFilter,
    )
    ordering = ("-created_at", "-pk")
    actions = ("replay_events",)
    fields = (
        "stripe_id",
        "type",
        "status",
        "change_kind",
        "customer_with_id",
        "portal_session",
        "livemode",
        "api_version",
        "account",
        "created_at",
        "received_at",
        "processed_at",
        "received_via",
        "attempts",
        "next_attempt_at",
        "gave_up_at",
        "last_error",
        "payload_formatted",
    )
    readonly_fields = fields

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The list, with the health figures a monitor reads (check_stripe_webhooks) on top."""
        context = {**(extra_context or {}), "webhook_health": webhook_health()}
        return super().changelist_view(request, extra_context=context)

    def page_subtitle(self, obj: WebhookEvent) -> str:
        what = f"{obj.type}, {short_datetime(obj.created_at)}"
        if not obj.customer_id:
            return what
        return f"{super().page_subtitle(obj)}: {what}"

    @admin.display(description=_("created"), ordering="created_at")
    def created(self, obj: WebhookEvent) -> str:
        return short_datetime(obj.created_at)

    @admin.display(description=_("event"), ordering="type")
    def event(self, obj: WebhookEvent) -> SafeString:
        """Stripe's type, and under it what the event changed for the customer, in words."""
        change = labels.change_kind_label(obj.change_kind)
        if not change:
            return format_html('<code class="event-type">{}</code>', _breakable(obj.type))
        return format_html(
            '<code class="event-type">{}</code><br><span class="change">{}</span>',
            _breakable(obj.type),
            change,
        )

    @admin.display(description=_("status"), ordering="status")
    def processing(self, obj: WebhookEvent) -> str:
        """The status in words, with the attempts when there was more than one."""
        status = str(obj.get_status_display())
        if obj.attempts > 1:
            return str(_("%(status)s, %(attempts)d attempts")) % {
                "status": status,
                "attempts": obj.attempts,
            }
        return status

    @admin.display(description=_("visit"))
    def visit(self, obj: WebhookEvent) -> str:
        """A link by id: the list page does not join the sessions table."""
        if obj.portal_session_id is None:
            return "-"
        url = reverse(
            f"{self.admin_site.name}:django_stripe_portal_portalsession_change",
            args=[obj.portal_session_id],
        )
        return format_html('<a href="{}">{}</a>', url, _("visit"))

    @admin.display(description=_("payload"))
    def payload_formatted(self, obj: WebhookEvent) -> SafeString:
        return pretty_json(obj.payload)

    def has_replay_permission(self, request: HttpRequest) -> bool:
        """Replaying writes state: it needs the change permission the pages do not use."""
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(description=_("Replay selected events"), permissions=["replay"])
    def replay_events(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        """Dispatch the selected events again, whatever their status, exactly as
        ``manage.py replay_stripe_events --id …`` does (same row lock)."""
        selected = list(
            queryset.order_by("created_at", "pk").values_list("stripe_id", flat=True)[
                : MAX_REPLAY + 1
            ]
        )
        if len(selected) > MAX_REPLAY:
            self.message_user(
                request,
                _(
                    "Select at most %(max)d events to replay here; for more, run "
                    "manage.py replay_stripe_events."
                )
                % {"max": MAX_REPLAY},
                messages.ERROR,
            )
            return
        outcomes = Counter(
            process_stored_event(stripe_id, nowait=True, statuses=WebhookEvent.Status.values)
            for stripe_id in selected
        )
        summary = ", ".join(f"{count} {outcome.value}" for outcome, count in outcomes.items())
        failed = outcomes[Outcome.FAILED] + outcomes[Outcome.BUSY] + outcomes[Outcome.PRUNED]
        self.message_user(
            request,
            _("Replayed %(count)d event(s): %(summary)s.")
            % {"count": len(selected), "summary": summary},
            messages.WARNING if failed else messages.SUCCESS,
        )
        if outcomes[Outcome.PRUNED]:
            self.message_user(request, PRUNED_NOTE, messages.WARNING)
