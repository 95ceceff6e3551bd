"""The package as it would be released: ``python -m build`` makes a wheel and an sdist
that ``twine check`` accepts, the wheel carries every file the app needs at run time,
and its metadata says what the repository tests (version, Django versions)."""

from __future__ import annotations

import email.parser
import importlib.util
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import django_stripe_portal

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "django_stripe_portal"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if importlib.util.find_spec("build") is None:
        pytest.skip("the `build` package is not installed (pip install -e '.[dev]')")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    yield out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("*.whl")
    return wheel


def _metadata(dist: Path) -> email.message.Message:
    with zipfile.ZipFile(_wheel(dist)) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(archive.read(name).decode())


def _source_files() -> set[str]:
    """Every file of the package in the repository, as wheel paths."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_the_wheel_carries_every_file_of_the_package(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as archive:
        shipped = set(archive.namelist())
    missing = sorted(_source_files() - shipped)
    assert not missing, f"files of the package missing from the wheel: {missing}"
    for needed in (
        "django_stripe_portal/py.typed",
        "django_stripe_portal/migrations/0001_initial.py",
        "django_stripe_portal/migrations/0002_second_build.py",
        "django_stripe_portal/templates/django_stripe_portal/portal_button.html",
        "django_stripe_portal/templates/admin/django_stripe_portal/portal_activity.html",
        "django_stripe_portal/static/django_stripe_portal/admin/activity.css",
    ):
        assert needed in shipped


def test_the_wheel_carries_nothing_but_the_package(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert tops == {"django_stripe_portal", f"django_stripe_portal-{_version()}.dist-info"}


def _version() -> str:
    return django_stripe_portal.__version__


def test_the_version_is_written_once(dist: Path) -> None:
    assert _metadata(dist)["Version"] == _version()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r"^dynamic = \[\"version\"\]$", pyproject, re.MULTILINE)
    assert not re.search(r"^version = \"", pyproject, re.MULTILINE)
    assert f"## {_version()}" in (ROOT / "CHANGELOG.md").read_text()


def test_classifiers_name_the_django_versions_tox_tests(dist: Path) -> None:
    tested = sorted(set(re.findall(r"^\s*django\d+: django>=(\d+\.\d+),", _tox(), re.M)))
    classified = sorted(
        value.rsplit(" ", 1)[1]
        for value in _metadata(dist).get_all("Classifier") or []
        if re.fullmatch(r"Framework :: Django :: \d+\.\d+", value)
    )
    assert tested == ["5.2", "6.0", "6.1"]
    assert classified == tested


def _tox() -> str:
    return (ROOT / "tox.ini").read_text()


def test_every_classifier_is_a_real_one(dist: Path) -> None:
    trove = pytest.importorskip("trove_classifiers")
    unknown = [c for c in _metadata(dist).get_all("Classifier") or [] if c not in trove.classifiers]
    assert not unknown


def test_twine_accepts_the_wheel_and_the_sdist(dist: Path) -> None:
    if importlib.util.find_spec("twine") is None:
        pytest.skip("twine is not installed (pip install -e '.[dev]')")
    files = sorted(str(path) for path in dist.iterdir())
    assert len(files) == 2, files
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
