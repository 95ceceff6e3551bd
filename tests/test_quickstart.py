"""docs/quickstart.md is what CI runs in a new project (``.ci/fresh_install.sh``): its
marked blocks exist, the script uses every one, and the settings and URL snippets give,
as written, settings that ``manage.py check`` passes and the app's URLs."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.test import override_settings
from django.urls import URLResolver, path

from django_stripe_portal.checks import check_settings

ROOT = Path(__file__).resolve().parent.parent


def _extractor() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quickstart", ROOT / ".ci" / "quickstart.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BLOCKS: dict[str, tuple[str, str]] = _extractor().quickstart_blocks(
    (ROOT / "docs" / "quickstart.md").read_text()
)


def test_the_page_marks_every_step_ci_runs() -> None:
    assert {name: language for name, (language, _) in BLOCKS.items()} == {
        "install": "sh",
        "project": "sh",
        "settings": "python",
        "check": "sh",
        "urls": "python",
        "migrate": "sh",
        "button": "django",
        "webhook": "python",
    }
    script = (ROOT / ".ci" / "fresh_install.sh").read_text()
    used = set(re.findall(r"block (\w+)", script))
    assert used == set(BLOCKS), "fresh_install.sh must run every marked block"
    assert "bash .ci/fresh_install.sh" in (ROOT / ".ci" / "run").read_text()


def test_install_is_from_a_checkout_until_there_is_a_release() -> None:
    assert BLOCKS["install"][1].strip() == "pip install ./django-stripe-portal"


def test_the_settings_snippet_as_written_passes_the_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing to install beyond the package (no django-environ), and no error."""
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_quickstart")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", "whsec_one whsec_two")
    namespace: dict[str, Any] = {"INSTALLED_APPS": ["django.contrib.admin"]}
    exec(BLOCKS["settings"][1], namespace)  # noqa: S102 - our own docs
    assert namespace["INSTALLED_APPS"][-1] == "django_stripe_portal"
    portal = namespace["STRIPE_PORTAL"]
    assert portal["WEBHOOK_SECRETS"] == ["whsec_one", "whsec_two"]
    with override_settings(STRIPE_PORTAL=portal):
        assert check_settings() == []


def test_the_urls_snippet_as_written_adds_the_apps_urls() -> None:
    namespace: dict[str, Any] = {"path": path, "urlpatterns": []}
    exec(BLOCKS["urls"][1], namespace)  # noqa: S102 - our own docs
    (included,) = namespace["urlpatterns"]
    assert isinstance(included, URLResolver)
    assert included.namespace == "stripe_portal"
    assert str(included.pattern) == "billing/"
