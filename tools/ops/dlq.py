"""``dlq list | redrive | purge``: the dead-letter queue (``KYC_DEADLETTER_QUEUE``, local SQLite or MNS).

Dead-letter bodies are JSON:

* ``{"kind": "notify", "reason": ..., "merchantBizId": ..., "subscriber": ..., "subscriberKey": ...}`` from the
  notifier (``webhook_undeliverable`` with ``attempts``/``lastError``/``lastStatus``, ``malformed_message``,
  ``transaction_gone`` with ``subscribers`` and ``subscriberKeys``: a message owed to them found its row
  deleted, not redrivable; ``not_final``, ``verdict_unverified`` and ``processing_error`` with
  ``subscriberKeys`` when the message was for those subscribers only); ``subscriber`` is the URL as
  :func:`shared.urls.display_url` prints it (older dead letters stored the whole URL: it is shown the same way),
  ``subscriberKey`` names the subscriber for redrive;
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
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from shared import jsonutil
from shared.config import ConfigError
from shared.notifications import WebhookSettings, is_subscriber_key
from shared.storage import ReceivedMessage, StorageError
from shared.storage.queueing import MAX_VISIBILITY_SECONDS
from shared.storage.sqlite_queue import SqliteQueue
from shared.timestamps import rfc3339
from shared.urls import display_url

from .common import EXIT_FAILED, EXIT_OK, Context, OpsError, UsageError, add_yes, parse_duration

RECEIVE_BATCH = 16
HOLD_SECONDS = 300
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
    if body.get("kind") == "trigger" and isinstance(body.get("body"), str):
        body["body"] = _shown_message(body["body"])
    return {
        "messageId": message.message_id,
        "enqueuedAt": rfc3339(message.first_enqueued_at),
        "receiveCount": message.receive_count,
        "kind": body.get("kind"),
        "body": body,
    }


def _shown_message(text: str) -> str:
    """A trigger dead letter's message as shown: a notify message queued before subscribers were named by key
    listed their URLs in ``pending``, credentials included (review vv); those are shown as ``display_url``. The
    letter itself is left as it is (a redrive sends it back unchanged)."""
    try:
        message = jsonutil.loads(text)
    except jsonutil.JSONDecodeError:
        return text
    pending = message.get("pending") if isinstance(message, dict) else None
    if not isinstance(pending, list) or all(not isinstance(p, str) or is_subscriber_key(p) for p in pending):
        return text
    message["pending"] = [p if not isinstance(p, str) or is_subscriber_key(p) else display_url(p) for p in pending]
    return jsonutil.dumps_str(message)


@dataclass(frozen=True)
class Destination:
    queue: str
    body: bytes


def destination(body: dict[str, Any], *, subscriber_key: str | None = None) -> Destination | str:
    """Where a dead letter goes back to, or why it cannot go anywhere. ``subscriber_key``: send a notify letter's
    event to that subscriber instead of the one it names (a subscriber no longer configured under its old name)."""
    kind = body.get("kind")
    if kind == "notify":
        reason = body.get("reason")
        if reason == "transaction_gone":
            return "its transaction is gone (erased, or deleted by retention): the event cannot be rebuilt"
        if reason == "subscriber_not_configured" and subscriber_key is None:
            return ("no configured subscriber has its name (removed from KYC_WEBHOOKS, or its URL changed while it "
                    "had no id): redrive it with --id and --subscriber")
        mbid = body.get("merchantBizId")
        if not isinstance(mbid, str) or not mbid:
            return "notify dead letter without merchantBizId (malformed original message)"
        message: dict[str, Any] = {"merchantBizId": mbid, "attempt": 0}
        keys = body.get("subscriberKeys")  # the letter of a message for some subscribers only (not transaction_gone)
        named = [name for name in (body.get("subscriberKey"), body.get("subscriber")) if name is not None]
        readable = [name for name in named if _names_one(name)]
        keys_readable = keys is None or (isinstance(keys, list) and all(_names_one(key) for key in keys))
        if subscriber_key is not None:
            message["pending"] = [subscriber_key]
        elif readable:
            message["pending"] = [readable[0]]
        elif named or not keys_readable:
            # For someone, but whom is unreadable: sent to every subscriber, it would reach those it was not for.
            return ("it names its subscribers in a form this tool cannot read (written by hand?): redrive it with --id "
                    "and --subscriber")
        elif keys == []:
            return "it was for subscribers no longer configured (named by URLs, which letters do not keep)"
        elif keys is not None:
            message["pending"] = keys
        return Destination("notify", jsonutil.dumps(message))
    if kind == "trigger":
        queue, original = body.get("queue"), body.get("body")
        if queue not in REDRIVE_QUEUES or not isinstance(original, str):
            return "trigger dead letter without a known queue and body"
        return Destination(str(queue), original.encode())
    return f"unknown dead-letter kind {str(kind)[:40]!r}"


def _names_one(name: object) -> bool:
    return isinstance(name, str) and bool(name)


def _release_seconds(queue: DeadLetterQueue) -> int:
    return 0 if isinstance(queue, SqliteQueue) else 1  # MNS accepts 1-43200 s


@dataclass
class WalkResult:
    seen: int
    deleted: list[str]  # the letters ``take`` took, deleted by the walk (in that order)
    not_deleted: list[str]  # taken, but their deletion was never confirmed: they may still be on the queue
    stopped_at_limit: bool = False  # it saw ``limit`` letters and stopped: others may be on the queue, not seen


def walk(
    queue: DeadLetterQueue,
    take: Callable[[ReceivedMessage], bool],
    limit: int = MAX_MESSAGES,
    clock: Callable[[], float] = time.monotonic,
) -> WalkResult:
    """Receive every letter once and delete those ``take`` takes: it returns True once it has dealt with a letter
    (sent it back, or chosen to purge it), and the walk then deletes it. The others are held (hidden) until the walk
    ends, then made visible again.

    A walk may outlast a receive's hold: ``HOLD_SECONDS`` locally, but the queue's own VisibilityTimeout on MNS (60 s
    in template.yml; a receive cannot choose), after which the letter is visible again and its receipt stale. MNS
    may hand such letters out again before those never received (it guarantees no order; the MNS double's is the
    order sent, came-back letters first), so a letter that comes back is dealt with again, without ``take``: a held
    one is hidden for twice as long as the walk has run so far (``rehold_seconds``), a taken one whose deletion
    found its receipt stale is deleted with the new one. The walk still reaches every letter, however slow it is;
    one it stops in the middle of leaves the letters it held hidden for at most that re-hold."""
    state = _Walk(queue, limit, clock)
    try:
        for letter in state.letters():
            if take(letter):
                state.delete(letter)
            else:
                state.held[letter.message_id] = letter.receipt
    finally:
        state.release_held()
    return WalkResult(len(state.seen), state.deleted, sorted(state.undeleted), state.stopped_at_limit)


def rehold_seconds(elapsed: float) -> int:
    """How long a held letter that came back is hidden again: twice the walk's ``elapsed`` time, at least
    ``HOLD_SECONDS``, at most MNS's longest visibility (12 h): each letter comes back a few times at most."""
    return int(min(MAX_VISIBILITY_SECONDS, max(HOLD_SECONDS, 2 * elapsed)))


class _Walk:
    """One walk's state: the letters seen, held (id → receipt now), deleted, and taken but not yet deleted."""

    def __init__(self, queue: DeadLetterQueue, limit: int, clock: Callable[[], float]) -> None:
        self.queue, self.limit, self.clock = queue, limit, clock
        self.started = clock()
        self.seen: set[str] = set()
        self.held: dict[str, str] = {}
        self.deleted: list[str] = []
        self.undeleted: set[str] = set()
        self.stopped_at_limit = False

    def letters(self) -> Iterator[ReceivedMessage]:
        """The letters not seen yet, until a receive has nothing new: an empty one, or, since the last new letter,
        more letters back again than may come back (each is hidden again as it comes, so the walk always ends).
        Counted in letters, not receives: a receive returns at most ``RECEIVE_BATCH``, maybe fewer, in an order
        MNS does not guarantee ("MNS does not guarantee the order in which messages are consumed", its FAQ)."""
        back_without_news = 0
        while len(self.seen) < self.limit:
            batch = self.queue.receive(max_messages=RECEIVE_BATCH, visibility_timeout=HOLD_SECONDS)
            fresh = [m for m in batch if m.message_id not in self.seen]
            may_come_back = len(self.held) + len(self.undeleted)  # before dealing with them: a deletion empties it
            for letter in batch:
                if letter.message_id in self.seen:
                    self._came_back(letter)
            if fresh:
                back_without_news = 0
            elif not batch or back_without_news >= may_come_back:
                return
            else:
                back_without_news += len(batch)
            for letter in fresh:
                self.seen.add(letter.message_id)
                yield letter
        # At the limit: one more receive says whether letters may be left unseen. Nothing: none. A letter never
        # seen: some. Only letters seen before (on MNS, held ones whose hold ran out come back first): unknown,
        # so said as "may be left" too. Those it takes are held, and made visible again with the others at the end.
        for letter in self.queue.receive(max_messages=RECEIVE_BATCH, visibility_timeout=HOLD_SECONDS):
            self.stopped_at_limit = True
            if letter.message_id in self.seen:
                self._came_back(letter)
            else:
                self.held[letter.message_id] = letter.receipt

    def delete(self, letter: ReceivedMessage) -> None:
        try:
            done = self.queue.delete(letter.receipt)
        except StorageError:  # ReceiptInvalid, or no answer: tried again if the letter comes back
            done = False
        if done:
            self.undeleted.discard(letter.message_id)
            self.deleted.append(letter.message_id)
        else:
            self.undeleted.add(letter.message_id)

    def _came_back(self, letter: ReceivedMessage) -> None:
        if letter.message_id in self.held:
            seconds = rehold_seconds(self.clock() - self.started)
            try:
                self.held[letter.message_id] = self.queue.change_visibility(letter.receipt, seconds)
            except StorageError:  # hidden for the receive's own hold: it comes back once more
                self.held[letter.message_id] = letter.receipt
        elif letter.message_id in self.undeleted:
            self.delete(letter)

    def release_held(self) -> None:
        for receipt in self.held.values():
            # On failure it comes back by itself when its hold runs out (a lost answer to a re-hold: that re-hold).
            with contextlib.suppress(StorageError):
                self.queue.change_visibility(receipt, _release_seconds(self.queue))


# --- commands ---------------------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="show dead letters without taking them (MNS shows at most 16)")
    listing.add_argument("--limit", type=int, default=100)
    redrive = sub.add_parser("redrive", help="put dead letters back on their queue, then delete them here")
    redrive.add_argument("--id", action="append", default=[], dest="ids", metavar="MESSAGE_ID",
                         help="only this message (repeatable); default: every dead letter")
    redrive.add_argument("--subscriber", metavar="ID_OR_URL",
                         help="with --id: send these webhooks to this KYC_WEBHOOKS subscriber (its id, or its URL) "
                              "instead of the one each letter names")
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
    #: Redriven, but the dead letter's deletion was never confirmed: a later redrive may send it again (a webhook
    #: keeps its ``webhook-id``, so receivers deduplicate it).
    not_deleted: list[str] = field(default_factory=list)
    #: The walk stopped at ``MAX_MESSAGES`` letters: others may be on the queue (then ``not_found`` lists the ids
    #: asked for and not seen, which may be among them).
    stopped_at_limit: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"redriven": self.redriven, "skipped": self.skipped, "notFound": self.not_found,
                "notDeleted": self.not_deleted, "stoppedAtLimit": self.stopped_at_limit}

    @property
    def complete(self) -> bool:
        """Every letter asked for was sent back and deleted, and the walk reached them all."""
        return not (self.skipped or self.not_found or self.not_deleted or self.stopped_at_limit)


def redrive(
    queue: DeadLetterQueue,
    send: Callable[[str, bytes], str],
    ids: Collection[str] = (),
    clock: Callable[[], float] = time.monotonic,
    *,
    subscriber_key: str | None = None,
    limit: int = MAX_MESSAGES,
) -> RedriveReport:
    """Put the dead letters ``ids`` (every one when empty) back where they belong: ``send(queue_name, body)``
    first, then the dead letter is deleted (a crash in between sends it twice, never loses it).

    Each message is sent back once a run: a letter whose message was sent back earlier in the same run is left on
    the queue and reported as skipped. A message sent back may fail again at once (its receiver still refuses it)
    and come back as a new dead letter while the walk runs; sending that one too would send it again and again.

    A send that fails (``StorageError``: the queue unavailable) leaves that letter and every later one on the queue,
    reported as skipped, and visible again when the walk ends (review be: the error escaped the run, its report of
    the letters already sent back was lost, and the letters received with the failed one stayed hidden)."""
    wanted = set(ids)
    redriven: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    sent: set[Destination] = set()
    send_failed: list[str] = []  # the first failed send's error code

    def take(message: ReceivedMessage) -> bool:
        if wanted and message.message_id not in wanted:
            return False
        if send_failed:
            skipped.append({"messageId": message.message_id,
                            "reason": f"not tried: a send failed earlier in this run ({send_failed[0]})"})
            return False
        body = parse_body(message.body)
        if subscriber_key is not None and body.get("kind") != "notify":
            skipped.append({"messageId": message.message_id, "reason": "--subscriber re-addresses webhook letters "
                            "only (kind notify): redrive this one without it"})
            return False
        target = destination(body, subscriber_key=subscriber_key)
        if isinstance(target, str):
            skipped.append({"messageId": message.message_id, "reason": target})
            return False
        if target in sent:
            skipped.append({"messageId": message.message_id, "reason": "its message was sent back earlier in this "
                            "run (it failed again, or was dead-lettered twice): left for the next redrive"})
            return False
        try:
            new_id = send(target.queue, target.body)
        except StorageError as exc:
            send_failed.append(exc.code or "StorageError")
            skipped.append({"messageId": message.message_id, "reason": f"sending it back failed ({exc.code}): "
                            "left on the queue; redrive again later"})
            return False
        sent.add(target)
        redriven.append({"messageId": message.message_id, "queue": target.queue, "newMessageId": new_id})
        return True

    walked = walk(queue, take, limit=limit, clock=clock)
    missing = sorted(wanted - {r["messageId"] for r in redriven} - {s["messageId"] for s in skipped})
    # Letters left unseen matter to "every letter", or to ids not found (they may be among them).
    stopped = walked.stopped_at_limit and (not wanted or bool(missing))
    return RedriveReport(redriven, skipped, missing, walked.not_deleted, stopped)


def subscriber_key_of(env: Mapping[str, str], id_or_url: str) -> str:
    """The key of the ``KYC_WEBHOOKS`` subscriber whose ``id`` or URL is ``id_or_url`` (``UsageError`` if none)."""
    try:
        settings = WebhookSettings.from_env(env)
    except ConfigError as exc:
        raise UsageError(f"--subscriber: KYC_WEBHOOKS is not usable ({exc.variable})") from None
    for subscriber in settings.subscribers:
        if id_or_url in (subscriber.id, subscriber.url):
            return subscriber.key
    raise UsageError("--subscriber names no subscriber of KYC_WEBHOOKS (give its id, or its URL exactly)")


def run_redrive(args: argparse.Namespace, ctx: Context) -> int:
    subscriber_key = None
    if args.subscriber is not None:
        if not args.ids:
            raise UsageError("--subscriber needs --id: it re-addresses the letters named, never every letter")
        subscriber_key = subscriber_key_of(ctx.env, args.subscriber)
    stores = ctx.stores()
    report = redrive(deadletter_queue(ctx), lambda name, body: stores.queue(name).send(body), args.ids,
                     subscriber_key=subscriber_key, limit=MAX_MESSAGES)
    ctx.print_json(report.as_dict())
    if report.stopped_at_limit:
        _stopped_at_limit(ctx)
    return EXIT_OK if report.complete else EXIT_FAILED


def _stopped_at_limit(ctx: Context) -> None:
    ctx.note(f"stopped after {MAX_MESSAGES} dead letters (stoppedAtLimit): more may be on the queue; run the command "
             "again")


def run_purge(args: argparse.Namespace, ctx: Context) -> int:
    age = parse_duration(args.older_than, "--older-than")
    queue = deadletter_queue(ctx)
    ctx.confirm(f"delete dead letters older than {args.older_than}", args)
    cutoff = ctx.clock() - age

    def old_enough(message: ReceivedMessage) -> bool:
        return message.first_enqueued_at <= cutoff

    walked = walk(queue, old_enough, limit=MAX_MESSAGES)
    ctx.print_json({"purged": len(walked.deleted), "kept": walked.seen - len(walked.deleted) - len(walked.not_deleted),
                    "messageIds": walked.deleted, "notDeleted": walked.not_deleted,
                    "stoppedAtLimit": walked.stopped_at_limit})
    if walked.stopped_at_limit:
        _stopped_at_limit(ctx)
    return EXIT_FAILED if walked.not_deleted or walked.stopped_at_limit else EXIT_OK
