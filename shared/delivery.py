"""One HTTP POST of a signed webhook to one subscriber: one deadline, no redirects, no private targets.

Order of effects: the URL is checked (:mod:`shared.urls`: no control, whitespace or invisible characters), the
host resolved, every address checked against the target policy, a connection made to the address we checked (no
DNS rebinding between the check and the request), the request sent, the status line and headers read, then a
little of the body drained. All of it runs against **one deadline** (``timeout`` seconds from the call,
:mod:`shared.http_deadline`): every blocking step waits at most for what is left of it, so a subscriber that
answers one byte every few seconds is cut off at the deadline instead of holding the delivery for as long as it
keeps dripping. Once the status line
and the headers are in, the verdict is made; the body is drained only while the deadline allows.

No retries here: the notifier owns the schedule. Kept to ``http.client`` on purpose: the notifier's cold start
and per-message CPU stay near the floor.
"""

from __future__ import annotations

import http.client
import ipaddress
import time
from email.utils import parsedate_to_datetime
from urllib.parse import SplitResult, quote

from shared.http_deadline import Deadline, DeadlineHTTPConnection, DeadlineHTTPSConnection, lookup
from shared.urls import UnsafeUrl, check_url, plain_http_allowed
from shared.values import valueclass
from shared.webhook_retries import MAX_RETRY_AFTER_SECONDS

USER_AGENT = "fc-ekyc-webhooks/1"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@valueclass
class DeliveryResult:
    """What happened to one POST. ``error`` is a short code, never a response body (it could echo PII)."""

    ok: bool
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    permanent: bool = False  # retrying cannot help: 410 Gone, or a target our policy refuses


@valueclass
class TargetPolicy:
    allow_private: bool = False
    require_https: bool = True


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address are judged by that address (mapped, 6to4, NAT64).
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # is_global also excludes the shared address space 100.64.0.0/10, where Alibaba Cloud's metadata service
    # (100.100.100.200) lives; is_private alone does not. IPv6 site-local fec0::/10 (deprecated by RFC 3879, still
    # routed inside some networks) is neither private nor link-local to ipaddress (3.10-3.13), nor non-global.
    site_local = isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or site_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def resolve_target(host: str, port: int, policy: TargetPolicy, *, timeout: float | None = None) -> tuple[str, ...]:
    """The addresses to connect to, in the resolver's order, each once; ``PermissionError`` when policy forbids any
    of them (one private answer refuses the host: a name that can point inside is never trusted).

    With ``timeout``, a lookup still unanswered after that many seconds raises ``TimeoutError`` (``getaddrinfo``
    itself has no timeout; the resolver's own gives up later and ends the helper thread)."""
    infos = lookup(host, port, timeout)
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise OSError("no address")
    if not policy.allow_private and not all(is_public_address(a) for a in addresses):
        raise PermissionError("target resolves to a private, loopback or link-local address")
    return addresses


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() also accepts e.g. superscript digits
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a year datetime cannot hold
        return None
    delta = when.timestamp() - (time.time() if now is None else now)
    return min(max(delta, 0.0), MAX_RETRY_AFTER_SECONDS)


@valueclass
class Target:
    """A webhook URL that passed the guard: its parts, and the checked addresses to connect to (in turn)."""

    parts: SplitResult
    host: str
    port: int
    addresses: tuple[str, ...]


class TargetRefused(Exception):
    """The guard refused a target: ``error`` is the delivery's short code (``invalid_url``, ``https_required``,
    ``target_not_allowed``, ``timeout``, ``dns_error``), ``permanent`` whether trying again could help."""

    def __init__(self, error: str, *, permanent: bool) -> None:
        super().__init__(error)
        self.error = error
        self.permanent = permanent


def vet_target(url: str, policy: TargetPolicy, deadline: Deadline) -> Target:
    """The SSRF guard, without sending anything: the URL's hygiene (:mod:`shared.urls`), its scheme, then its
    host resolved (within the deadline) and every address checked against ``policy``. Raises
    :class:`TargetRefused`. ``post_webhook`` connects only to the addresses returned; ``kyc doctor`` stops here."""
    try:
        parts = check_url(url)
    except UnsafeUrl:
        raise TargetRefused("invalid_url", permanent=True) from None
    if policy.require_https and parts.scheme != "https" and not plain_http_allowed(url):
        raise TargetRefused("https_required", permanent=True)
    host = parts.hostname
    assert host is not None  # check_url requires one
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve_target(host, port, policy, timeout=deadline.remaining())
    except PermissionError:
        raise TargetRefused("target_not_allowed", permanent=True) from None
    except TimeoutError:
        raise TargetRefused("timeout", permanent=False) from None
    except OSError:
        raise TargetRefused("dns_error", permanent=False) from None
    return Target(parts=parts, host=host, port=port, addresses=addresses)


#: What a request target keeps as it is: RFC 3986's reserved and unreserved characters, and "%" (escapes the URL
#: already has). check_url has refused spaces, controls and the like.
_TARGET_SAFE = ":/?#[]@!$&'()*+,;=-._~%"


def request_target(parts: SplitResult) -> str:
    """The path and query of the request line. ``http.client`` sends it as ASCII: a non-ASCII character is sent
    percent-encoded as UTF-8, as a browser sends an IRI (RFC 3987, 3.1), not left to raise ``UnicodeEncodeError``."""
    target = f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
    return target if target.isascii() else quote(target, safe=_TARGET_SAFE)


def post_webhook(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float, policy: TargetPolicy
) -> DeliveryResult:
    """POST ``body`` to ``url``; ``timeout`` is the deadline of the whole delivery (lookup, connect, send,
    status line and headers), in seconds. Never raises: every outcome is a :class:`DeliveryResult`."""
    deadline = Deadline(timeout)
    try:
        target = vet_target(url, policy, deadline)
    except TargetRefused as refused:
        return DeliveryResult(ok=False, error=refused.error, permanent=refused.permanent)
    parts, host, port = target.parts, target.host, target.port
    # Connect to the addresses the guard checked (no DNS rebinding between the check and the request), each in turn
    # until one accepts, as a browser would: one node of several down is no reason to fail the delivery.
    connection_class = DeadlineHTTPSConnection if parts.scheme == "https" else DeadlineHTTPConnection
    connection = connection_class(host, port, deadline, addresses=target.addresses)
    path = request_target(parts)
    request_headers = {"content-type": "application/json", "user-agent": USER_AGENT, **headers}
    try:
        connection.request("POST", path, body=body, headers=request_headers)
        response = connection.getresponse()
        status = response.status
        # Only a refusal's Retry-After means anything; a 2xx is delivered whatever its headers say.
        retry_after = None if 200 <= status < 300 else parse_retry_after(response.getheader("retry-after"))
        # Drain a little so the server sees a clean exchange (the body is never kept). The verdict is already
        # in: a body that drips past the deadline does not change it.
        try:  # noqa: SIM105 - no contextlib at start (docs/performance.md)
            response.read(64 * 1024)
        except (OSError, http.client.HTTPException):
            pass
    except TimeoutError:
        return DeliveryResult(ok=False, error="timeout")
    except (OSError, http.client.HTTPException):
        return DeliveryResult(ok=False, error="connection_error")
    finally:
        connection.close()
    if 200 <= status < 300:
        return DeliveryResult(ok=True, status=status)
    if status == 410:
        return DeliveryResult(ok=False, status=status, error="gone", permanent=True)
    # 3xx counts as failure: following redirects would let a subscriber steer us to another (private) target.
    return DeliveryResult(ok=False, status=status, error=f"http_{status}", retry_after=retry_after)
