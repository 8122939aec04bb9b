"""One HTTP POST of a signed webhook to one subscriber: timeout, no redirects, no private targets.

Kept to ``http.client`` on purpose: the notifier's cold start and per-message CPU stay near the floor, and the
connection is made to the address we checked (no DNS rebinding between the check and the request).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

USER_AGENT = "fc-ekyc-webhooks/1"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
MAX_RETRY_AFTER_SECONDS = 86400.0


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one POST. ``error`` is a short code, never a response body (it could echo PII)."""

    ok: bool
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    permanent: bool = False  # retrying cannot help: 410 Gone, or a target our policy refuses


@dataclass(frozen=True)
class TargetPolicy:
    allow_private: bool = False
    require_https: bool = True


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address chosen in advance while the Host header keeps the URL's name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


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
    # (100.100.100.200) lives; is_private alone does not.
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def resolve_target(host: str, port: int, policy: TargetPolicy) -> str:
    """Return the address to connect to, or raise ``PermissionError`` when policy forbids every answer."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise OSError("no address")
    if not policy.allow_private and not all(is_public_address(a) for a in addresses):
        raise PermissionError("target resolves to a private, loopback or link-local address")
    return addresses[0]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() also accepts e.g. superscript digits
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    delta = when.timestamp() - (time.time() if now is None else now)
    return min(max(delta, 0.0), MAX_RETRY_AFTER_SECONDS)


def post_webhook(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float, policy: TargetPolicy
) -> DeliveryResult:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return DeliveryResult(ok=False, error="invalid_url", permanent=True)
    if policy.require_https and parts.scheme != "https":
        return DeliveryResult(ok=False, error="https_required", permanent=True)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = resolve_target(parts.hostname, port, policy)
    except PermissionError:
        return DeliveryResult(ok=False, error="target_not_allowed", permanent=True)
    except OSError:
        return DeliveryResult(ok=False, error="dns_error")
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(parts.hostname, port, address, timeout)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    request_headers = {"content-type": "application/json", "user-agent": USER_AGENT, **headers}
    try:
        connection.request("POST", path, body=body, headers=request_headers)
        response = connection.getresponse()
        response.read(64 * 1024)  # drain a little so the server sees a clean exchange; the body is never kept
        status = response.status
        retry_after = parse_retry_after(response.getheader("retry-after"))
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
