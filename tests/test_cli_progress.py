"""Progress lines: plain style, a counter and an estimate of the time left."""

from __future__ import annotations

import io
from collections.abc import Iterator

from perfaudit.cli.progress import Progress


def _clock(times: list[float]) -> Iterator[float]:
    yield from times


def test_log_lines_carry_the_counter_and_the_time_left() -> None:
    out = io.StringIO()
    ticks = _clock([0.0, 2.0, 4.0, 4.5])
    progress = Progress(out, verbosity=2, tty=False, clock=lambda: next(ticks))
    progress("event-list: round 1/4")
    progress("event-list: round 2/4")
    progress("event-list: round 3/4")
    progress("starting head (HEAD @ 0123456789)")
    assert out.getvalue().splitlines() == [
        "[round 1/4] event-list",
        "[round 2/4, ~4 s left] event-list",
        "[round 3/4, ~2 s left] event-list",
        "starting head (HEAD @ 0123456789)",
    ]
    assert "\x1b[31m" not in out.getvalue()  # never Django's red ERROR style


def test_a_terminal_gets_one_updating_line_ended_on_close() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=True)
    progress("[1/2] event-list")
    progress("[2/2] venue-page")
    progress.close()
    assert out.getvalue() == "\r\x1b[K[step 1/2] event-list\r\x1b[K[step 2/2] venue-page\n"


def test_verbosity_zero_is_quiet_and_a_log_needs_verbosity_two() -> None:
    for verbosity, tty in ((0, True), (1, False)):
        out = io.StringIO()
        progress = Progress(out, verbosity=verbosity, tty=tty)
        progress("[1/2] event-list")
        progress.close()
        assert out.getvalue() == ""


def test_a_notice_is_printed_in_a_log_too_but_not_at_verbosity_zero() -> None:
    out = io.StringIO()
    progress = Progress(out, verbosity=1, tty=False)
    progress("[1/2] hidden in a log at -v 1")
    progress.notice("removed 2 folder(s) left by a compare run that was killed")
    assert out.getvalue() == "removed 2 folder(s) left by a compare run that was killed\n"
    quiet = io.StringIO()
    Progress(quiet, verbosity=0, tty=False).notice("x")
    assert quiet.getvalue() == ""


def test_counts_take_the_right_noun() -> None:
    from perfaudit.text import plural

    assert plural(1, "query", "queries") == "1 query"
    assert plural(2, "query", "queries") == "2 queries"
    assert plural(0, "finding") == "0 findings"
    assert plural(1, "more shape") == "1 more shape"
