"""Progress of long operations: a redrawn line on a terminal, nothing at all anywhere else."""

from __future__ import annotations

import io

from tools.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_piped_or_captured_it_prints_nothing() -> None:
    stream = io.StringIO()
    with Progress("erase", 3, stream=stream) as progress:
        for _ in range(3):
            progress.advance()
    assert stream.getvalue() == ""


def test_on_a_terminal_it_redraws_one_line_and_ends_it() -> None:
    stream, clock = Terminal(), Clock()
    with Progress("erase", 4, stream=stream, unit="transactions", clock=clock) as progress:
        clock.now += 0.5
        progress.advance()
        clock.now += 1.0
        progress.advance(3)
    text = stream.getvalue()
    assert text.startswith("\rerase: 0/4 (0%) transactions · 0.0 s")
    assert "\rerase: 1/4 (25%) transactions · 0.5 s" in text
    assert text.endswith("\rerase: 4/4 (100%) transactions · 1.5 s\n")
    assert text.count("\n") == 1


def test_it_redraws_at_most_ten_times_a_second() -> None:
    stream, clock = Terminal(), Clock()
    progress = Progress("sweep", stream=stream, clock=clock)
    for _ in range(50):
        clock.now += 0.01
        progress.advance()
    assert stream.getvalue().count("\r") == 5  # 0.5 s of work: a redraw every 0.1 s
    assert progress.done == 50


def test_an_unknown_total_shows_the_count_and_the_detail() -> None:
    stream, clock = Terminal(), Clock()
    progress = Progress("bench", stream=stream, clock=clock, detail="cold starts")
    progress.advance()
    assert progress.line() == "bench: 1 · cold starts · 0.0 s"
