"""The process's Ctrl-C policy outside the Benchmarker's event loop.

The first Ctrl-C raises KeyboardInterrupt: the command stops where it is and says so (a run
that has started still writes what it measured: the Benchmarker handles that one itself and
calls :func:`note_interrupt`). Any later Ctrl-C exits at once with status 130 and one line: a
KeyboardInterrupt raised again while the first one is being handled could land in a
finalizer and print "Exception ignored ..." with a traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any

__all__ = ["exit_now", "install", "note_interrupt"]

_count = [0]


def note_interrupt() -> None:
    """A Ctrl-C (or SIGTERM) was handled elsewhere: the next one exits at once."""
    _count[0] += 1


def exit_now(code: int = 130, why: str = "interrupted again") -> None:
    """Leave now: one line on stderr, no cleanup, no traceback."""
    with contextlib.suppress(Exception):
        sys.stderr.write(f"\nguidellm: {why}, exiting now\n")
        sys.stderr.flush()
    os._exit(code)


def _handler(_signum: int, _frame: Any) -> None:
    _count[0] += 1
    if _count[0] > 1:
        exit_now()
    raise KeyboardInterrupt


def _terminated(_signum: int, _frame: Any) -> None:
    # Outside a run nothing was measured: leave with the code a shell shows for SIGTERM.
    exit_now(143, "terminated")


def install() -> None:
    """Make these the SIGINT and SIGTERM handlers (the console script does, first thing)."""
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _terminated)
