"""Every figure of the activity report on random histories, against a plain Python count of
the same rows: the queries count customers by comparing each visit with the customer's
next one, and changes per visit, which a hand-built history may not corner."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.utils import timezone

from django_stripe_portal import activity
from django_stripe_portal.activity import ActivityRange
from django_stripe_portal.activity import range_figures as range_figures_module
from django_stripe_portal.activity.range_figures import range_figures
from django_stripe_portal.activity.report import report_of
from django_stripe_portal.activity.revenue_weekly import weekly_money
from django_stripe_portal.activity.weekly import weeks_of
from django_stripe_portal.events import ChangeKind
from django_stripe_portal.models import PortalSession, WebhookEvent
from tests.factories import PortalConfigurationFactory

pytestmark = pytest.mark.django_db

CUSTOMERS = [f"cus_r{n}" for n in range(12)]
KINDS = [*ChangeKind.values, ""]
CANCELLATIONS = (ChangeKind.CANCELED, ChangeKind.CANCEL_SCHEDULED)
COUPONS = ("", "", "", "SAVE20", "SAVE50")
FEEDBACK = ("", "too_expensive", "unused")
OPTIONS = ("", "bfo_r1")
CURRENCIES = ("usd", "usd", "eur", "")
# 26 Oct 2026 to 20 Nov 2026: a DST change in New York (1 Nov) and in Europe (25 Oct).
FIRST = dt.datetime(2026, 10, 26, tzinfo=dt.UTC)
SPAN = dt.timedelta(days=25)


@dataclass(frozen=True)
class Visit:
    pk: int
    customer: str
    created_at: dt.datetime
    returned: bool
    configuration: str | None
    coupon: str


@dataclass(frozen=True)
class Change:
    visit: int | None
    kind: str
    feedback: str
    option: str


def _history(seed: int) -> tuple[list[Visit], list[Change]]:
    """Visits clustered on a few customers (several a day, a week), each with 0 to 3 events
    made within VISIT_WINDOW, some of one kind twice, some with no kind, plus changes
    outside any visit."""
    rng = random.Random(seed)
    configurations = {key: PortalConfigurationFactory(key=key) for key in ("default", "annual")}
    visits: list[Visit] = []
    events: list[WebhookEvent] = []
    for number in range(rng.randrange(60, 160)):
        created = FIRST + SPAN * rng.random()
        if visits and rng.random() < 0.3:  # the same customer again, minutes to days later
            created = visits[-1].created_at + dt.timedelta(minutes=rng.choice([3, 90, 1500, 4000]))
            customer = visits[-1].customer
        else:
            customer = rng.choice(CUSTOMERS)
        key = rng.choice([None, "default", "annual"])
        session = PortalSession.objects.create(
            stripe_id=f"bps_r{number}",
            customer_id=customer,
            created_at=created,
            returned_at=created + dt.timedelta(minutes=5) if rng.random() < 0.4 else None,
            configuration=configurations[key] if key else None,
            retention_coupon=rng.choice(COUPONS),
        )
        visits.append(
            Visit(
                session.pk,
                customer,
                created,
                session.returned_at is not None,
                key,
                session.retention_coupon,
            )
        )
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            events.append(
                _event(rng, session.pk, created + dt.timedelta(seconds=rng.randrange(1, 3600)))
            )
    for _ in range(10):
        events.append(_event(rng, None, FIRST + SPAN * rng.random()))
    WebhookEvent.objects.bulk_create(events)
    changes = [
        Change(e.portal_session_id, e.change_kind, e.cancel_feedback, e.cancel_feedback_option)
        for e in events
    ]
    return visits, changes


def _event(rng: random.Random, visit: int | None, created: dt.datetime) -> WebhookEvent:
    kind = rng.choice(KINDS)
    cancellation = kind in CANCELLATIONS
    feedback = rng.choice(FEEDBACK) if cancellation else ""
    return WebhookEvent(
        stripe_id=f"evt_r{rng.getrandbits(64):x}",
        type="customer.subscription.updated",
        created_at=created,
        livemode=rng.random() < 0.2,
        payload={},
        portal_session_id=visit,
        change_kind=kind,
        cancel_feedback=feedback,
        cancel_feedback_option=rng.choice(OPTIONS) if cancellation else "",
        cancel_reason=feedback,
        currency=rng.choice(CURRENCIES),
        run_rate_before=rng.choice([None, 0, 1500, 4900]),
        run_rate_after=rng.choice([None, 0, 1500, 9900]),
        discount_cost=rng.choice([None, 0, 300]),
    )


def _expected(visits: list[Visit], changes: list[Change], window: ActivityRange) -> dict[str, Any]:
    """The report's figures by their definitions in docs/activity.md, row by row."""
    tz = timezone.get_default_timezone()

    def day(visit: Visit) -> dt.date:
        return visit.created_at.astimezone(tz).date()

    seen = [
        v
        for v in visits
        if window.start <= day(v) <= window.end
        and (window.configuration is None or v.configuration == window.configuration)
    ]
    kinds: dict[int, set[str]] = defaultdict(set)
    for change in changes:
        if change.visit is not None and change.kind:
            kinds[change.visit].add(change.kind)
    changed = [v for v in seen if kinds[v.pk]]
    per_day = {d: [v for v in seen if day(v) == d] for d in window.days}
    by_week: dict[dt.date, list[Visit]] = defaultdict(list)
    for v in seen:
        by_week[day(v) - dt.timedelta(days=day(v).weekday())].append(v)
    offers: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for v in seen:
        if v.coupon:
            offers[v.coupon][0] += 1
            made = kinds[v.pk]
            if ChangeKind.RETENTION_ACCEPTED in made and not made & set(CANCELLATIONS):
                offers[v.coupon][1] += 1
    in_range = {v.pk for v in seen}
    reasons: dict[tuple[str | None, str | None], int] = defaultdict(int)
    for change in changes:
        if change.visit in in_range and change.kind in CANCELLATIONS:
            reasons[(change.feedback or None, change.option or None)] += 1
    return {
        "summary": (
            len(seen),
            len({v.customer for v in seen}),
            sum(v.returned for v in seen),
            len(changed),
            sum(1 for v in seen if not v.returned and not kinds[v.pk]),
        ),
        "per_day": [(d, len(vs), len({v.customer for v in vs})) for d, vs in per_day.items()],
        "weeks": {
            monday: (len(vs), len({v.customer for v in vs})) for monday, vs in by_week.items()
        },
        "outcomes": {
            **{kind: sum(1 for v in seen if kind in kinds[v.pk]) for kind in ChangeKind.values},
            "none": len(seen) - len(changed),
        },
        "offers": {coupon: tuple(counts) for coupon, counts in offers.items()},
        "reasons": dict(reasons),
    }


def _measured(window: ActivityRange) -> dict[str, Any]:
    figures = range_figures(window)
    report = report_of(window, figures)
    s = report.summary
    weeks = weeks_of(window, figures.days)
    assert weeks == activity.visits_per_week(window)
    assert report == activity.activity_report(window)
    return {
        "summary": (s.visits, s.unique_customers, s.returned, s.changed, s.abandoned),
        "per_day": [(d.day, d.visits, d.unique_customers) for d in report.per_day],
        "weeks": {
            week.start - dt.timedelta(days=week.start.weekday()): (
                week.visits,
                week.unique_customers,
            )
            for week in weeks
            if week.visits
        },
        "outcomes": {o.outcome: o.visits for o in report.outcomes},
        "offers": {o.coupon: (o.offers, o.accepted) for o in report.retention_offers},
        "reasons": {
            (r.feedback, r.feedback_option): r.cancellations for r in report.cancellation_reasons
        },
    }


WINDOWS = [
    (2, 22, None),
    (5, 5, None),
    (2, 15, "default"),
    (0, 20, None),  # from a Monday (26 Oct)
    (-25, 66, None),  # 1 Oct to 31 Dec
]

# Where the settled weeks end (``activity.settled.settled_through``): none settled, then
# the Sundays of the history's weeks, then every week (rows summed to the range's end).
SETTLED_THROUGH = [
    dt.date(2026, 9, 27),
    dt.date(2026, 11, 1),
    dt.date(2026, 11, 8),
    dt.date(2026, 11, 22),
    dt.date(2027, 1, 3),
]


@pytest.mark.parametrize("time_zone", ["UTC", "America/New_York", "Asia/Kathmandu"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_report_matches_a_count_of_the_rows(
    seed: int, time_zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each range read live, and split at each Sunday into settled weeks and live days."""
    with override_settings(TIME_ZONE=time_zone):
        visits, changes = _history(seed)
        start = (FIRST + dt.timedelta(days=2)).astimezone(ZoneInfo(time_zone)).date()
        money: dict[tuple[ActivityRange, dt.date], tuple[Any, Any]] = {}
        for through in SETTLED_THROUGH:
            monkeypatch.setattr(range_figures_module, "settled_through", lambda s=through: s)
            for first, last, configuration in WINDOWS:
                window = ActivityRange(
                    start + dt.timedelta(days=first),
                    start + dt.timedelta(days=last),
                    configuration=configuration,
                )
                measured = _measured(window)
                assert measured == _expected(visits, changes, window), (window, through)
                money[window, through] = _money(window)
        for (window, through), figures in money.items():
            assert figures == money[window, SETTLED_THROUGH[0]], (window, through)


def _money(window: ActivityRange) -> tuple[Any, Any]:
    """The revenue report and the weekly money of a range, to compare a settled split's
    with the live reading's (whose figures test_revenue.py checks by hand)."""
    revenue = activity.revenue_report(window.start, window.end, configuration=window.configuration)
    return revenue.as_dict()["currencies"], weekly_money(window)
