"""One exit-code convention across the app's commands (management/base.py): 0 done, 1 done
but a person is needed, 2 could not do what was asked; the commands that read only the
database run without an API key; a missing key is one line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from django_stripe_portal import signals
from django_stripe_portal.models import WebhookEvent
from tests import stripe_objects
from tests.factories import WebhookEventFactory
from tests.webhook_support import Recorder, connected

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
NO_KEY: dict[str, Any] = {"WEBHOOK_SECRETS": ["whsec_tests"]}

#: The commands that read only the database, with arguments that make them do their work.
DATABASE_ONLY = [
    ("portal_activity", "--format", "json"),
    ("check_stripe_webhooks",),
    ("recover_stripe_events",),
    ("replay_stripe_events", "--dry-run"),
]
#: The commands that call Stripe.
STRIPE_CALLING = [
    ("sync_portal_configs", "--dry-run"),
    ("setup_stripe_webhook", "--url", "https://shop.example.com/billing/webhook/"),
    ("sync_subscriptions",),
    ("fetch_stripe_events", "--hours", "1"),
    ("sync_entitlements",),
]


def _failure(*args: str, **options: Any) -> CommandError:
    with pytest.raises(CommandError) as raised:
        call_command(*args, stdout=None, stderr=None, **options)
    return raised.value


@pytest.mark.parametrize("command", DATABASE_ONLY, ids=lambda c: c[0])
def test_database_only_commands_run_without_an_api_key(command: tuple[str, ...]) -> None:
    with override_settings(STRIPE_PORTAL=NO_KEY):
        call_command(*command, skip_checks=False, stdout=None, stderr=None)


@pytest.mark.parametrize("command", DATABASE_ONLY, ids=lambda c: c[0])
def test_database_only_commands_still_refuse_a_wrong_key(command: tuple[str, ...]) -> None:
    with override_settings(STRIPE_PORTAL={**NO_KEY, "API_KEY": "pk_test_publishable"}):
        error = _failure(*command, skip_checks=False)
    assert error.returncode == 2
    assert "stripe_portal.E002" in str(error)


@pytest.mark.parametrize("command", STRIPE_CALLING, ids=lambda c: c[0])
def test_without_an_api_key_every_stripe_command_exits_2(command: tuple[str, ...]) -> None:
    with override_settings(STRIPE_PORTAL=NO_KEY):
        checked = _failure(*command, skip_checks=False)
        unchecked = _failure(*command)  # --skip-checks: the client says it, in one line
    assert checked.returncode == unchecked.returncode == 2
    assert "API_KEY'] is not set" in str(checked)
    assert str(unchecked) == (
        "You must set STRIPE_PORTAL['API_KEY'] to a Stripe secret key "
        "(sk_test_…, sk_live_…) or restricted key (rk_…)."
    )


@pytest.mark.parametrize(
    "command",
    [
        ("portal_activity", "--days", "0"),
        ("portal_activity", "--account", "nope"),
        ("recover_stripe_events", "--limit", "0"),
        ("replay_stripe_events", "--since", "yesterday"),
        ("replay_stripe_events", "--id", "evt_missing"),
        ("fetch_stripe_events", "--since", "yesterday"),
        ("sync_subscriptions", "--customer", "sub_1"),
        ("sync_portal_configs", "--only", "missing"),
    ],
    ids=lambda c: " ".join(c),
)
def test_a_bad_option_exits_2_in_every_command(command: tuple[str, ...]) -> None:
    assert _failure(*command).returncode == 2


def test_events_that_fail_again_exit_1() -> None:
    subscription = stripe_objects.subscription(customer="cus_again")
    payload = stripe_objects.event("customer.subscription.updated", subscription)
    WebhookEventFactory(
        stripe_id=payload["id"], payload=payload, status=WebhookEvent.Status.FAILED, attempts=1
    )

    with connected(signals.webhook_received, Recorder(raises=RuntimeError("still down"))):
        error = _failure("replay_stripe_events")

    assert error.returncode == 1
    assert "failed again" in str(error)


def test_a_missing_key_is_one_line_from_the_shell(tmp_path: Path) -> None:
    """The real process: exit status 2 and one line on stderr, no traceback."""
    (tmp_path / "no_key_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n"
        "STRIPE_PORTAL = {'WEBHOOK_SECRETS': ['whsec_tests']}\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "no_key_settings",
    }
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "django", "sync_portal_configs", "--dry-run", "--skip-checks"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "CommandError: You must set STRIPE_PORTAL['API_KEY'] to a Stripe secret key "
        "(sk_test_…, sk_live_…) or restricted key (rk_…)."
    )


@pytest.mark.parametrize("command", sorted({c[0] for c in DATABASE_ONLY + STRIPE_CALLING}))
def test_every_option_of_every_command_has_help(command: str) -> None:
    from django.core.management import load_command_class

    parser = load_command_class("django_stripe_portal", command).create_parser("manage.py", command)
    silent = [
        action.option_strings
        for action in parser._actions
        if action.option_strings and not (action.help or "").strip()
    ]
    assert silent == []
