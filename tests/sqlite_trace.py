"""Counting what SQLite is asked to do: every connection ``sqlite3.connect`` opens and every statement run on it
(``sqlite3.Connection.set_trace_callback``), for tests that say how much an open costs in statements, not time."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

_DDL = ("CREATE", "ALTER", "DROP")


class SqliteTrace:
    def __init__(self) -> None:
        self.connections = 0
        self.statements: list[str] = []

    def ddl(self) -> list[str]:
        """The statements that change the schema."""
        return [s for s in self.statements if s.lstrip().upper().startswith(_DDL)]

    def reset(self) -> None:
        self.connections = 0
        self.statements.clear()


@contextmanager
def tracing_sqlite(monkeypatch: pytest.MonkeyPatch) -> Iterator[SqliteTrace]:
    """Trace every connection opened from now on (``sqlite3.connect`` is replaced until the test ends)."""
    trace = SqliteTrace()
    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn: sqlite3.Connection = connect(*args, **kwargs)
        trace.connections += 1
        conn.set_trace_callback(trace.statements.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced)
    yield trace
