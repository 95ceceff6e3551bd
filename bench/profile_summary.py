"""Where the CPU time of a profiled target goes: ``python bench/profile_summary.py FILE…``.

Reads py-spy's collapsed stacks (``run.py --profile`` writes them to ``bench/out/``)
and prints the functions by inclusive share of the samples, line numbers folded.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>.*?)(?::\d+)?\)$")


def _function(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['name']} ({path})"


def inclusive_shares(paths: list[Path]) -> tuple[int, Counter[str]]:
    """Total samples, and samples per function (each counted once per stack)."""
    total = 0
    per_function: Counter[str] = Counter()
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            samples = int(count)
            total += samples
            for function in {_function(frame) for frame in stack.split(";")[1:]}:
                per_function[function] += samples
    return total, per_function


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--match", default="", help="only functions whose name contains this")
    args = parser.parse_args()
    total, per_function = inclusive_shares(args.files)
    print(f"{total} samples")
    shown = [(f, n) for f, n in per_function.most_common() if args.match in f]
    for function, samples in shown[: args.top]:
        print(f"{100 * samples / total:6.1f}%  {function}")


if __name__ == "__main__":
    main()
