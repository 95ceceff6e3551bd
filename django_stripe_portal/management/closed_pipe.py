"""Commands whose output is piped (``portal_activity --format csv | head``): when the
reader stops early, stop writing quietly instead of ending in a ``BrokenPipeError``
traceback."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

#: The exit status after the reader went away: 1, as Python's documentation advises
#: (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
CLOSED_PIPE_EXIT = 1


@contextlib.contextmanager
def stop_quietly_when_the_reader_goes() -> Iterator[None]:
    """Run the writing part of a command; if its reader closed the pipe, point stdout at
    ``/dev/null`` (so the interpreter's last flush cannot fail either) and exit."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(CLOSED_PIPE_EXIT) from None
