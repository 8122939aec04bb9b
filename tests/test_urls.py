"""URL hygiene: one rule refusing control, whitespace, invisible and backslash characters anywhere in a URL, and
one redaction for printing URLs. Properties are checked over URLs assembled from generated parts."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.urls import (
    UNPRINTABLE,
    UnsafeUrl,
    check_url,
    display_url,
    has_valid_labels,
    is_safe_url,
    plain_http_allowed,
    without_userinfo,
)

# --- generated URL parts ---------------------------------------------------------------------------------------

_LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
_UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
_PCHAR = st.text(_UNRESERVED + "!$&'()*+,;=:@%", max_size=12)
_USERINFO_CHARS = st.text(_UNRESERVED + "!$&'()*+,;=%", min_size=1, max_size=12)

hosts = st.one_of(
    st.lists(_LABEL, min_size=1, max_size=3).map(".".join).map(lambda h: f"{h}.example"),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    st.just("[2001:db8::1]"),
)
ports = st.one_of(st.none(), st.integers(1, 65535))
paths = st.lists(_PCHAR, max_size=4).map(lambda segments: "".join(f"/{s}" for s in segments))
queries = st.one_of(st.none(), st.text(_UNRESERVED + "=&%/?:@", max_size=20))
fragments = st.one_of(st.none(), st.text(_UNRESERVED + "/?", max_size=10))


def _unsafe(char: str) -> bool:
    return char == "\\" or char.isspace() or unicodedata.category(char) in {"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"}


#: The characters of the rule: every C0 and C1 control, DEL, every Unicode space, invisible format characters,
#: lone surrogates and the backslash, plus the notorious ones named so that each is always among the examples.
unsafe_chars = st.one_of(
    st.sampled_from(["\t", "\r", "\n", "\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\x9f", " ", "\xa0",
                     "\u2028", "\u2029", "\u200b", "\u202e", "\ufeff", "\u3000", "\ud800", "\\"]),
    st.characters().filter(_unsafe),
)  # fmt: skip


@st.composite
def safe_urls(draw: st.DrawFn, userinfo: str | None = None) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTPS"]))
    port = draw(ports)
    netloc = (f"{userinfo}@" if userinfo else "") + draw(hosts) + (f":{port}" if port is not None else "")
    url = f"{scheme}://{netloc}{draw(paths)}"
    query, fragment = draw(queries), draw(fragments)
    if query is not None:
        url += f"?{query}"
    if fragment is not None:
        url += f"#{fragment}"
    return url


# --- check_url -----------------------------------------------------------------------------------------------


@settings(max_examples=300)
@given(url=safe_urls())
def test_a_url_made_of_safe_parts_is_accepted(url: str) -> None:
    parts = check_url(url)
    assert parts.scheme in {"http", "https"} and parts.hostname


@settings(max_examples=500)
@given(data=st.data(), url=safe_urls(), char=unsafe_chars)
def test_an_unsafe_character_anywhere_in_a_url_is_refused(data: st.DataObject, url: str, char: str) -> None:
    at = data.draw(st.integers(0, len(url)), label="position")
    with pytest.raises(UnsafeUrl):
        check_url(url[:at] + char + url[at:])


@settings(max_examples=500)
@given(url=st.text(max_size=60) | safe_urls())
def test_an_accepted_url_is_exactly_what_urlsplit_saw(url: str) -> None:
    """What an allowlist compares (the raw string) and what is parsed and sent (the parts) never differ."""
    try:
        parts = check_url(url)
    except UnsafeUrl:
        return
    assert not any(_unsafe(c) for c in url)
    assert url.lower().startswith(f"{parts.scheme}://{parts.netloc}".lower())
    assert parts.path in url and parts.query in url and parts.fragment in url


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/return\r\nSet-Cookie: a=b",  # header splitting where a redirect is built
        "https://shop.example/\tx",
        " https://shop.example/",  # urlsplit strips leading spaces and C0 controls silently
        "\x00https://shop.example/",
        "https://shop.example\\@evil.example/",  # a browser reads the backslash as '/'
        "https://shop.example/\u202egnp.exe",
    ],
)
def test_the_attacks_of_the_report_are_refused(url: str) -> None:
    assert not is_safe_url(url)


def _codec_accepts(hostname: str) -> bool:
    """The oracle: the ``idna`` codec the resolver encodes a host name with."""
    try:
        hostname.encode("idna")
    except UnicodeError:
        return False
    return True


@settings(max_examples=400)
@given(st.text("ab.", max_size=140) | st.lists(st.text("a1-", max_size=70), max_size=4).map(".".join))
def test_an_ascii_host_name_is_judged_as_the_idna_codec_judges_it(hostname: str) -> None:
    assert has_valid_labels(hostname) == _codec_accepts(hostname)


@pytest.mark.parametrize(
    "hostname",
    ["a" * 63 + ".example", "a" * 64 + ".example", "x." + "a" * 63, "x." + "a" * 64, "a" * 63, "a" * 64, "a..b", "a."],
)
def test_an_ascii_host_name_at_the_label_length_bound_is_judged_as_the_idna_codec_judges_it(hostname: str) -> None:
    """review bi: the generated names above seldom hold a label of exactly 63 or 64 characters; RFC 1035's bound
    is where an off-by-one hides (a 64-octet label the resolver then refuses at every delivery)."""
    assert has_valid_labels(hostname) == _codec_accepts(hostname)


@pytest.mark.parametrize("hostname", ["bücher.example", "bücher..example", "ü" * 64 + ".example", "例え.テスト"])
def test_a_non_ascii_host_name_is_judged_by_the_idna_codec(hostname: str) -> None:
    assert has_valid_labels(hostname) == _codec_accepts(hostname)


def test_checking_an_ascii_url_does_not_import_the_idna_codec() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from shared.urls import check_url; check_url('https://a.example/x'); "
        "print('encodings.idna' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("url", ["ftp://a.example/x", "https:///nohost", "not a url", "https://a.example:99999/",
                                 "https://[::1/", "", "//a.example/"])  # fmt: skip
def test_urls_that_are_not_absolute_http_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        check_url(url)


def test_the_refusal_never_repeats_the_url() -> None:
    with pytest.raises(UnsafeUrl) as info:
        check_url("https://user:s3cret@a.example/\n")
    assert "s3cret" not in str(info.value)


# --- display_url and without_userinfo -------------------------------------------------------------------------


@settings(max_examples=300)
@given(data=st.data(), user=_USERINFO_CHARS, password=_USERINFO_CHARS)
def test_a_displayed_url_is_scheme_host_and_port_only(data: st.DataObject, user: str, password: str) -> None:
    url = data.draw(safe_urls(userinfo=f"{user}:{password}"))
    parts = urlsplit(url)
    shown = display_url(url)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    assert shown == f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port is not None else "")
    assert "@" not in shown


def test_display_url_keeps_no_secret_of_a_typical_receiver_url() -> None:
    url = "https://user:pw@hooks.example.com:8443/T0/B1/s3cret?token=s3cret#x"
    assert display_url(url) == "https://hooks.example.com:8443"


@pytest.mark.parametrize("url", ["not a url", "https://a.example:99999/", "", "https://[::1/"])
def test_display_url_never_raises(url: str) -> None:
    assert display_url(url) == UNPRINTABLE


@settings(max_examples=300)
@given(data=st.data(), user=_USERINFO_CHARS, password=_USERINFO_CHARS)
def test_without_userinfo_removes_the_credentials_and_nothing_else(
    data: st.DataObject, user: str, password: str
) -> None:
    plain = data.draw(safe_urls())
    scheme, rest = plain.split("://", 1)
    with_credentials = f"{scheme}://{user}:{password}@{rest}"
    assert without_userinfo(with_credentials) == plain
    assert without_userinfo(plain) == plain


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/x", "http://127.255.0.9/", "http://[::1]:8080/hook"])
def test_plain_http_is_allowed_to_a_loopback_address_only(url: str) -> None:
    assert plain_http_allowed(url)


@pytest.mark.parametrize(
    "url",
    ["http://localhost:9000/", "http://127.0.0.1.nip.io/", "http://10.1.2.3/",
     "http://0.0.0.0/", "http://example.com/", "not a url", "http://[::1/"],
)
def test_plain_http_is_not_allowed_to_a_name_or_another_address(url: str) -> None:
    assert not plain_http_allowed(url)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=12))
def test_an_ascii_url_s_unsafe_character_is_the_one_the_rule_s_regex_finds(url: str) -> None:
    """The ASCII fast path checks ``[\\x00-\\x20\\x7f\\\\]`` with string methods (no regex compiled at start)."""
    import re

    from shared.urls import unsafe_character_at

    match = re.search(r"[\x00-\x20\x7f\\]", url)
    assert unsafe_character_at(url) == (match.start() if match else None)


# --- review bs ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://bücher.example\\@evil.example/", "https://shop.example/é\\..\\admin"])
def test_a_backslash_in_a_non_ascii_url_is_refused_too(url: str) -> None:
    """The non-ASCII path of the check (Unicode categories) looks for the backslash as the ASCII path does."""
    from shared.urls import unsafe_character_at

    assert not url.isascii()
    assert unsafe_character_at(url) == url.index("\\")
    assert not is_safe_url(url)


@pytest.mark.parametrize("host", ["a..example", "." + "a.example", "a" * 64 + ".example", "bücher..example"])
def test_a_url_whose_host_has_an_empty_or_over_long_label_is_refused(host: str) -> None:
    with pytest.raises(UnsafeUrl, match="host"):
        check_url(f"https://{host}/hook")
    assert is_safe_url(f"https://{host.replace('..', '.').lstrip('.').replace('a' * 64, 'a' * 63)}/hook")


@pytest.mark.parametrize("segment", [".", "..", "%2e", "%2E", ".%2e", "%2e.", "%2E%2e", "..;x=1", "%2e;jsessionid=1"])
def test_every_spelling_of_a_dot_segment_is_found(segment: str) -> None:
    """WHATWG URL's single- and double-dot segments (``%2e`` for either dot, in any case), also before ``;``."""
    from shared.urls import has_dot_segment

    assert has_dot_segment(f"/kyc/done/{segment}/admin")
    assert not has_dot_segment(f"/kyc/done/x{segment}/admin")


@pytest.mark.parametrize("url", ["https://user:p@ss@hooks.example/x", "https://a@b@c:pw@hooks.example/x"])
def test_without_userinfo_removes_a_password_holding_an_at_sign_whole(url: str) -> None:
    """The host is what follows the *last* ``@`` (as ``urlsplit`` reads it): no piece of the credentials is kept."""
    assert without_userinfo(url) == "https://hooks.example/x"


@pytest.mark.parametrize("host", ["a\x00b.example", "a\u200bb.example", "a\x7fb.example", "a\u00a0b.example"])
def test_display_url_prints_a_host_holding_an_unsafe_character_as_unprintable(host: str) -> None:
    assert display_url(f"https://{host}/x") == UNPRINTABLE
