"""Every verified event as received, with its processing state, and the replay action."""

from __future__ import annotations

from collections import Counter

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from django_stripe_portal.admin.records import ChoicesFilter, StripeRecordAdmin, pretty_json
from django_stripe_portal.events import HANDLED_EVENTS
from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.webhooks.process import Outcome, process_stored_event

#: The replay action dispatches at most this many events in one request; more is a
#: job for ``manage.py replay_stripe_events``.
MAX_REPLAY = 100


class EventTypeFilter(ChoicesFilter):
    title = _("type")
    parameter_name = "type"
    field_name = "type"
    choices_list = HANDLED_EVENTS


@admin.register(WebhookEvent)
class WebhookEventAdmin(StripeRecordAdmin):
    """Every verified event as received, with its processing state."""

    list_display = (
        "stripe_id",
        "type",
        "status",
        "change_kind",
        "customer_id",
        "created_at",
        "attempts",
        "visit",
    )
    list_filter = ("status", EventTypeFilter, "change_kind", "received_via", "livemode")
    ordering = ("-created_at",)
    actions = ("replay_events",)
    fields = (
        "stripe_id",
        "type",
        "status",
        "change_kind",
        "customer_id",
        "portal_session",
        "livemode",
        "api_version",
        "account",
        "created_at",
        "received_at",
        "received_via",
        "processed_at",
        "attempts",
        "last_error",
        "payload_formatted",
    )
    readonly_fields = fields

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
        failed = outcomes[Outcome.FAILED] + outcomes[Outcome.BUSY]
        self.message_user(
            request,
            _("Replayed %(count)d event(s): %(summary)s.")
            % {"count": len(selected), "summary": summary},
            messages.WARNING if failed else messages.SUCCESS,
        )
