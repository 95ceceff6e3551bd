"""Layout measured in the browser, on every page a browser test visits: nothing wider than
the window, no element wider than its box, no word cut across lines, no text crushed to
a letter or two per line.

``LayoutWatch`` records every document a page commits to; ``measure`` checks one and marks
it measured; ``assert_every_page_measured`` (at the test's end) fails for a page the test
reached but never measured, so no page goes unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: One pass over the rendered page (``layout.js``); every problem in a line of text.
#:
#: * the page: the document wider than the window;
#: * boxes: an in-flow element whose margin box is wider than its container's content box
#:   (the crushed admin index: a 704 px table in a 600 px box), or whose content is wider
#:   than itself (scrolled or clipped: a list cut off at the window's edge);
#: * text: a text node laid out on more lines than it has places to break (a word cut:
#:   "CANCEL AT P…"), or on so many lines for its letters that it reads a letter or two a
#:   line (a link crushed to one letter per line), or a short text wider than tall by less
#:   than a letter's width (several letters in one letter's width).
_MEASURE = (Path(__file__).with_name("layout.js")).read_text()


@dataclass
class _Visit:
    page: Any
    url: str
    measured: bool = False


@dataclass
class LayoutWatch:
    """Every document the watched pages committed to, in order, and whether each was
    measured (the same address loaded twice is two visits)."""

    visits: list[_Visit] = field(default_factory=list)

    def watch(self, page: Any) -> Any:
        def committed(frame: Any) -> None:
            if frame == page.main_frame:
                self.visits.append(_Visit(page, frame.url))

        page.on("framenavigated", committed)
        return page

    def measure(self, page: Any, what: str) -> None:
        """Fail with every layout problem of the page as it is now."""
        page.wait_for_load_state("load")
        page.evaluate("document.fonts.ready")
        problems: list[str] = page.evaluate(_MEASURE)
        for visit in reversed(self.visits):
            if visit.page is page:
                visit.measured = True
                break
        assert not problems, f"{what} ({page.url}):\n  " + "\n  ".join(problems)

    def assert_every_page_measured(self) -> None:
        unmeasured = [visit.url for visit in self.visits if not visit.measured]
        assert not unmeasured, f"pages visited but never measured: {unmeasured}"
