"""Progress lines for the long subcommands (``audit``, ``compare``).

Progress is not an error: it goes to stderr (stdout carries the report, which
may be redirected to a file) in the terminal's plain style, never in Django's
red ERROR style. On a terminal it is one line updated in place; in a log (CI)
one line per step, with ``-v 2`` only. ``-v 0`` silences it. A message that counts steps
(``"round 4/10"``, ``"[2/5]"``) gets an estimate of the time left, from the
pace of the steps so far::

    [round 4/10, ~6 s left] event-list
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from typing import Any, Final, TextIO

__all__ = ["Progress", "raw_stream"]

_STEP: Final = re.compile(r"\[?(?P<word>round )?(?P<done>\d+)/(?P<total>\d+)\]?:?\s*")
# Carriage return, then erase to the end of the line.
_REWRITE: Final = "\r\x1b[K"


class Progress:
    """A callable taking one message per step; :meth:`close` ends the updating line."""

    def __init__(
        self,
        stream: TextIO,
        *,
        verbosity: int = 1,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.verbosity = verbosity
        # A log (not a terminal) gets progress only when asked for (-v 2), so
        # that stderr otherwise holds just the one-line reason for a failure.
        self.enabled = verbosity >= 2 or (verbosity >= 1 and self.tty)
        self._clock = clock
        self._started: dict[int, tuple[float, int]] = {}  # total -> (time, done) of first step
        self._open = False

    def __call__(self, message: str) -> None:
        if not self.enabled:
            return
        line = self._with_eta(message)
        if self.tty:
            self.stream.write(_REWRITE + line)
            self._open = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def notice(self, message: str) -> None:
        """A line the user must see whenever not silenced (``-v 0``), even in a log."""
        if self.verbosity < 1:
            return
        self.close()
        self.stream.write(message + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the updating line, so what follows starts on a line of its own."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

    def _with_eta(self, message: str) -> str:
        match = _STEP.search(message)
        if match is None:
            return message
        done, total = int(match["done"]), int(match["total"])
        now = self._clock()
        first = self._started.setdefault(total, (now, done))
        counter = f"{(match['word'] or '').strip() or 'step'} {done}/{total}"
        rest = (message[: match.start()] + message[match.end() :]).strip(" :")
        steps = done - first[1]
        if steps > 0 and done < total:
            left = (now - first[0]) / steps * (total - done)
            counter += f", ~{_duration(left)} left"
        return f"[{counter}] {rest}".rstrip()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{round(seconds / 60)} min"


def raw_stream(wrapper: Any) -> TextIO:
    """The stream under a management command's ``stderr`` wrapper, unstyled."""
    stream: TextIO = getattr(wrapper, "_out", sys.stderr)
    return stream
