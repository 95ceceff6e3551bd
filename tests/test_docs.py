"""The documentation cannot rot: its Python examples compile and run, its settings page
names every setting and system check, and every page is in the site's navigation.

A ```python block runs in the test settings (database available, Stripe mocked by the
autouse ``responses`` fixture) unless the line before it says
``<!-- docs-test: compile-only -->`` (settings snippets and other fragments that need a
host project around them); those are compiled only. ```django blocks are parsed by
Django's template engine once the ``stripe_portal`` tag library exists.
"""

from __future__ import annotations

import gc
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.dispatch import Signal
from django.template import Engine, TemplateSyntaxError

from django_stripe_portal import conf

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DOC_FILES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
COMPILE_ONLY = "<!-- docs-test: compile-only -->"
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    source: str
    compile_only: bool

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def extract_blocks(path: Path, text: str) -> list[Block]:
    """Every fenced block of ``text`` with its language and the marker before it."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening or not opening["lang"]:
            index += 1
            continue
        indent, start = opening["indent"], index
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            body.append(
                lines[index][len(indent) :] if lines[index].startswith(indent) else lines[index]
            )
            index += 1
        if index >= len(lines):
            raise AssertionError(f"{path}:{start + 1}: code block is never closed")
        blocks.append(
            Block(
                path,
                start + 1,
                opening["lang"],
                textwrap.dedent("\n".join(body)) + "\n",
                COMPILE_ONLY in _markers_before(lines, start),
            )
        )
        index += 1
    return blocks


def _markers_before(lines: list[str], start: int) -> list[str]:
    """The ``<!-- … -->`` lines right above line ``start`` (blank lines skipped), nearest
    first: a block may carry several markers (``docs-test:``, ``quickstart:``)."""
    markers: list[str] = []
    for line in reversed(lines[:start]):
        text = line.strip()
        if not text:
            continue
        if not (text.startswith("<!--") and text.endswith("-->")):
            break
        markers.append(text)
    return markers


def _all_blocks(*langs: str) -> list[Block]:
    return [
        block
        for path in DOC_FILES
        if path.is_file()
        for block in extract_blocks(path, path.read_text())
        if block.lang in langs
    ]


PYTHON_BLOCKS = _all_blocks("python", "py")
DJANGO_BLOCKS = _all_blocks("django", "html+django")


@pytest.fixture
def signals_restored() -> Iterator[None]:
    """Receivers a docs example connects are disconnected afterwards, so one example's
    receiver cannot run during another test."""
    before = {id(s): (s, list(s.receivers)) for s in gc.get_objects() if isinstance(s, Signal)}
    yield
    for obj in gc.get_objects():
        if isinstance(obj, Signal):
            kept = before.get(id(obj))
            with obj.lock:
                obj.receivers = list(kept[1]) if kept else []
                obj.sender_receivers_cache.clear()


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda block: block.name)
def test_python_block_compiles(block: Block) -> None:
    compile(block.source, block.name, "exec")


@pytest.mark.django_db
@pytest.mark.usefixtures("signals_restored")
@pytest.mark.parametrize(
    "block", [b for b in PYTHON_BLOCKS if not b.compile_only], ids=lambda block: block.name
)
def test_python_block_runs(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # examples read fixture files by their path in the repository
    namespace: dict[str, object] = {"__name__": "docs_example"}
    exec(compile(block.source, block.name, "exec"), namespace)  # noqa: S102 - our own docs


@pytest.mark.parametrize("block", DJANGO_BLOCKS, ids=lambda block: block.name)
def test_django_template_block_parses(block: Block) -> None:
    engine = Engine.get_default()
    try:
        engine.from_string(block.source)
    except TemplateSyntaxError as exc:
        pytest.fail(f"{block.name}: {exc}")


def test_docs_have_runnable_examples() -> None:
    """Guards the extractor itself: if it found nothing, every test above would pass."""
    assert len(PYTHON_BLOCKS) >= 10
    assert sum(not block.compile_only for block in PYTHON_BLOCKS) >= 3


def test_extractor_reads_markers_indentation_and_languages() -> None:
    text = (
        "Intro\n\n<!-- docs-test: compile-only -->\n<!-- quickstart: x -->\n```python\n"
        "X = env.str('A')\n```\n\n"
        "1. step\n\n    ```python\n    y = 1\n    ```\n\n```sh\nmake demo\n```\n"
    )
    first, second, shell = extract_blocks(Path("x.md"), text)
    assert (first.compile_only, first.source, first.line) == (True, "X = env.str('A')\n", 5)
    assert (second.compile_only, second.source) == (False, "y = 1\n")
    assert shell.lang == "sh"
    with pytest.raises(AssertionError, match="never closed"):
        extract_blocks(Path("x.md"), "```python\nopen\n")


def test_settings_page_names_every_setting_and_check_id() -> None:
    page = (DOCS / "settings.md").read_text()
    missing_keys = [key for key in conf.DEFAULTS if f"`{key}`" not in page]
    checks_source = (ROOT / "django_stripe_portal" / "checks.py").read_text()
    check_ids = sorted(set(re.findall(r"\b([EW]\d{3})\b", checks_source)))
    missing_ids = [check for check in check_ids if f"stripe_portal.{check}" not in page]
    assert check_ids, "no check ids found in checks.py"
    assert not missing_keys, f"docs/settings.md does not document {missing_keys}"
    assert not missing_ids, f"docs/settings.md does not document the checks {missing_ids}"


def test_every_docs_page_is_in_the_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    listed = set(re.findall(r":\s*([\w-]+\.md)\s*$", nav, flags=re.MULTILINE))
    on_disk = {path.name for path in DOCS.glob("*.md")}
    assert on_disk - listed == set(), "pages missing from the mkdocs.yml nav"
    assert listed - on_disk == set(), "nav entries without a page"


def test_readme_links_point_at_files_that_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(((?!https?://)[^)#\s]+)(?:#[^)]*)?\)", readme)
    assert targets, "the README links no local file"
    missing = [target for target in targets if not (ROOT / target).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_the_readme_links_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [
        page.name for page in sorted(DOCS.glob("*.md")) if f"](docs/{page.name})" not in readme
    ]
    assert not missing, f"README.md's documentation list leaves out {missing}"
