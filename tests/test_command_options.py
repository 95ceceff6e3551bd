"""Repeatable options given to ``call_command`` as one string, as code calls them:
``call_command("replay_stripe_events", status="failed")`` must replay the failed events,
not filter on the letters of "failed"."""

from __future__ import annotations

import argparse
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command, load_command_class

from django_stripe_portal import signals
from django_stripe_portal.models import WebhookEvent
from tests import contract
from tests import stripe_objects as so
from tests.factories import WebhookEventFactory
from tests.test_setup_stripe_webhook import URL, FakeEndpoints
from tests.webhook_support import Recorder, connected

pytestmark = pytest.mark.django_db

Status = WebhookEvent.Status
COMMANDS_DIR = Path(__file__).resolve().parent.parent / "django_stripe_portal/management/commands"

#: Every repeatable option of the package's commands, and the test below that proves a
#: single string works for it. A new one fails ``test_every_repeatable_option_is_covered``
#: until it goes through ``management.options.listed`` and gets a test here.
COVERED = {
    ("replay_stripe_events", "status"): "test_replay_takes_one_string_per_option",
    ("replay_stripe_events", "type"): "test_replay_takes_one_string_per_option",
    ("replay_stripe_events", "id"): "test_replay_takes_one_string_per_option",
    ("setup_stripe_webhook", "events"): "test_setup_takes_events_as_one_string",
    ("sync_portal_configs", "account"): "tests/test_connect_sync.py::"
    "test_one_account_given_as_a_string_from_code",
    ("fetch_stripe_events", "type"): "tests/test_fetch_stripe_events.py::"
    "test_type_option_lists_only_those_types",
    ("fetch_stripe_events", "account"): "tests/test_fetch_connect_accounts.py::"
    "test_one_account_given_as_a_string_from_code",
    ("sync_entitlements", "account"): "tests/test_sync_entitlements.py::"
    "test_one_account_given_as_a_string_from_code",
}


def _repeatable_options(command: str) -> set[str]:
    parser = load_command_class("django_stripe_portal", command).create_parser("manage.py", command)
    return {
        action.dest
        for action in parser._actions
        if isinstance(action, argparse._AppendAction) or action.nargs in ("+", "*")
    }


def test_every_repeatable_option_is_covered() -> None:
    found = {
        (path.stem, dest)
        for path in COMMANDS_DIR.glob("[!_]*.py")
        for dest in _repeatable_options(path.stem)
    }
    assert found == set(COVERED), (
        "a repeatable option must accept one string from call_command: read it with "
        "django_stripe_portal.management.options.listed() and test it in this module"
    )


def _stored(status: str, event_type: str = "customer.subscription.updated") -> WebhookEvent:
    event = so.event(event_type, so.subscription(), previous_attributes={})
    return WebhookEventFactory(
        stripe_id=event["id"], type=event_type, payload=event, status=status, attempts=1
    )


def _replayed(**options: Any) -> set[str]:
    recorder = Recorder()
    with connected(signals.webhook_received, recorder):
        call_command("replay_stripe_events", stdout=StringIO(), **options)
    return {call["event"].stripe_id for call in recorder.calls}


@pytest.mark.parametrize("as_list", [False, True])
def test_replay_takes_one_string_per_option(as_list: bool) -> None:
    def given(value: str) -> str | list[str]:
        return [value] if as_list else value

    failed, pending = _stored(Status.FAILED), _stored(Status.PENDING)
    failed_other_type = _stored(Status.FAILED, "customer.subscription.deleted")
    processed = _stored(Status.PROCESSED)

    assert _replayed(status=given("failed"), type=given("customer.subscription.updated")) == {
        failed.stripe_id
    }
    assert _replayed(id=given(processed.stripe_id)) == {processed.stripe_id}
    assert _replayed(status=given("failed")) == {failed_other_type.stripe_id}
    assert _replayed() == {pending.stripe_id}


def test_replay_lists_of_several_values_still_work() -> None:
    failed, pending = _stored(Status.FAILED), _stored(Status.PENDING)
    _stored(Status.PROCESSED)
    assert _replayed(status=["failed", "pending"]) == {failed.stripe_id, pending.stripe_id}


def test_replay_checks_statuses_given_by_code_as_argparse_would() -> None:
    """call_command skips argparse's ``choices``: an unknown status would match nothing."""
    _stored(Status.FAILED)
    with pytest.raises(CommandError, match="--status: 'faild' is not one of"):
        call_command("replay_stripe_events", status="faild", stdout=StringIO())
    with pytest.raises(CommandError, match="No stored event with id evt_nope"):
        call_command("replay_stripe_events", id="evt_nope", stdout=StringIO())


@pytest.fixture
def fake(stripe_mock: Any) -> FakeEndpoints:
    return FakeEndpoints(stripe_mock)


@contract.requires_openapi
@pytest.mark.parametrize(
    "events",
    [
        "customer.subscription.updated,customer.subscription.deleted",
        ["customer.subscription.updated", "customer.subscription.deleted"],
        ["customer.subscription.updated,customer.subscription.deleted"],
    ],
)
def test_setup_takes_events_as_one_string(fake: FakeEndpoints, events: str | list[str]) -> None:
    call_command("setup_stripe_webhook", url=URL, events=events, stdout=StringIO())
    ((_, url, body),) = fake.posts()
    params = contract.validate_request("POST", url, body)
    assert sorted(params["enabled_events"]) == [
        "customer.subscription.deleted",
        "customer.subscription.updated",
    ]
