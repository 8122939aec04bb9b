"""``dlq list | redrive | purge``: the dead-letter queue (``KYC_DEADLETTER_QUEUE``, local SQLite or MNS).

Dead-letter bodies are JSON:

* ``{"kind": "notify", "reason": ..., "merchantBizId": ..., "subscriber": ..., "subscriberKey": ...}`` from the
  notifier (``webhook_undeliverable`` with ``attempts``/``lastError``/``lastStatus``, ``not_final``,
  ``malformed_message``, ``transaction_gone`` with ``subscribers`` and ``subscriberKeys``: a message owed to
  them found its row deleted, not redrivable); ``subscriber`` is the URL as :func:`shared.urls.display_url`
  prints it (older dead letters stored the whole URL: it is shown the same way), ``subscriberKey`` names the
  subscriber for redrive;
* ``{"kind": "trigger", "queue": "recheck"|"notify", "body": "<original message text>"}`` from a queue trigger
  (locally the dev worker) that gave up on a message.

Redrive puts a message back where it belongs and then deletes it from the dead-letter queue: an undeliverable
webhook goes to the notify queue as ``{"merchantBizId", "attempt": 0, "pending": [subscriberKey]}`` (only that
subscriber is sent the event again, with a fresh retry schedule; an older dead letter without a key names it by
its stored URL); a trigger message goes back to its queue as it
was. Messages that cannot be redriven (a malformed notify message, an unknown kind) stay where they are.

Selection works by receiving: selected messages are handled and deleted, the others are held (invisible) for
the rest of the run and made visible again at its end (a walk slower than the queue's hold hides the letters that
come back for longer: ``walk``).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, cast

from shared import jsonutil
from shared.storage import ReceiptInvalid, ReceivedMessage, StorageError
from shared.storage.sqlite_queue import SqliteQueue
from shared.timestamps import rfc3339
from shared.urls import display_url

from .common import EXIT_FAILED, EXIT_OK, Context, OpsError, UsageError, add_yes, parse_duration

RECEIVE_BATCH = 16
HOLD_SECONDS = 300
#: How long a held letter that came back during the walk is hidden again (``walk``); a walk that crashes leaves such
#: letters hidden at most this long (never lost: MNS keeps them for the queue's retention).
REHOLD_SECONDS = 3600
MAX_MESSAGES = 10_000
REDRIVE_QUEUES = ("recheck", "notify")


class DeadLetterQueue(Protocol):
    def send(self, body: bytes, *, delay_seconds: int = 0) -> str: ...

    def receive(self, max_messages: int = 10, visibility_timeout: int = 30) -> list[ReceivedMessage]: ...

    def delete(self, receipt: str) -> bool: ...

    def change_visibility(self, receipt: str, seconds: int) -> str: ...

    def peek(self, limit: int = 100) -> list[ReceivedMessage]: ...


def deadletter_queue(ctx: Context) -> DeadLetterQueue:
    queue = ctx.stores().queue("deadletter")
    for method in ("receive", "delete", "change_visibility", "peek"):
        if not callable(getattr(queue, method, None)):
            raise OpsError("the configured dead-letter queue cannot be read by this tool", "Unsupported")
    return cast(DeadLetterQueue, queue)


def parse_body(body: bytes) -> dict[str, Any]:
    try:
        value = jsonutil.loads(body)
    except jsonutil.JSONDecodeError:
        return {"kind": "unreadable", "size": len(body)}
    return value if isinstance(value, dict) else {"kind": "unreadable", "size": len(body)}


def view(message: ReceivedMessage) -> dict[str, Any]:
    body = parse_body(message.body)
    if isinstance(body.get("subscriber"), str):  # older dead letters stored the URL with its credentials
        body["subscriber"] = display_url(body["subscriber"])
    return {
        "messageId": message.message_id,
        "enqueuedAt": rfc3339(message.first_enqueued_at),
        "receiveCount": message.receive_count,
        "kind": body.get("kind"),
        "body": body,
    }


@dataclass(frozen=True)
class Destination:
    queue: str
    body: bytes


def destination(body: dict[str, Any]) -> Destination | str:
    """Where a dead letter goes back to, or why it cannot go anywhere."""
    kind = body.get("kind")
    if kind == "notify":
        if body.get("reason") == "transaction_gone":
            return "its transaction is gone (erased, or deleted by retention): the event cannot be rebuilt"
        mbid = body.get("merchantBizId")
        if not isinstance(mbid, str) or not mbid:
            return "notify dead letter without merchantBizId (malformed original message)"
        message: dict[str, Any] = {"merchantBizId": mbid, "attempt": 0}
        subscriber = body.get("subscriberKey", body.get("subscriber"))
        if isinstance(subscriber, str) and subscriber:
            message["pending"] = [subscriber]
        return Destination("notify", jsonutil.dumps(message))
    if kind == "trigger":
        queue, original = body.get("queue"), body.get("body")
        if queue not in REDRIVE_QUEUES or not isinstance(original, str):
            return "trigger dead letter without a known queue and body"
        return Destination(str(queue), original.encode())
    return f"unknown dead-letter kind {str(kind)[:40]!r}"


def _release_seconds(queue: DeadLetterQueue) -> int:
    return 0 if isinstance(queue, SqliteQueue) else 1  # MNS accepts 1-43200 s


def walk(queue: DeadLetterQueue, handle: Callable[[ReceivedMessage], bool], limit: int = MAX_MESSAGES) -> int:
    """Receive every message once; ``handle`` returns True when it consumed (deleted) the message. The others
    stay hidden until the walk ends, then become visible again. Returns how many messages were seen.

    A receive hides a letter for ``HOLD_SECONDS`` locally but for the queue's own VisibilityTimeout on MNS (the
    walk cannot choose there), and MNS hands out the letters whose hold ran out before those never received (the
    MNS double's order, the order they were sent: unverified on MNS itself). So a held letter that comes back
    before the walk ends is hidden again for ``REHOLD_SECONDS``: each comes back at most once, and the walk
    still reaches the letters it has not seen, however slow it is."""
    held: dict[str, str] = {}  # message id → its receipt now
    seen: set[str] = set()
    try:
        for message in _receive_all(queue, held, seen, limit):
            if not handle(message):
                held[message.message_id] = message.receipt
    finally:
        for receipt in held.values():
            # On failure it comes back by itself when its visibility timeout runs out.
            with contextlib.suppress(ReceiptInvalid, StorageError):
                queue.change_visibility(receipt, _release_seconds(queue))
    return len(seen)


def _receive_all(
    queue: DeadLetterQueue, held: dict[str, str], seen: set[str], limit: int
) -> Iterator[ReceivedMessage]:
    """The letters not seen yet, until a receive has nothing new: at most as many receives in a row without a new
    letter as it takes to hide every held letter again (plus one), so a letter that keeps coming back (one
    consumed whose deletion did not take) cannot keep the walk going."""
    rounds_without_news = 0
    while len(seen) < limit:
        batch = queue.receive(max_messages=RECEIVE_BATCH, visibility_timeout=HOLD_SECONDS)
        fresh = [m for m in batch if m.message_id not in seen]
        for message in batch:
            if message.message_id in held:  # back before the walk's end: hide it for longer
                held[message.message_id] = _hold_longer(queue, message.receipt)
        if fresh:
            rounds_without_news = 0
        elif not batch or rounds_without_news > len(held) // RECEIVE_BATCH:
            return
        else:
            rounds_without_news += 1
        for message in fresh:
            seen.add(message.message_id)
            yield message


def _hold_longer(queue: DeadLetterQueue, receipt: str) -> str:
    """Hide a held letter for ``REHOLD_SECONDS``; its receipt from now on (the one it came with if that fails:
    valid until the receive's own hold runs out, when it comes back again)."""
    try:
        return queue.change_visibility(receipt, REHOLD_SECONDS)
    except (ReceiptInvalid, StorageError):
        return receipt


# --- commands ---------------------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="show dead letters without taking them (MNS shows at most 16)")
    listing.add_argument("--limit", type=int, default=100)
    redrive = sub.add_parser("redrive", help="put dead letters back on their queue, then delete them here")
    redrive.add_argument("--id", action="append", default=[], dest="ids", metavar="MESSAGE_ID",
                         help="only this message (repeatable); default: every dead letter")
    purge = sub.add_parser("purge", help="delete dead letters older than --older-than")
    purge.add_argument("--older-than", required=True, help="an age like 90s, 30m, 24h, 7d (0 = all)")
    add_yes(purge)


def run(args: argparse.Namespace, ctx: Context) -> int:
    actions: dict[str, Callable[[argparse.Namespace, Context], int]] = {
        "list": run_list,
        "redrive": run_redrive,
        "purge": run_purge,
    }
    return actions[args.dlq_command](args, ctx)


def run_list(args: argparse.Namespace, ctx: Context) -> int:
    if not 1 <= args.limit <= MAX_MESSAGES:
        raise UsageError(f"--limit must be between 1 and {MAX_MESSAGES}")
    messages = deadletter_queue(ctx).peek(args.limit)
    for message in messages:
        ctx.print_json(view(message))
    if not messages:
        ctx.note("the dead-letter queue is empty")
    return EXIT_OK


@dataclass
class RedriveReport:
    redriven: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    not_found: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"redriven": self.redriven, "skipped": self.skipped, "notFound": self.not_found}


def redrive(queue: DeadLetterQueue, send: Callable[[str, bytes], str], ids: Collection[str] = ()) -> RedriveReport:
    """Put the dead letters ``ids`` (every one when empty) back where they belong: ``send(queue_name, body)``
    first, then the dead letter is deleted (a crash in between sends it twice, never loses it)."""
    wanted = set(ids)
    redriven: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []

    def handle(message: ReceivedMessage) -> bool:
        if wanted and message.message_id not in wanted:
            return False
        target = destination(parse_body(message.body))
        if isinstance(target, str):
            skipped.append({"messageId": message.message_id, "reason": target})
            return False
        new_id = send(target.queue, target.body)
        queue.delete(message.receipt)
        redriven.append({"messageId": message.message_id, "queue": target.queue, "newMessageId": new_id})
        return True

    walk(queue, handle)
    missing = sorted(wanted - {r["messageId"] for r in redriven} - {s["messageId"] for s in skipped})
    return RedriveReport(redriven, skipped, missing)


def run_redrive(args: argparse.Namespace, ctx: Context) -> int:
    stores = ctx.stores()
    report = redrive(deadletter_queue(ctx), lambda name, body: stores.queue(name).send(body), args.ids)
    ctx.print_json(report.as_dict())
    return EXIT_FAILED if report.skipped or report.not_found else EXIT_OK


def run_purge(args: argparse.Namespace, ctx: Context) -> int:
    age = parse_duration(args.older_than, "--older-than")
    queue = deadletter_queue(ctx)
    ctx.confirm(f"delete dead letters older than {args.older_than}", args)
    cutoff = ctx.clock() - age
    purged: list[str] = []

    def handle(message: ReceivedMessage) -> bool:
        if message.first_enqueued_at > cutoff:
            return False
        if queue.delete(message.receipt):
            purged.append(message.message_id)
        return True

    seen = walk(queue, handle)
    ctx.print_json({"purged": len(purged), "kept": seen - len(purged), "messageIds": purged})
    return EXIT_OK
