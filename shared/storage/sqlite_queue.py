"""``SqliteQueue``: the local stand-in for an MNS queue (delays, visibility timeout, at-least-once).

Several named queues share one file (``KYC_DATA_DIR/queues.sqlite3``). ``receive`` claims messages inside a
``BEGIN IMMEDIATE`` transaction, so two consumers (threads or processes) never receive the same message at the
same time; a message whose visibility timeout runs out without ``delete`` is delivered again with a new receipt
and a higher ``receive_count`` (at-least-once, as MNS). Bodies are stored raw; producers that hand them to a
function as an MNS-trigger event must ``encode_message_body`` them (see ``queueing.MESSAGE_BODY_ENCODING``).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable

from ._sqlite import SqliteDatabase, schema_version
from .errors import ReceiptInvalid
from .queueing import MAX_VISIBILITY_SECONDS, ReceivedMessage, check_body_size, check_delay, check_queue_name

MAX_RECEIVE_BATCH = 16

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL,
    enqueued_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT UNIQUE
)""",
    "CREATE INDEX IF NOT EXISTS messages_visible ON messages (queue, visible_at, seq)",
)
SCHEMA_VERSION = schema_version(*_SCHEMA)


def _set_up(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA:
        conn.execute(statement)


class SqliteQueue:
    def __init__(
        self,
        path: str | os.PathLike[str],
        name: str,
        *,
        clock: Callable[[], float] = time.time,
        database: SqliteDatabase | None = None,
    ) -> None:
        """``database``: the file already open (see :meth:`sibling`); otherwise ``path`` is opened here."""
        self.name = check_queue_name(name)
        self._clock = clock
        self._db = database if database is not None else SqliteDatabase(path, SCHEMA_VERSION, _set_up)

    def sibling(self, name: str) -> SqliteQueue:
        """Queue ``name`` in this queue's file, on the same connections: one pool and one open per file, not per
        queue (each open is a connection whose first statement opens the WAL: most of an open's cost). Closing
        either closes the pool for both (connections are then opened per statement)."""
        return SqliteQueue(self._db.path, name, clock=self._clock, database=self._db)

    def close(self) -> None:
        self._db.close()

    def send(self, body: bytes, *, delay_seconds: int = 0) -> str:
        check_body_size(body)
        check_delay(delay_seconds)
        now = self._clock()
        message_id = os.urandom(16).hex().upper()
        self._db.execute(
            "INSERT INTO messages (queue, message_id, body, enqueued_at, visible_at) VALUES (?, ?, ?, ?, ?)",
            (self.name, message_id, bytes(body), now, now + delay_seconds),
        )
        return message_id

    def receive(self, max_messages: int = 10, visibility_timeout: int = 30) -> list[ReceivedMessage]:
        if not 1 <= max_messages <= MAX_RECEIVE_BATCH:
            raise ValueError(f"max_messages must be between 1 and {MAX_RECEIVE_BATCH}")
        _check_visibility(visibility_timeout)
        now = self._clock()
        received: list[ReceivedMessage] = []
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT seq, message_id, body, enqueued_at, receive_count FROM messages"
                " WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, seq LIMIT ?",
                (self.name, now, max_messages),
            ).fetchall()
            for row in rows:
                receipt = f"{row['message_id']}-{os.urandom(12).hex()}"
                conn.execute(
                    "UPDATE messages SET receipt = ?, receive_count = receive_count + 1, visible_at = ? WHERE seq = ?",
                    (receipt, now + visibility_timeout, row["seq"]),
                )
                received.append(
                    ReceivedMessage(
                        message_id=row["message_id"],
                        body=bytes(row["body"]),
                        receipt=receipt,
                        receive_count=int(row["receive_count"]) + 1,
                        first_enqueued_at=float(row["enqueued_at"]),
                    )
                )
        return received

    def delete(self, receipt: str) -> bool:
        cur = self._db.execute("DELETE FROM messages WHERE queue = ? AND receipt = ?", (self.name, receipt))
        return cur.rowcount == 1

    def change_visibility(self, receipt: str, seconds: int) -> str:
        """Hide the message for ``seconds`` (0: visible now); its receipt stays valid and is returned."""
        if not isinstance(seconds, int) or not 0 <= seconds <= MAX_VISIBILITY_SECONDS:
            raise ValueError(f"seconds must be a whole number between 0 and {MAX_VISIBILITY_SECONDS}")
        cur = self._db.execute(
            "UPDATE messages SET visible_at = ? WHERE queue = ? AND receipt = ?",
            (self._clock() + seconds, self.name, receipt),
        )
        if cur.rowcount != 1:
            raise ReceiptInvalid()
        return receipt

    def peek(self, limit: int = 100) -> list[ReceivedMessage]:
        """Up to ``limit`` messages, oldest first, visible or not, without receiving them (ops listings).

        Nothing changes: no receipt is issued (``receipt`` is empty) and ``receive_count`` is the count so far.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        rows = self._db.execute(
            "SELECT message_id, body, enqueued_at, receive_count FROM messages WHERE queue = ? ORDER BY seq LIMIT ?",
            (self.name, limit),
        ).fetchall()
        return [
            ReceivedMessage(
                message_id=row["message_id"],
                body=bytes(row["body"]),
                receipt="",
                receive_count=int(row["receive_count"]),
                first_enqueued_at=float(row["enqueued_at"]),
            )
            for row in rows
        ]

    def size(self) -> int:
        """Messages in the queue, visible or not (for tests and the dev worker's status line)."""
        row = self._db.execute("SELECT COUNT(*) FROM messages WHERE queue = ?", (self.name,)).rows[0]
        return int(row[0])


def _check_visibility(seconds: int) -> None:
    if not isinstance(seconds, int) or not 1 <= seconds <= MAX_VISIBILITY_SECONDS:
        raise ValueError(f"visibility_timeout must be a whole number between 1 and {MAX_VISIBILITY_SECONDS}")
