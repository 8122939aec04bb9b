"""URL hygiene: one rule for every URL we accept or build, and one way to print one.

:func:`check_url` runs on the raw string *before* any allowlist or parsing. ``urllib.parse.urlsplit`` silently
drops TAB, CR and LF anywhere in a URL and strips leading C0 controls and spaces (the WHATWG behaviour, Python
bpo-43882), so a check made on the split parts passes a string whose raw form still carries them — and the raw
string is what travels on: to the vendor, into a ``Location`` header, onto a request line. A URL we accept may
therefore contain none of:

- control characters: C0 (U+0000-U+001F, incl. TAB, LF, CR), DEL (U+007F), C1 (U+0080-U+009F);
- whitespace of any kind: space, NBSP, U+1680, U+2000-U+200A, the line and paragraph separators, U+3000, …;
- invisible format characters (Unicode category Cf: zero-width space and joiners, bidi overrides, BOM): a URL
  that contains them is not the URL it looks like when an operator reads it;
- lone surrogates (not encodable, so not sendable);
- the backslash: RFC 3986 does not allow it unencoded and browsers read it as ``/`` in http(s) URLs, so the URL
  a browser follows would differ from the one we checked.

Everything else (percent-encoding, IDNs, non-ASCII paths) is left to the caller's own rules.

:func:`display_url` is the only way a URL is printed (logs, CLI listings, errors): scheme, host and port, because
receivers put credentials in the userinfo, and tokens in the path and the query.

:func:`plain_http_allowed` is the one https rule for the URLs the deployed backend hands out or calls (the callback
base ``KYC_PUBLIC_URL``, webhook targets): https, unless the host is a loopback IP literal. Traffic to 127.0.0.0/8
or ::1 never leaves the machine, so TLS would protect nothing there; only a stack on one machine uses such a URL
(``./scripts/dev --aliyun-doubles``: the gateway and the demo receiver), and in FC nothing listens on it.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

HTTP_SCHEMES = frozenset({"http", "https"})
UNPRINTABLE = "<invalid url>"

# Printable ASCII minus the backslash, the fast path: nearly every URL we see is ASCII. Checked with string methods
# (no regex for every start to compile: docs/performance.md, "Phase 7"): the controls and DEL are what
# ``str.isprintable`` refuses in ASCII, the space and the backslash are looked for.

# Unicode general categories refused outside ASCII: controls (C1), format, surrogates, and the separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})


class UnsafeUrl(ValueError):
    """A URL refused by :func:`check_url`. The message names the rule, never the URL (it may hold credentials)."""


def unsafe_character_at(url: str) -> int | None:
    """Index of the first character no accepted URL may contain (see the module docstring), or ``None``."""
    if url.isascii():
        if url.isprintable() and " " not in url and "\\" not in url:
            return None
        for index, char in enumerate(url):  # the first of \x00-\x20, \x7f or the backslash
            if char <= " " or char in "\x7f\\":
                return index
        return None
    import unicodedata  # noqa: PLC0415 - only for non-ASCII URLs, kept off the cold-start path

    for index, char in enumerate(url):
        if char == "\\" or char.isspace() or unicodedata.category(char) in _UNSAFE_CATEGORIES:
            return index
    return None


def check_url(url: str, *, schemes: frozenset[str] = HTTP_SCHEMES) -> SplitResult:
    """The parts of ``url`` when it is an absolute URL of one of ``schemes`` with a host and nothing unsafe in it.

    Raises :class:`UnsafeUrl`. The characters are checked on the raw string first, so the parts returned are
    exactly what the string says (``urlsplit`` had nothing to drop)."""
    if not isinstance(url, str) or not url:
        raise UnsafeUrl("URL must be a non-empty string")
    index = unsafe_character_at(url)
    if index is not None:
        raise UnsafeUrl(f"URL contains a control, whitespace, invisible or backslash character (at {index})")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in 0-65535
    except ValueError:
        raise UnsafeUrl("URL cannot be parsed") from None
    if parts.scheme not in schemes:
        raise UnsafeUrl(f"URL scheme must be one of: {', '.join(sorted(schemes))}")
    if not parts.hostname:
        raise UnsafeUrl("URL must name a host")
    if ":" not in parts.hostname and not has_valid_labels(parts.hostname):  # an IPv6 literal has no labels
        raise UnsafeUrl("URL host is not a valid host name (an empty label or one over 63 characters)")
    return parts


def has_valid_labels(hostname: str) -> bool:
    """Whether ``hostname`` (a name or an IPv4 address) encodes as the resolver will encode it: with the ``idna``
    codec, whose rule is RFC 1035's (no empty label but a trailing one, none over 63 octets), or ``UnicodeError``.

    An ASCII name is checked here with the codec's own ASCII rule (``encodings.idna.Codec.encode``), which is what
    ``socket`` applies to it; importing the codec (with ``stringprep`` and ``unicodedata``) cost every function
    that checks a URL at ``initialize`` about 2 ms of its cold start. A non-ASCII name goes through the codec."""
    if hostname.isascii():
        *labels, last = hostname.split(".")
        return all(0 < len(label) < 64 for label in labels) and len(last) < 64
    try:
        hostname.encode("idna")
    except UnicodeError:
        return False
    return True


#: A path segment a browser resolves before it navigates: WHATWG URL's "single-dot segment" and "double-dot segment"
#: (``.``, ``..``, and ``%2e`` for either dot, ASCII case-insensitive).
_DOT_SEGMENTS = frozenset({".", "%2e", "..", ".%2e", "%2e.", "%2e%2e"})


def has_dot_segment(path: str) -> bool:
    """Whether ``path`` has a segment the browser resolves away: the URL it navigates to is then not the string
    that was checked (``/kyc/done/../admin`` is ``/admin``). A segment is compared without its ``;`` parameters:
    Java servlet containers drop them, then resolve the dots (``/kyc/done/..;/admin`` serves ``/admin``)."""
    return any(segment.partition(";")[0].lower() in _DOT_SEGMENTS for segment in path.split("/"))


def is_safe_url(url: str, *, schemes: frozenset[str] = HTTP_SCHEMES) -> bool:
    try:
        check_url(url, schemes=schemes)
    except UnsafeUrl:
        return False
    return True


def plain_http_allowed(url: str) -> bool:
    """Whether ``url`` may be plain http where https is required: only when its host is a loopback IP literal
    (``127.x.y.z``, ``::1``; a name such as ``localhost`` is not enough, since DNS decides where it goes)."""
    import ipaddress  # noqa: PLC0415 - only reached for http URLs where https is required

    try:
        host = urlsplit(url).hostname
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def display_url(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, for printing: never the userinfo, path, query or fragment.

    Never raises; a URL that cannot be parsed prints as ``<invalid url>``."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except (ValueError, TypeError, AttributeError):
        return UNPRINTABLE
    if not host or not parts.scheme or unsafe_character_at(host) is not None:
        return UNPRINTABLE
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{f':{port}' if port is not None else ''}"


def without_userinfo(url: str, *, schemes: frozenset[str] = HTTP_SCHEMES) -> str:
    """``url`` with any ``user:password@`` removed and nothing else changed (for URLs that are stored or shown
    in full). Raises :class:`UnsafeUrl` for a URL :func:`check_url` refuses."""
    parts = check_url(url, schemes=schemes)
    if "@" not in parts.netloc:
        return url
    # check_url guarantees urlsplit dropped nothing: the raw string is scheme "://" netloc rest.
    head = len(parts.scheme) + 3
    return url[:head] + parts.netloc.rpartition("@")[2] + url[head + len(parts.netloc) :]
