"""The recipes the docs give operators, run as the pages write them: the prune of old
events (docs/deployment.md), the cron lines of task mode (docs/deployment.md) and the
rotation of a signing secret (docs/security.md)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import re
import shlex
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from django_stripe_portal.models import StripeSubscription, WebhookEvent
from tests import stripe_objects as so
from tests.webhook_support import post_raw

pytestmark = pytest.mark.django_db

DOCS = Path(__file__).resolve().parent.parent / "docs"
OLD, NEW = "whsec_oldSecret1", "whsec_newSecret2"
DUMMY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def _blocks(page: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", (DOCS / page).read_text(), re.S)


def _settings(**extra: Any) -> Any:
    return override_settings(STRIPE_PORTAL={"API_KEY": "sk_test_x", **extra})


def _stored(status: str, days_old: float, **fields: Any) -> WebhookEvent:
    event = so.event("customer.subscription.created", so.subscription())
    return WebhookEvent.objects.create(
        stripe_id=event["id"],
        type=event["type"],
        payload=event,
        status=status,
        created_at=timezone.now() - dt.timedelta(days=days_old),
        **fields,
    )


def documented_prune() -> list[str]:
    """The manage.py arguments of the prune's cron line in docs/deployment.md, as written."""
    (crontab,) = [
        block for block in _blocks("deployment.md", "sh") if "prune_stripe_events" in block
    ]
    (line,) = crontab.strip().splitlines()
    run = line.split(None, 5)[5].split(" && ", 1)[1].partition(" || ")[0]
    words = shlex.split(run)
    assert words[:2] == ["python", "manage.py"], line
    return words[2:]


def test_the_prune_empties_old_finished_payloads_only() -> None:
    arguments = documented_prune()
    old, recent = _stored("processed", 401), _stored("processed", 399)
    old_ignored, old_failed = _stored("ignored", 500), _stored("failed", 500)

    with _settings(EVENT_PAYLOAD_DAYS=400):
        assert _run(arguments)[0] == 0

    payloads = dict(WebhookEvent.objects.values_list("pk", "payload"))
    assert payloads[old.pk] == payloads[old_ignored.pk] == {"pruned": True}
    assert payloads[recent.pk]["id"] == recent.stripe_id
    assert payloads[old_failed.pk]["id"] == old_failed.stripe_id
    assert WebhookEvent.objects.count() == 4  # no row deleted


def _cron_lines() -> list[tuple[str, list[str], str]]:
    """(schedule, manage.py arguments, what runs when it fails) of each crontab line."""
    (crontab,) = [block for block in _blocks("deployment.md", "sh") if "* * * * *" in block]
    lines = []
    for line in crontab.strip().splitlines():
        fields = line.split(None, 5)
        schedule, command = " ".join(fields[:5]), fields[5]
        chdir, rest = command.split(" && ", 1)
        assert chdir.startswith("cd ")
        run, _, on_failure = rest.partition(" || ")
        words = shlex.split(run)
        assert words[:2] == ["python", "manage.py"], line
        lines.append((schedule, words[2:], on_failure))
    return lines


def _run(arguments: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command(*arguments, stdout=out, stderr=io.StringIO())
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue()
    return 0, out.getvalue()


def test_the_cron_lines_recover_a_stuck_event_then_report_healthy() -> None:
    (sweep_at, sweep, _), (monitor_at, monitor, alert) = _cron_lines()
    assert sweep_at == "* * * * *" and monitor_at == "*/5 * * * *" and alert
    stuck = _stored("pending", 0)
    WebhookEvent.objects.filter(pk=stuck.pk).update(
        received_at=timezone.now() - dt.timedelta(hours=1)
    )
    with override_settings(TASKS=DUMMY), _settings(WEBHOOK_PROCESSING="task"):
        assert _run(monitor)[0] == 1  # stuck: the alert would run

        assert _run(sweep)[0] == 0
        status, output = _run(monitor)

    assert WebhookEvent.objects.get(pk=stuck.pk).status == "processed"
    assert StripeSubscription.objects.count() == 1
    assert status == 0 and json.loads(output)["stuck"] == 0  # no alert


def _signature(body: str, *secrets: str) -> str:
    timestamp = int(time.time())
    signed = f"{timestamp}.{body}".encode()
    parts = [f"t={timestamp}"]
    for secret in secrets:
        parts.append("v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest())
    return ",".join(parts)


def test_rotating_a_secret_as_the_security_page_says_loses_no_delivery(client: Client) -> None:
    recipe = (DOCS / "security.md").read_text()
    assert (
        "adding the new one to `WEBHOOK_SECRETS`, rolling the secret\n  in Stripe, then "
        "removing the old one" in recipe
    )

    def delivered(secrets: list[str], *signed_with: str) -> int:
        body = json.dumps(so.event("customer.subscription.created", so.subscription()))
        with _settings(WEBHOOK_SECRETS=secrets):
            return int(post_raw(client, body, _signature(body, *signed_with)).status_code)

    # 1. Add the new secret: Stripe still signs with the old one.
    assert delivered([OLD, NEW], OLD) == 200
    # 2. Roll it in Stripe: while the old one expires Stripe signs with both, then the new.
    assert delivered([OLD, NEW], OLD, NEW) == 200
    assert delivered([OLD, NEW], NEW) == 200
    # 3. Remove the old one: the new one is enough, the old one no longer is.
    assert delivered([NEW], NEW) == 200
    assert delivered([NEW], OLD) == 400
