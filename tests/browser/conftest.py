"""The example project, brought up exactly as ``make demo`` does, for the browser test."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.layout import LayoutWatch

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
READY_PREFIX = "Demo ready: "
STARTUP_SECONDS = 120


@dataclass
class RunningDemo:
    url: str  # without the trailing slash
    database: Path
    log: Path


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[RunningDemo]:
    """``example_project/run_demo.py`` offline, on free ports, with its own data directory."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    # Offline whatever example_project/.env says; SQLite in tmp_path even on a PostgreSQL run.
    env.update(STRIPE_SECRET_KEY="", PYTHONUNBUFFERED="1")
    log = tmp_path / "demo.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "example_project" / "run_demo.py"),
                "--port=0",
                "--standin-port=0",
                f"--data-dir={tmp_path / 'data'}",
            ],
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            env=env,
        )
        try:
            url = _wait_for_ready(process, log)
            yield RunningDemo(url, tmp_path / "data" / "demo.sqlite3", log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_ready(process: subprocess.Popen[str], log: Path) -> str:
    """The site's URL from the demo's banner, failing with the demo's output if it dies."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=STARTUP_SECONDS)
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if line.strip().startswith(READY_PREFIX):
            return line.strip().removeprefix(READY_PREFIX).rstrip("/")
    pytest.fail(
        "the demo did not come up:\n"
        + "".join(seen)
        + "\n--- stderr ---\n"
        + log.read_text()[-4000:]
    )


@pytest.fixture
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -r requirements-extra.txt)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def layout() -> Iterator[LayoutWatch]:
    """Watch pages with ``layout.watch(page)``, measure each with ``layout.measure``; the
    test fails for any page it reached and never measured."""
    watch = LayoutWatch()
    yield watch
    watch.assert_every_page_measured()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
