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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Q, QuerySet

from django_stripe_portal.activity.figures import (
    ActivityRange,
    change_times,
    linked_changes_of,
    visits_in,
)
from django_stripe_portal.configurations.feedback_options import feedback_option_descriptions
from django_stripe_portal.events import ChangeKind
from django_stripe_portal.models import PortalSession, WebhookEvent

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


#: Cancellations by (feedback, feedback_option), and the descriptions the events carried.
ReasonTally = tuple[dict[tuple[str | None, str | None], int], dict[str, str]]


def cancellation_reasons(activity_range: ActivityRange) -> list[ReasonCount]:
    """Cancellations made during the range's visits, by the customer's feedback and
    custom feedback option, most frequent first (two queries: the counts, then the
    options' descriptions from the synced configurations)."""
    return reasons_of(reason_tally(reason_rows(activity_range)))


def reason_rows(activity_range: ActivityRange, **by: Any) -> QuerySet[WebhookEvent, Any]:
    """The range's cancellations counted by feedback, option and the option's label the
    event carried (and by the expressions ``by`` names, e.g. the visit's day)."""
    rows: QuerySet[WebhookEvent, Any] = (
        linked_changes_of(activity_range, _CANCELLATION_KINDS)
        .annotate(
            **by,
            feedback=F("cancel_feedback"),
            feedback_option=F("cancel_feedback_option"),
            label=F("cancel_feedback_option_label"),
        )
        .values(*by, "feedback", "feedback_option", "label")
        .annotate(cancellations=Count("*"))  # not the id: the index holds no id
        .order_by()
    )
    return rows


def reason_tally(rows: Iterable[Mapping[str, Any]]) -> ReasonTally:
    """``reason_rows`` summed by (feedback, option); several tallies add up (``add_tally``)."""
    # The columns (not the payload, which may be pruned) hold "" for no reason.
    counts: dict[tuple[str | None, str | None], int] = {}
    sent: dict[str, str] = {}  # descriptions the events carried (an expanded option)
    for row in rows:
        group = (_text_or_none(row["feedback"]), _text_or_none(row["feedback_option"]))
        counts[group] = counts.get(group, 0) + row["cancellations"]
        if group[1] and row["label"]:
            sent[group[1]] = row["label"]
    return counts, sent


def add_tally(total: ReasonTally, more: ReasonTally) -> None:
    """Add ``more`` into ``total``."""
    for group, cancellations in more[0].items():
        total[0][group] = total[0].get(group, 0) + cancellations
    total[1].update(more[1])


def reasons_of(tally: ReasonTally) -> list[ReasonCount]:
    """The reasons of a tally, named and sorted most frequent first (a few rows, sorted
    here: NULL sorts differently on each database)."""
    counts, sent = tally
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
    return offers_of(
        {r["retention_coupon"]: (r["offers"], r["accepted"]) for r in offer_rows(activity_range)}
    )


def offer_rows(activity_range: ActivityRange, **by: Any) -> QuerySet[PortalSession, Any]:
    """Per coupon (and per the expressions ``by`` names): the range's visits that offered
    it and those that accepted it."""
    # The visits with an acceptance, and those with a cancellation, each read once as a
    # set of ids (PostgreSQL hashes it) rather than looked up visit by visit: at a year of
    # offers that was a hundred thousand lookups. Only the changes that can be linked to
    # the range's visits are read (``change_times``).
    first, after = change_times(activity_range)
    changes = WebhookEvent.objects.filter(
        created_at__gte=first, created_at__lt=after, portal_session__isnull=False
    )
    accepted_in = changes.filter(change_kind=ChangeKind.RETENTION_ACCEPTED)
    canceled_in = changes.filter(change_kind__in=_CANCELLATION_KINDS)
    accepted = Q(pk__in=accepted_in.values("portal_session")) & ~Q(
        pk__in=canceled_in.values("portal_session")
    )
    rows: QuerySet[PortalSession, Any] = (
        visits_in(activity_range)
        .exclude(retention_coupon="")
        .annotate(**by)
        .values(*by, "retention_coupon")
        .annotate(offers=Count("pk"), accepted=Count("pk", filter=accepted))
        .order_by()
    )
    return rows


def offers_of(counts: Mapping[str, tuple[int, int]]) -> list[RetentionCount]:
    """``{coupon: (offers, accepted)}`` as rows, most offered first."""
    rows = [RetentionCount(coupon, *figures) for coupon, figures in counts.items()]
    return sorted(rows, key=lambda count: (-count.offers, count.coupon))
