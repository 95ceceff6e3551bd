#!/usr/bin/env python3
"""The code blocks of docs/quickstart.md marked ``<!-- quickstart: NAME -->``, so that CI
runs the page itself, not a copy of it.

    python3 .ci/quickstart.py NAME     # prints the block's body
    python3 .ci/quickstart.py --list   # prints NAME LANGUAGE per block
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "quickstart.md"
_MARKER = re.compile(r"^<!--\s*quickstart:\s*([\w.-]+)\s*-->$")
_FENCE = re.compile(r"^```([\w+-]*)\s*$")


def quickstart_blocks(text: str) -> dict[str, tuple[str, str]]:
    """NAME → (language, body) for every marked block of ``text``."""
    lines = text.splitlines()
    blocks: dict[str, tuple[str, str]] = {}
    name: str | None = None
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        marker = _MARKER.match(line)
        fence = _FENCE.match(line)
        if marker:
            name = marker.group(1)
        elif fence and fence.group(1):
            end = index + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            if name is not None:
                if name in blocks:
                    raise SystemExit(f"{PAGE}: two blocks named {name!r}")
                blocks[name] = (fence.group(1), "\n".join(lines[index + 1 : end]) + "\n")
            name = None
            index = end
        elif line and not line.startswith("<!--"):
            name = None  # a marker belongs to the block right under it
        index += 1
    return blocks


def main(argv: list[str]) -> int:
    blocks = quickstart_blocks(PAGE.read_text())
    if argv == ["--list"]:
        for name, (language, _) in blocks.items():
            print(name, language)
        return 0
    if len(argv) != 1 or argv[0] not in blocks:
        print(f"usage: quickstart.py NAME|--list (names: {', '.join(blocks)})", file=sys.stderr)
        return 2
    sys.stdout.write(blocks[argv[0]][1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
