"""Progress of a long operation (``kyc sweep``, ``kyc erase``, ``./scripts/loadtest``, ``./scripts/bench``).

One line on stderr, redrawn in place, at most ten times a second — only when stderr is a terminal. Piped, redirected
or captured (CI logs, tests, ``2>file``) it prints nothing: the command's own output stays what it was, and nothing
but a person watching a terminal sees the counter.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

MIN_REDRAW_SECONDS = 0.1


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):  # a closed stream
        return False


class Progress:
    """``label: done/total (pct) · detail · elapsed``; ``total`` may be unknown. Thread-safe; a context manager that
    ends the line (and leaves the last state on screen) when the operation is over."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        unit: str = "",
        detail: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = is_terminal(self.stream) if enabled is None else enabled
        self.clock = clock
        self.done = 0
        self.detail = detail
        self._started = clock()
        self._drawn_at: float | None = None
        self._width = 0
        self._lock = threading.Lock()

    def advance(self, count: int = 1, detail: str | None = None) -> None:
        with self._lock:
            self.done += count
            if detail is not None:
                self.detail = detail
            self._draw(force=self.total is not None and self.done >= self.total)

    def update(self, done: int | None = None, *, total: int | None = None, detail: str | None = None,
               label: str | None = None) -> None:
        with self._lock:
            if done is not None:
                self.done = done
            if total is not None:
                self.total = total
            if detail is not None:
                self.detail = detail
            if label is not None:
                self.label = label
            self._draw(force=label is not None)

    def line(self) -> str:
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        if self.total:
            count += f" ({100 * self.done // self.total}%)"
        if self.unit:
            count += f" {self.unit}"
        parts = [f"{self.label}: {count}"]
        if self.detail:
            parts.append(self.detail)
        parts.append(f"{self.clock() - self._started:.1f} s")
        return " · ".join(parts)

    def _draw(self, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if not force and self._drawn_at is not None and now - self._drawn_at < MIN_REDRAW_SECONDS:
            return
        self._drawn_at = now
        text = self.line()
        padding = " " * max(0, self._width - len(text))
        self._width = len(text)
        try:
            self.stream.write(f"\r{text}{padding}")
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False  # the terminal went away: the operation goes on without a counter

    def close(self) -> None:
        with self._lock:
            if not self.enabled or self._drawn_at is None:
                return
            self._draw(force=True)
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass
            self.enabled = False

    def __enter__(self) -> Progress:
        self._draw(force=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
