"""Why customers leave and who was kept: cancellation reasons and retention offers.

* *Cancellation reasons* count the cancellations (events of kind ``canceled`` or
  ``cancel_scheduled``) linked to the visits of the range, by the customer's
  ``cancellation_details.feedback`` and custom ``feedback_option`` together (both
  ``None``: no reason given); an option is named by the ``description`` the synced
  configurations hold (``configurations.feedback_options``), else by its id.
* *Retention offers* count, per coupon, the range's visits that offered one
  (``PortalSession.retention_coupon``) and those of them that ended with the offer
  accepted (a linked ``retention_accepted`` change and no linked cancellation); the
  *save rate* is accepted / offers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Q

from django_stripe_portal.activity.figures import ActivityRange, linked_changes_of, visits_in
from django_stripe_portal.configurations.feedback_options import feedback_option_descriptions
from django_stripe_portal.events import ChangeKind
from django_stripe_portal.models import WebhookEvent

_CANCELLATION_KINDS = (ChangeKind.CANCELED, ChangeKind.CANCEL_SCHEDULED)


@dataclass(frozen=True)
class ReasonCount:
    """Cancellations with one ``feedback`` (Stripe's enum) and one custom
    ``feedback_option`` (``bfo_…``); either may be None."""

    feedback: str | None
    cancellations: int
    feedback_option: str | None = None
    #: The option's ``description`` from the synced configuration; None when unknown.
    feedback_option_description: str | None = None

    @property
    def option_label(self) -> str | None:
        """How reports name the custom option: its description, else its id."""
        return self.feedback_option_description or self.feedback_option


@dataclass(frozen=True)
class RetentionCount:
    """The visits that offered ``coupon`` and how many of them accepted it."""

    coupon: str
    offers: int
    accepted: int

    @property
    def save_rate(self) -> float | None:
        """Accepted / offers; ``None`` when nothing was offered."""
        return self.accepted / self.offers if self.offers else None


def cancellation_reasons(activity_range: ActivityRange) -> list[ReasonCount]:
    """Cancellations made during the range's visits, by the customer's feedback and
    custom feedback option, most frequent first (two queries: the counts, then the
    options' descriptions from the synced configurations)."""
    rows = (
        linked_changes_of(activity_range, _CANCELLATION_KINDS)
        .annotate(
            feedback=F("cancel_feedback"),
            feedback_option=F("cancel_feedback_option"),
            label=F("cancel_feedback_option_label"),
        )
        .values("feedback", "feedback_option", "label")
        .annotate(cancellations=Count("*"))  # not the id: the index holds no id
        .order_by()
    )
    # A few rows, sorted here (NULL sorts differently on each database). The columns
    # (not the payload, which may be pruned) hold "" for no reason.
    counts: dict[tuple[str | None, str | None], int] = {}
    sent: dict[str, str] = {}  # descriptions the events carried (an expanded option)
    for row in rows:
        group = (_text_or_none(row["feedback"]), _text_or_none(row["feedback_option"]))
        counts[group] = counts.get(group, 0) + row["cancellations"]
        if group[1] and row["label"]:
            sent[group[1]] = row["label"]
    described: dict[str, str] = {}
    if any(option is not None for _, option in counts):
        described = {**feedback_option_descriptions(), **sent}
    reasons = [
        ReasonCount(feedback, cancellations, option, described.get(option or ""))
        for (feedback, option), cancellations in counts.items()
    ]
    return sorted(
        reasons,
        key=lambda r: (
            -r.cancellations,
            r.feedback is None and r.feedback_option is None,
            r.feedback or "",
            r.option_label or "",
        ),
    )


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def retention_offers(activity_range: ActivityRange) -> list[RetentionCount]:
    """Per coupon: the range's visits that offered it, and those that accepted it
    (one query), most offered first."""
    # The visits with an acceptance, and those with a cancellation, each read once as a
    # set of ids (PostgreSQL hashes it) rather than looked up visit by visit: at a year of
    # offers that was a hundred thousand lookups. A change is never older than its visit,
    # so only changes from the range's first instant on are read.
    first, _after = activity_range.bounds()
    changes = WebhookEvent.objects.filter(created_at__gte=first, portal_session__isnull=False)
    accepted_in = changes.filter(change_kind=ChangeKind.RETENTION_ACCEPTED)
    canceled_in = changes.filter(change_kind__in=_CANCELLATION_KINDS)
    accepted = Q(pk__in=accepted_in.values("portal_session")) & ~Q(
        pk__in=canceled_in.values("portal_session")
    )
    rows = (
        visits_in(activity_range)
        .exclude(retention_coupon="")
        .values("retention_coupon")
        .annotate(offers=Count("pk"), accepted=Count("pk", filter=accepted))
        .order_by()
    )
    counts = [RetentionCount(r["retention_coupon"], r["offers"], r["accepted"]) for r in rows]
    return sorted(counts, key=lambda count: (-count.offers, count.coupon))
