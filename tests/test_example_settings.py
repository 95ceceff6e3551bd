"""The example project's settings in both modes, read by its own manage.py.

Run in a subprocess: the example has its own settings module, which this test process
(configured with tests.settings) cannot load a second time.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ROOT / "example_project" / "manage.py"

_PRINT_SETTINGS = (
    "import json; from django.conf import settings as s; "
    "print(json.dumps({'portal': s.STRIPE_PORTAL, 'offline': s.STRIPE_OFFLINE, "
    "'plans': s.PLAN_NAMES, 'db': s.DATABASES['default']['ENGINE']}))"
)


def _manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL") and not name.startswith("STRIPE_")
    }
    clean.update({"DEMO_DATA_DIR": str(tmp_path), "STRIPE_SECRET_KEY": "", **env})
    return subprocess.run(
        [sys.executable, str(MANAGE), *args],
        capture_output=True,
        text=True,
        env=clean,
        timeout=120,
        check=False,
    )


def _settings(tmp_path: Path, **env: str) -> dict[str, Any]:
    done = _manage(tmp_path, "shell", "-c", _PRINT_SETTINGS, **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.slow
def test_without_keys_the_example_talks_to_the_stand_in(tmp_path: Path) -> None:
    values = _settings(tmp_path, STRIPE_STANDIN_URL="http://127.0.0.1:12999")

    portal = values["portal"]
    assert values["offline"] is True
    assert portal["API_KEY"] == "sk_test_offlinedemo"
    assert portal["WEBHOOK_SECRETS"] == ["whsec_offlinedemo"]
    assert portal["API_BASE"] == "http://127.0.0.1:12999"
    assert portal["DEFAULT_CONFIGURATION"] == "default"
    assert portal["RETURN_URL"] == "account"
    update = portal["CONFIGURATIONS"]["default"]["features"]["subscription_update"]
    assert update["products"] == [
        {"product": "prod_demo_basic", "prices": ["price_demo_basic"]},
        {"product": "prod_demo_pro", "prices": ["price_demo_pro", "price_demo_pro_yearly"]},
    ]
    assert values["plans"] == {
        "price_demo_basic": "Basic",
        "price_demo_pro": "Pro",
        "price_demo_pro_yearly": "Pro yearly",
    }
    assert values["db"] == "django.db.backends.sqlite3"


@pytest.mark.slow
def test_with_keys_the_example_uses_stripe_test_mode(tmp_path: Path) -> None:
    values = _settings(
        tmp_path,
        STRIPE_SECRET_KEY="sk_test_fromenv",
        STRIPE_WEBHOOK_SECRETS="whsec_one,whsec_two",
        PORTAL_PRODUCTS="prod_A=price_1;price_2,prod_B=price_3",
        PLAN_NAMES="price_1=Basic,price_3=Team",
    )

    portal = values["portal"]
    assert values["offline"] is False
    assert portal["API_KEY"] == "sk_test_fromenv"
    assert portal["WEBHOOK_SECRETS"] == ["whsec_one", "whsec_two"]
    assert portal["API_BASE"] is None  # Stripe's own address
    assert portal["CONFIGURATIONS"]["default"]["features"]["subscription_update"]["products"] == [
        {"product": "prod_A", "prices": ["price_1", "price_2"]},
        {"product": "prod_B", "prices": ["price_3"]},
    ]
    assert values["plans"] == {"price_1": "Basic", "price_3": "Team"}


@pytest.mark.slow
def test_with_keys_and_no_products_the_portal_offers_no_plan_switch(tmp_path: Path) -> None:
    values = _settings(tmp_path, STRIPE_SECRET_KEY="sk_test_fromenv")
    assert "subscription_update" not in values["portal"]["CONFIGURATIONS"]["default"]["features"]
    assert values["portal"]["WEBHOOK_SECRETS"] == []


@pytest.mark.slow
def test_the_example_passes_its_system_checks_in_both_modes(tmp_path: Path) -> None:
    offline = _manage(tmp_path, "check", "--fail-level", "WARNING")
    online = _manage(
        tmp_path,
        "check",
        "--fail-level",
        "WARNING",
        STRIPE_SECRET_KEY="sk_test_fromenv",
        STRIPE_WEBHOOK_SECRETS="whsec_fromenv",
        PORTAL_PRODUCTS="prod_A=price_1",
    )
    assert offline.returncode == 0, offline.stderr
    assert online.returncode == 0, online.stderr


def test_nothing_that_looks_like_a_real_secret_is_committed() -> None:
    """The demo's secrets are fixed and fake; a real-looking one must never slip in."""
    real_looking = re.compile(r"whsec_[A-Za-z0-9]{20,}|sk_live_[A-Za-z0-9]|rk_live_[A-Za-z0-9]")
    paths = [
        *sorted((ROOT / "example_project").rglob("*")),
        *sorted((ROOT / "docs").glob("*.md")),
        ROOT / "README.md",
    ]
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)[:12]}…"
        for path in paths
        if path.is_file()
        and ".run" not in path.parts
        and path.suffix in (".py", ".md", ".html", ".example", ".txt", "")
        for match in real_looking.finditer(path.read_text(errors="replace"))
    ]
    assert not found
