"""Where ``fetch_stripe_events`` starts listing: its defaults and Stripe's 30 days."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import responses
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_stripe_portal import signals
from django_stripe_portal.webhooks.catch_up import (
    RETENTION,
    SAFETY_OVERLAP,
    WindowRefused,
    catch_up_window,
)
from tests import stripe_objects as so
from tests.factories import WebhookEventFactory
from tests.fake_stripe_events import FakeStripeEvents
from tests.webhook_support import Recorder, connected

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def _stored_at(moment: dt.datetime) -> None:
    event = so.event("customer.updated", so.customer(), created=int(moment.timestamp()))
    WebhookEventFactory(stripe_id=event["id"], type=event["type"], payload=event, created_at=moment)


def test_default_with_nothing_stored_is_stripes_30_days() -> None:
    window = catch_up_window(now=NOW)
    assert window.start == NOW - dt.timedelta(days=30)
    assert "30 days" in window.reason


def test_default_starts_an_hour_before_the_newest_stored_event() -> None:
    _stored_at(NOW - dt.timedelta(days=3))
    _stored_at(NOW - dt.timedelta(hours=5))
    window = catch_up_window(now=NOW)
    assert window.start == NOW - dt.timedelta(hours=5) - SAFETY_OVERLAP
    assert SAFETY_OVERLAP == dt.timedelta(hours=1)
    assert "newest stored event" in window.reason


def test_default_after_a_longer_silence_is_capped_at_30_days() -> None:
    _stored_at(NOW - dt.timedelta(days=45))
    window = catch_up_window(now=NOW)
    assert window.start == NOW - RETENTION
    assert "sync_subscriptions" in window.reason


def test_hours_and_since() -> None:
    assert catch_up_window(hours=50, now=NOW).start == NOW - dt.timedelta(hours=50)
    assert catch_up_window(hours=720, now=NOW).start == NOW - dt.timedelta(days=30)
    since = NOW - dt.timedelta(days=2)
    assert catch_up_window(since=since, now=NOW).start == since


@pytest.mark.parametrize(
    "kwargs",
    [{"hours": 721}, {"since": NOW - dt.timedelta(days=31)}],
    ids=["hours", "since"],
)
def test_more_than_30_days_is_refused_naming_the_limit(kwargs: dict[str, object]) -> None:
    with pytest.raises(WindowRefused) as refused:
        catch_up_window(now=NOW, **kwargs)  # type: ignore[arg-type]
    message = str(refused.value)
    assert "30 days only (720 hours)" in message
    assert "--hours 720" in message and "sync_subscriptions" in message


@pytest.mark.parametrize("kwargs", [{"hours": 0}, {"hours": -2}])
def test_nonsense_hours_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(WindowRefused, match="above 0"):
        catch_up_window(now=NOW, **kwargs)


def test_a_future_since_is_refused() -> None:
    with pytest.raises(WindowRefused, match="future"):
        catch_up_window(since=NOW + dt.timedelta(days=1), now=NOW)


def test_command_sends_the_default_window(stripe_mock: responses.RequestsMock) -> None:
    fake = FakeStripeEvents(stripe_mock).install()
    newest = timezone.now() - dt.timedelta(hours=3)
    _stored_at(newest)
    out = StringIO()
    call_command("fetch_stripe_events", stdout=out, stderr=StringIO())
    expected = int((newest - SAFETY_OVERLAP).timestamp())
    assert fake.calls[0]["created"] == {"gte": expected}
    assert "minus 1 hour of overlap" in out.getvalue()


def test_command_refuses_more_than_30_days_before_asking_stripe(
    stripe_mock: responses.RequestsMock,
) -> None:
    fake = FakeStripeEvents(stripe_mock).install()
    with pytest.raises(CommandError, match=r"30 days only \(720 hours\)"):
        call_command("fetch_stripe_events", "--hours", "1000", stdout=StringIO())
    since = (timezone.now() - dt.timedelta(days=40)).date().isoformat()
    with pytest.raises(CommandError, match="--since"):
        call_command("fetch_stripe_events", "--since", since, stdout=StringIO())
    assert fake.calls == []


def test_since_takes_a_date_or_a_time_in_time_zone(
    stripe_mock: responses.RequestsMock, settings: object
) -> None:
    fake = FakeStripeEvents(stripe_mock).install()
    day = timezone.now() - dt.timedelta(days=2)
    call_command("fetch_stripe_events", "--since", f"{day:%Y-%m-%d}T08:30", stdout=StringIO())
    expected = dt.datetime(day.year, day.month, day.day, 8, 30, tzinfo=dt.UTC)  # TIME_ZONE=UTC
    assert fake.calls[0]["created"] == {"gte": int(expected.timestamp())}


def test_event_types_with_receivers_lists_types_connected_with_on() -> None:
    name = "invoice.payment_failed"
    assert name not in signals.event_types_with_receivers()
    with connected(signals.event_signal(name), Recorder()):
        assert name in signals.event_types_with_receivers()
    assert name not in signals.event_types_with_receivers()
