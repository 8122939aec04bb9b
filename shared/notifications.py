"""Deliver verification events to every subscriber: Standard Webhooks signatures, retries, dead letters.

A notify message names only the transaction (no PII travels through the queue); the event is rebuilt from the row
and, for subscribers allowed to see PII, from the stored result. A verdict is announced only once its row is shown
to say what its kept result says (``Notifier._verified_result``): the initializer's role may write rows, never kept
results. What each subscriber is shown of the person follows its disclosure (:mod:`shared.disclosure`: by default
the outcome only). The ``webhook-id`` is derived from the transaction, so every retry and every duplicate message
carries the same id: receivers deduplicate on it.

Order of effects for one message: the row is read, a verdict checked against its kept result (one that disagrees is
dead-lettered, one that cannot be read is retried per subscriber), the event built, every subscriber the message
names is sent the event (concurrently, bounded, each on its own deadline), then for each subscriber that failed: a
follow-up message naming **that subscriber alone** is enqueued with its own attempt number and delay (the schedule's
next step, or the subscriber's own ``Retry-After`` when longer, capped at a day), or, once its schedule is exhausted
or the failure is permanent, a dead letter. So each subscriber retries, exhausts and is dead-lettered on its own
schedule: a subscriber asking for a day's pause delays nobody else's next attempt. Messages name subscribers by
:attr:`Subscriber.key` (a hash of the URL), and dead letters print the URL only as :func:`shared.urls.display_url`.
A crash after some follow-ups were sent redelivers the whole message: subscribers may then get the event twice, with
the same ``webhook-id``.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Callable, Collection, Sequence
from functools import cached_property, partial
from urllib.parse import urlsplit

from shared import jsonutil
from shared.config import (
    ConfigError,
    Env,
    env_bool,
    env_float,
    env_str,
    environ,
    http_url,
    is_aliyun_backend,
    json_setting,
)
from shared.delivery import DeliveryResult, TargetPolicy, post_webhook
from shared.disclosure import EVERYTHING, MINIMAL, Disclosure, UnknownField, identity_fields
from shared.ids import is_result_document_key
from shared.log import get_logger, register_secret, security_event
from shared.messages import NotifyMessage
from shared.parallel import MAX_CONCURRENT_CALLERS, ThreadPool, run_all
from shared.status import Status
from shared.storage import ObjectNotFound, StorageError, TransactionRecord
from shared.storage.queueing import queue_delay
from shared.storage.records import face_verdicts
from shared.subcodes import sub_code_message
from shared.timestamps import rfc3339
from shared.urls import display_url, is_safe_url, plain_http_allowed
from shared.values import field, valueclass
from shared.webhook_retries import retry_delay, retry_schedule_from_env
from shared.webhooks import InvalidWebhookSecret, WebhookSecret, signature_headers

TYPE_CHECKING = False  # typing's flag without importing typing (docs/performance.md, "No typing at run time")
if TYPE_CHECKING:
    from typing import Any

    from shared.storage import ObjectStore, Queue, TransactionStore

logger = get_logger("kyc.notifier")


class VerdictUnverified(Exception):
    """A verdict's row and its kept result do not agree (``problem`` says how): nothing is announced."""

    log_safe = True

    def __init__(self, problem: str) -> None:
        super().__init__(f"the verdict could not be verified against its kept result: {problem}")
        self.problem = problem


#: The webhook event of each terminal status (:data:`shared.status.TERMINAL`); any other status is not announced.
EVENT_TYPES: dict[Status, str] = {
    Status.PASSED: "verification.completed",
    Status.FAILED: "verification.completed",
    Status.ABANDONED: "verification.abandoned",
}
MAX_PARALLEL_DELIVERIES = 16  # per message
#: Subscribers a deployment may configure (``KYC_WEBHOOKS``): what the notifier's timeout is budgeted for (their
#: deliveries within DELIVERY_BUDGET_SECONDS, then a follow-up message each, sent twice at worst, side by side), as
#: many as the default KYC_WEBHOOK_TIMEOUT admits. More would need a timeout past the 5 minutes its queue trigger
#: waits (tests/test_deploy_config.py, "time budgets"; found by review az: a 1 s timeout admitted 400).
MAX_SUBSCRIBERS = 32

#: Seconds one notify message may spend delivering: its rounds of deliveries (ceil(subscribers /
#: MAX_PARALLEL_DELIVERIES), each up to KYC_WEBHOOK_TIMEOUT) must fit, leaving the function time to read the row
#: and enqueue follow-ups before FC ends it (the notifier's timeout in s.yaml) and ending before the message is
#: delivered again (the notify queue's visibility timeout in template.yml, the local worker's): tests/
#: test_deploy_config.py checks the budget against them; the settings check KYC_WEBHOOK_TIMEOUT against it at start.
DELIVERY_BUDGET_SECONDS = 25.0
DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 10.0

Sender = Callable[[str, bytes, dict[str, str]], DeliveryResult]


#: How a subscriber key starts: ``id_<id>`` for a subscriber with an ``id``, ``sub_<hash>`` for one known by its URL.
ID_KEY_PREFIX, URL_KEY_PREFIX = "id_", "sub_"


def is_subscriber_key(name: str) -> bool:
    """Whether a name in a message's ``pending`` is a subscriber key (else a URL, from messages queued before keys)."""
    return name.startswith((ID_KEY_PREFIX, URL_KEY_PREFIX))


@valueclass
class Subscriber:
    """A webhook receiver. ``headers`` are sent with every delivery (e.g. the receiver's own ``Authorization``:
    credentials never go in the URL); ``fields`` selects the identity fields it is shown (None: none, or every
    one with ``include_pii``), in clear with ``include_pii``, masked otherwise."""

    url: str = field(repr=False)  # a path or query may hold the receiver's token
    secret: str = field(repr=False)
    include_pii: bool = False
    previous_secrets: tuple[str, ...] = field(default=(), repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    fields: frozenset[str] | None = None
    #: The merchant's name for this receiver (``id`` in ``KYC_WEBHOOKS``): what names it once given, whatever its URL.
    id: str | None = None

    @property
    def signing_secrets(self) -> tuple[str, ...]:
        """Every secret to sign with: during a rotation receivers may still know only an older one."""
        return (self.secret, *self.previous_secrets)

    @cached_property
    def key(self) -> str:
        """How queue messages and dead letters name this subscriber, never by its URL: ``id_<id>`` when it has an
        ``id`` (stable when its URL changes), else :attr:`url_key` (stable while its URL is)."""
        return f"{ID_KEY_PREFIX}{self.id}" if self.id is not None else self.url_key

    @cached_property
    def url_key(self) -> str:
        """The name derived from the URL: what messages queued before the subscriber had an ``id`` call it."""
        return URL_KEY_PREFIX + hashlib.sha256(self.url.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    def is_named_by(self, names: Collection[str]) -> bool:
        """Whether a message's ``pending`` names this subscriber: by key, by URL key, or (before keys) by URL."""
        return self.key in names or self.url_key in names or self.url in names

    @property
    def disclosure(self) -> Disclosure:
        if self.fields is None:
            return EVERYTHING if self.include_pii else MINIMAL
        return Disclosure(self.fields, clear=self.include_pii)


@valueclass
class WebhookSettings:
    subscribers: tuple[Subscriber, ...]
    retry_schedule: tuple[float, ...]
    allow_private_targets: bool
    require_https: bool
    timeout_seconds: float

    @property
    def target_policy(self) -> TargetPolicy:
        """The SSRF guard's rules for these subscribers (``shared.delivery``): what the notifier delivers under and
        what ``kyc doctor`` checks each subscriber against."""
        return TargetPolicy(allow_private=self.allow_private_targets, require_https=self.require_https)

    @classmethod
    def from_env(cls, env: Env | None = None) -> WebhookSettings:
        env = environ() if env is None else env
        aliyun = is_aliyun_backend(env)
        require_https = aliyun or env_bool(env, "KYC_WEBHOOK_REQUIRE_HTTPS", False)
        subscribers = _parse_subscribers(env_str(env, "KYC_WEBHOOKS"), require_https)
        if len(subscribers) > MAX_SUBSCRIBERS:
            raise ConfigError("KYC_WEBHOOKS", f"at most {MAX_SUBSCRIBERS} subscribers: their deliveries and follow-ups "
                              "must fit the notifier's timeout, within the 5 minutes its queue trigger waits")
        timeout = env_float(env, "KYC_WEBHOOK_TIMEOUT", DEFAULT_WEBHOOK_TIMEOUT_SECONDS, minimum=0.1)
        rounds = max(1, -(-len(subscribers) // MAX_PARALLEL_DELIVERIES))
        if timeout * rounds > DELIVERY_BUDGET_SECONDS:
            raise ConfigError("KYC_WEBHOOK_TIMEOUT", f"× {rounds} round(s) of deliveries ({MAX_PARALLEL_DELIVERIES} at "
                              f"once) must fit in {DELIVERY_BUDGET_SECONDS:g} s, within the notifier's timeout")
        return cls(
            subscribers=subscribers,
            retry_schedule=retry_schedule_from_env(env),
            allow_private_targets=env_bool(env, "KYC_WEBHOOK_ALLOW_PRIVATE", False),
            require_https=require_https,
            timeout_seconds=timeout,
        )


_SUBSCRIBER_KEYS = frozenset({"id", "url", "secret", "includePii", "headers", "fields"})
_HEADER_NAME = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # an RFC 9110 token; compiled by its first use (headers are rare)
#: Headers a subscriber's configuration may not set: the signature's, and those that frame the request.
_RESERVED_HEADERS = frozenset({
    "webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length", "host",
    "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade", "expect", "user-agent",
})  # fmt: skip


def _parse_subscribers(raw: str | None, require_https: bool) -> tuple[Subscriber, ...]:
    name = "KYC_WEBHOOKS"
    if raw is None:
        return ()
    items = json_setting(name, raw, list, "a JSON list of {id, url, secret, includePii, headers, fields}")
    subscribers = [_parse_subscriber(name, index, item, require_https) for index, item in enumerate(items)]
    urls = [s.url for s in subscribers]
    if len(set(urls)) != len(urls):
        raise ConfigError(name, "lists the same URL twice")
    ids = [s.id for s in subscribers if s.id is not None]
    if len(set(ids)) != len(ids):
        raise ConfigError(name, "gives the same id twice")
    return tuple(subscribers)


def _parse_subscriber(name: str, index: int, item: Any, require_https: bool) -> Subscriber:
    if not isinstance(item, dict) or not isinstance(item.get("url"), str):
        raise ConfigError(name, f"item {index} needs a string 'url'")
    unknown = sorted(set(item) - _SUBSCRIBER_KEYS)
    if unknown:
        raise ConfigError(name, f"item {index}: unknown key(s); each item has {', '.join(sorted(_SUBSCRIBER_KEYS))}")
    secrets = item.get("secret")
    if isinstance(secrets, str):
        secrets = [secrets]
    if not isinstance(secrets, list) or not secrets or not all(isinstance(s, str) for s in secrets):
        raise ConfigError(name, f"item {index} needs 'secret': a string, or a list (newest first) while rotating")
    for secret in secrets:
        register_secret(secret)  # scrubbed from logs even when it turns out invalid
    headers = _parse_headers(name, index, item.get("headers", {}))
    if is_safe_url(item["url"]) and "@" in urlsplit(item["url"]).netloc:
        raise ConfigError(name, f"item {index}: the url carries credentials (user:password@); receivers "
                                "authenticate us by the webhook signature ('secret'), or put the credentials "
                                "in the item's 'headers' (e.g. {\"Authorization\": \"Basic ...\"})")  # fmt: skip
    url = http_url(name, item["url"])
    if require_https and not url.startswith("https://") and not plain_http_allowed(url):
        raise ConfigError(name, f"item {index}: webhook URLs must be https with the aliyun backend")
    for secret in secrets:
        try:
            WebhookSecret.parse(secret)  # the same check signing does: fail at start, not at delivery
        except InvalidWebhookSecret:
            raise ConfigError(name, f"item {index}: secret must be whsec_<base64 of 24-64 bytes>") from None
    subscriber_id = item.get("id")
    if subscriber_id is not None and not _is_subscriber_id(subscriber_id):
        raise ConfigError(name, f"item {index}: id must be 1-40 letters, digits, '-' or '_'")
    include_pii = item.get("includePii", False)
    if not isinstance(include_pii, bool):
        raise ConfigError(name, f"item {index}: includePii must be true or false")
    fields = item.get("fields")
    if fields is not None:
        if not isinstance(fields, list):
            raise ConfigError(name, f"item {index}: fields must be a list of identity field names")
        try:
            fields = identity_fields(fields)
        except UnknownField as exc:
            raise ConfigError(name, f"item {index}: {exc}") from None
    return Subscriber(url=url, secret=secrets[0], include_pii=include_pii, previous_secrets=tuple(secrets[1:]),
                      headers=headers, fields=fields, id=subscriber_id)


def _is_subscriber_id(value: object) -> bool:
    """1-40 ASCII letters, digits, ``-`` or ``_`` (no regex: one fewer compile in every notifier's cold start)."""
    return (isinstance(value, str) and 0 < len(value) <= 40 and value.isascii()
            and all(c.isalnum() or c in "-_" for c in value))  # fmt: skip


def _parse_headers(name: str, index: int, raw: Any) -> tuple[tuple[str, str], ...]:
    """A subscriber's extra headers: RFC 9110 token names, single-line printable ASCII values, none of the
    signature's or the request framing's. Every value is registered with the log scrubber (values under 6
    characters are not: they cannot be told from ordinary text)."""
    if not isinstance(raw, dict):
        raise ConfigError(name, f"item {index}: headers must be an object of header name to value")
    headers = []
    for header, value in raw.items():
        if isinstance(value, str):
            register_secret(value)
        if not isinstance(header, str) or not re.fullmatch(_HEADER_NAME, header):
            raise ConfigError(name, f"item {index}: header names must be HTTP tokens")
        if header.lower() in _RESERVED_HEADERS:
            raise ConfigError(name, f"item {index}: headers may not set {header.lower()}")
        if not isinstance(value, str) or not value or value != value.strip() or not all(
            " " <= char <= "~" for char in value
        ):
            raise ConfigError(name, f"item {index}: header values must be non-empty printable ASCII on one line")
        headers.append((header, value))
    return tuple(headers)


def webhook_id(record: TransactionRecord) -> str:
    return f"msg_{record.merchant_biz_id}_{record.status.lower()}"


def _owed_to(message: NotifyMessage, targets: Sequence[Subscriber]) -> dict[str, list[str]]:
    """What a dead letter of ``message`` says of whom it was for, so that a redrive sends it to them alone: the keys
    of the subscribers its ``pending`` named (a follow-up, a redrive); nothing for a first delivery, every
    subscriber's (review be: a ``not_final`` or ``verdict_unverified`` letter of a follow-up went back to all)."""
    return {} if message.pending is None else {"subscriberKeys": [subscriber.key for subscriber in targets]}


class Notifier:
    def __init__(
        self,
        *,
        store: TransactionStore,
        objects: ObjectStore,
        notify_queue: Queue,
        deadletter_queue: Queue,
        settings: WebhookSettings,
        sender: Sender | None = None,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.objects = objects
        self.notify_queue = notify_queue
        self.deadletter_queue = deadletter_queue
        self.settings = settings
        policy = settings.target_policy
        self.sender: Sender = sender or (
            lambda url, body, headers: post_webhook(url, body, headers, timeout=settings.timeout_seconds, policy=policy)
        )
        self.clock = clock
        self.jitter = jitter
        # Built by the first message with more than one subscriber to send to (one subscriber is sent to on the
        # calling thread): a deployment with one webhook never imports concurrent.futures (~2 ms of a cold start).
        self._pool = ThreadPool(MAX_PARALLEL_DELIVERIES * MAX_CONCURRENT_CALLERS, "webhook")

    def handle_body(self, body: Any, *, raw: bytes = b"") -> None:
        """Process one queue message body. Never raises for a bad message (it is dead-lettered); raises
        ``StorageError`` only when a retry could not be enqueued, so the trigger redelivers the message."""
        message = NotifyMessage.from_body(body)
        if message is None:
            logger.error("notify.malformed_message")
            self._dead_letter({"reason": "malformed_message", "size": len(raw)})
            return
        record = self.store.get(message.merchant_biz_id)
        if record is None or record.status is Status.ERASED:  # an erasure's tombstone is as gone as no row
            self._transaction_gone(message)
            return
        targets = self._targets(message)
        self._dead_letter_unconfigured(message, targets)
        if not targets:
            return
        event_type = EVENT_TYPES.get(record.status)
        if event_type is None:
            logger.error("notify.transaction_not_final", extra={"status": record.status})
            self._dead_letter({"reason": "not_final", "merchantBizId": record.merchant_biz_id,
                               **_owed_to(message, targets)})  # fmt: skip
            return
        try:
            kept = self._verified_result(record) if record.status.is_verdict else None
        except VerdictUnverified as exc:
            security_event(logger, "notify.verdict_unverified", problem=exc.problem)
            self._dead_letter({"reason": "verdict_unverified", "merchantBizId": record.merchant_biz_id,
                               "problem": exc.problem, **_owed_to(message, targets)})  # fmt: skip
            return
        except ObjectNotFound:  # deleted with its row meanwhile (an erasure): nothing is owed any more
            self._transaction_gone(message)
            return
        except StorageError as exc:  # each subscriber tries again on its own schedule, then its own dead letter
            logger.error("notify.result_unreadable", extra={"errorCode": exc.code})
            unread = DeliveryResult(ok=False, error="result_unreadable")
            self._follow_up(message, record, targets, [unread] * len(targets))
            return
        bodies = self._event_bodies(record, event_type, targets, kept)
        results = self._deliver_all(targets, bodies, webhook_id(record))
        self._follow_up(message, record, targets, results)

    def _verified_result(self, record: TransactionRecord) -> dict[str, Any]:
        """The kept result document of a verdict, once it is shown to say what the row says. The row is not enough:
        code run in the initializer, whose role may write rows, could write one (PASSED, or another verification's
        result key); the kept document is written only by the roles that fetch results (template.yml).
        ``VerdictUnverified`` when they differ (or the document is not where a result is kept, or not one);
        ``ObjectNotFound`` when it is gone with its row; ``StorageError`` when it could not be read."""
        key = record.result_key or ""
        if not is_result_document_key(record.merchant_biz_id, key):
            raise VerdictUnverified("result_key")
        try:
            document = jsonutil.loads(self.objects.get(key))
        except ObjectNotFound:
            if self.store.get(record.merchant_biz_id) is None:
                raise
            # Not yet evidence of a forged row: an erasure or retention deletes the objects, then the row (review ac).
            # Retried on each subscriber's schedule; never announced while it stays missing.
            raise StorageError("kept result not found", transient=True, code="ResultMissing") from None
        except jsonutil.JSONDecodeError:
            raise VerdictUnverified("result_not_json") from None
        result = document.get("result") if type(document) is dict else None
        if type(result) is not dict or document.get("merchantBizId") != record.merchant_biz_id:
            raise VerdictUnverified("merchant_biz_id")
        said = (result.get("status"), result.get("passed"), result.get("subCode"))
        if said != (record.status.value, record.passed, record.sub_code):
            raise VerdictUnverified("verdict")
        # Whose, which transaction, which product: the row's must be the document's where the document says (older
        # releases' documents do not name the owner; nobody but the fetching roles can write one that does).
        for field_name, value in (("merchantUserId", record.merchant_user_id),
                                  ("transactionId", record.transaction_id), ("productCode", record.product_code)):
            if field_name in document and document[field_name] != value:
                raise VerdictUnverified(field_name)
        if face_verdicts(result.get("face")) != face_verdicts(record.face):  # the webhook's face scores are the row's
            raise VerdictUnverified("face")
        return dict(document)

    def _targets(self, message: NotifyMessage) -> list[Subscriber]:
        """The subscribers ``message`` is for: every configured one for a first delivery, those its ``pending``
        names for a follow-up or a redrive."""
        if message.pending is None:
            return list(self.settings.subscribers)
        wanted = set(message.pending)  # keys; URLs in messages and dead letters from before keys
        return [s for s in self.settings.subscribers if s.is_named_by(wanted)]

    def _dead_letter_unconfigured(self, message: NotifyMessage, targets: Sequence[Subscriber]) -> None:
        """Dead-letter ``subscriber_not_configured`` each name in ``message.pending`` no configured subscriber
        answers to (one removed from ``KYC_WEBHOOKS``, or whose URL changed while it had no ``id``): the event was
        owed to it, so it is never dropped in silence, and an operator can send it on (``kyc dlq redrive
        --subscriber``)."""
        answered = {name for s in targets for name in (s.key, s.url_key, s.url)}
        for name in sorted(set(message.pending or ()) - answered):
            is_key = is_subscriber_key(name)  # else a URL, from messages queued before keys
            logger.error("notify.subscriber_not_configured", extra={"attempts": message.attempt})
            self._dead_letter({
                "reason": "subscriber_not_configured",
                "merchantBizId": message.merchant_biz_id,
                "subscriber": None if is_key else display_url(name),
                "subscriberKey": name if is_key else None,
                "attempts": message.attempt,
            })  # fmt: skip

    def _event_bodies(
        self, record: TransactionRecord, event_type: str, targets: Sequence[Subscriber], kept: dict[str, Any] | None
    ) -> dict[Disclosure, bytes]:
        """One body per distinct disclosure among ``targets``; the identity in clear and the document type come from
        ``kept``, the verdict's kept result document (``_verified_result``)."""
        data: dict[str, Any] = {
            "merchantBizId": record.merchant_biz_id,
            "transactionId": record.transaction_id,
            "merchantUserId": record.merchant_user_id,  # the peppered hash, never the merchant's own user id
            "status": record.status,
            "passed": record.passed,
            "subCode": record.sub_code,
            "subCodeMessage": sub_code_message(record.sub_code, record.status),
            "productCode": record.product_code,
            "docType": record.doc_type or None,  # None: the product verifies no document
            "face": record.face,
        }
        # The event's timestamp is when the result became final: stable across retries, unlike webhook-timestamp.
        event = {"type": event_type, "timestamp": rfc3339(record.finalized_at or record.updated_at), "data": data}
        full, masked = None, record.identity_masked
        if kept is not None:  # a verdict: what it says of the person comes from its kept result, never the row's copy
            from shared.results.masking import mask_identity  # noqa: PLC0415 - not on the notifier's cold start

            full = kept["result"].get("identity")
            masked = mask_identity(full) if isinstance(full, dict) else None
            if "docType" in kept:  # as the fetch kept it: the type asked at Initialize (the row may be rewritten since)
                data["docType"] = kept["docType"] or None
        return {
            d: jsonutil.dumps({**event, "data": {**data, "identity": d.identity(masked, full)}})
            for d in {s.disclosure for s in targets}
        }

    def _deliver_all(
        self, targets: Sequence[Subscriber], bodies: dict[Disclosure, bytes], msg_id: str
    ) -> list[DeliveryResult]:
        """Each target's delivery of its disclosure's body."""

        def deliver(subscriber: Subscriber) -> DeliveryResult:
            body = bodies[subscriber.disclosure]
            signature = signature_headers(list(subscriber.signing_secrets), msg_id, int(self.clock()), body)
            try:
                return self.sender(subscriber.url, body, {**dict(subscriber.headers), **signature})
            except Exception:  # a sender bug must not lose the other subscribers' deliveries
                logger.exception("notify.sender_crashed")
                return DeliveryResult(ok=False, error="sender_error")

        # At most MAX_PARALLEL_DELIVERIES of this message's deliveries at once: every delivery ends by its
        # deadline, so a message takes at most ceil(targets / MAX_PARALLEL_DELIVERIES) deadlines. The pool has
        # room for that many per concurrent message, so deliveries held by one subscriber until their deadline
        # occupy no slot another message needs; its threads are reused (a pool per message costs ~0.2 ms of CPU
        # per thread started).
        calls = [partial(deliver, subscriber) for subscriber in targets]
        return run_all(self._pool, calls, MAX_PARALLEL_DELIVERIES)

    def _follow_up(
        self,
        message: NotifyMessage,
        record: TransactionRecord,
        targets: Sequence[Subscriber],
        results: Sequence[DeliveryResult],
    ) -> None:
        """Per subscriber: logged when delivered; otherwise its own follow-up message (its next attempt, its own
        delay), or a dead letter once the failure is permanent or its schedule is exhausted."""
        schedule = self.settings.retry_schedule
        attempts = message.attempt + 1
        sends: list[tuple[Callable[[], object], str | None]] = []  # each send, and the event should it fail twice
        for subscriber, result in zip(targets, results, strict=True):
            log_extra = {"subscriber": display_url(subscriber.url), "status": result.status, "errorCode": result.error}
            if subscriber.id is not None:  # the merchant's name for it: two receivers on one host told apart (aq)
                log_extra["subscriberId"] = subscriber.id
            if result.ok:
                logger.info("notify.delivered", extra=log_extra)
            elif result.permanent or message.attempt >= len(schedule):
                logger.error("notify.undeliverable", extra={**log_extra, "attempts": attempts})
                letter = self._dead_letter_message(self._dead_letter_body(record, subscriber, result, attempts))
                sends.append((partial(self.deadletter_queue.send, letter), "notify.dead_letter_failed"))
            else:
                logger.warning("notify.delivery_failed", extra=log_extra)
                body = NotifyMessage(record.merchant_biz_id, attempts, (subscriber.key,)).to_body()
                delay = queue_delay(self._retry_delay(message.attempt, result))
                sends.append((partial(self.notify_queue.send, body, delay_seconds=delay), None))
        self._send_all(sends)

    def _send_all(self, sends: Sequence[tuple[Callable[[], object], str | None]]) -> None:
        """Follow-up messages and dead letters, side by side as the deliveries (shared.parallel): each ends by the
        queue's deadline, so a round takes ceil(sends / MAX_PARALLEL_DELIVERIES) of them. Those that failed are sent
        once more; one that fails again is logged (its event, at ERROR) and raised, and the trigger delivers the
        whole message again, whose failed subscribers then get their follow-ups again: a second retry chain each
        (the same ``webhook-id``, which receivers deduplicate; at its end a second dead letter). The second round
        makes that rare (found by review ax)."""

        def sent(send: Callable[[], object]) -> StorageError | None:
            try:
                send()
            except StorageError as exc:
                return exc
            return None

        def last_try(send: Callable[[], object], event: str | None) -> None:
            try:
                send()
            except StorageError:
                if event is not None:
                    logger.exception(event)
                raise

        failures = run_all(self._pool, [partial(sent, send) for send, _ in sends], MAX_PARALLEL_DELIVERIES)
        again = [partial(last_try, send, event)
                 for (send, event), failure in zip(sends, failures, strict=True) if failure is not None]  # fmt: skip
        if again:
            logger.warning("notify.follow_up_sent_again", extra={"count": len(again)})
            run_all(self._pool, again, MAX_PARALLEL_DELIVERIES)

    def _retry_delay(self, attempt: int, result: DeliveryResult) -> float:
        """The schedule's step ``attempt`` (:func:`shared.webhook_retries.retry_delay`)."""
        return retry_delay(self.settings.retry_schedule[attempt], self.jitter(), result.retry_after)

    def _dead_letter_body(
        self, record: TransactionRecord, subscriber: Subscriber, result: DeliveryResult, attempts: int
    ) -> dict[str, Any]:
        return {
            "reason": "webhook_undeliverable",
            "merchantBizId": record.merchant_biz_id,
            "subscriber": display_url(subscriber.url),
            "subscriberKey": subscriber.key,
            "attempts": attempts,
            "lastError": result.error,
            "lastStatus": result.status,
        }

    def _transaction_gone(self, message: NotifyMessage) -> None:
        """The row is gone (erased, or deleted by retention), or is an erasure's tombstone. Before a first delivery
        (a message naming no subscriber) there is nobody to tell. A message naming subscribers — a follow-up for
        those that failed, or a redriven dead letter — was owed to them, and its event cannot be rebuilt: an
        operator learns it from a dead letter (a subscriber's ``Retry-After`` longer than retention's hold,
        :mod:`shared.webhook_retries`, a redrive after it, or an erasure between two attempts). Subscribers no
        longer configured are owed nothing."""
        targets = self._targets(message) if message.pending is not None else []
        if not targets:
            logger.warning("notify.transaction_gone")
            return
        logger.error("notify.transaction_gone", extra={"attempts": message.attempt})
        self._dead_letter({
            "reason": "transaction_gone",
            "merchantBizId": message.merchant_biz_id,
            "subscribers": [display_url(subscriber.url) for subscriber in targets],
            **_owed_to(message, targets),
            "attempts": message.attempt,
        })  # fmt: skip

    def dead_letter_unprocessable(self, body: Any, error: str) -> None:
        """Park a message that failed in an unexpected way for an operator: its transaction and, when it was for
        some subscribers only (a follow-up, a redrive: its ``pending`` keys, never a URL), which ones, so that a
        redrive sends it to them alone (a first delivery is for every subscriber)."""
        message = body if isinstance(body, dict) else {}
        mbid = message.get("merchantBizId")
        letter: dict[str, Any] = {
            "reason": "processing_error", "merchantBizId": mbid if isinstance(mbid, str) else None, "lastError": error,
        }  # fmt: skip
        pending = message.get("pending")
        if isinstance(pending, list):
            letter["subscriberKeys"] = self._keys_of([name for name in pending if isinstance(name, str)])
        self._dead_letter(letter)

    def _keys_of(self, names: Sequence[str]) -> list[str]:
        """The keys of the subscribers ``names`` (a message's ``pending``) names, for a dead letter, which never holds
        a URL: a key as it is (configured or not: a redrive of it tells), a URL (a message queued before keys) as the
        key of the configured subscriber it names (review bg: the letter named nobody, and went to every
        subscriber); a URL that names no configured subscriber is owed nothing (:meth:`_targets`)."""
        keys = [name for name in names if is_subscriber_key(name)]
        urls = {name for name in names if not is_subscriber_key(name)}
        return keys + [s.key for s in self.settings.subscribers if s.key not in keys and s.is_named_by(urls)]

    def _dead_letter_message(self, body: dict[str, Any]) -> bytes:
        """Every notify dead letter: its ``kind``, the reason's fields, and when (``at``, RFC 3339)."""
        return jsonutil.dumps({"kind": "notify", **body, "at": rfc3339(self.clock())})

    def _dead_letter(self, body: dict[str, Any]) -> None:
        try:
            self.deadletter_queue.send(self._dead_letter_message(body))
        except StorageError:
            logger.exception("notify.dead_letter_failed")
            raise
