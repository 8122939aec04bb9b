"""The OSS double's V4 verifier against ``alibabacloud_oss_v2``'s own signer (the oracle), on random requests.

Each case builds a request the way the SDK's client does (path-style URL with ``quote(key)``, query with
``urlencode(..., quote_via=quote)``), signs it with ``SignerV4``, then verifies what would arrive on the wire
(raw path and query, lower-cased headers) with the double's independent implementation.
"""

from __future__ import annotations

import datetime
import random
import string
from urllib.parse import quote, unquote, urlencode, urlsplit

import pytest
from alibabacloud_oss_v2.crc import Crc64
from alibabacloud_oss_v2.credentials import StaticCredentialsProvider
from alibabacloud_oss_v2.signer.v4 import SignerV4
from alibabacloud_oss_v2.types import HttpRequest, SigningContext

from tools.credentials import AccessKey
from tools.doubles.oss import auth
from tools.doubles.oss.errors import OssError
from tools.doubles.oss.store import crc64ecma

KEY_ALPHABET = string.ascii_letters + string.digits + "-_.~/!*'()+ %&=?#@,;:$证件ü"
VALUE_ALPHABET = string.ascii_letters + string.digits + "-_.~/+=:,; "


def _text(rng: random.Random, alphabet: str, low: int, high: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def _random_case(rng: random.Random) -> tuple[SigningContext, str, str, datetime.datetime]:
    bucket = "b-" + _text(rng, string.ascii_lowercase + string.digits, 3, 20)
    key = _text(rng, KEY_ALPHABET, 1, 40).lstrip("/") or "k"
    region = rng.choice(["cn-hangzhou", "ap-southeast-1", "cn-hongkong", "eu-central-1"])
    secret = _text(rng, string.ascii_letters + string.digits, 16, 40)
    params = {_text(rng, string.ascii_lowercase + "-", 1, 12): _text(rng, VALUE_ALPHABET, 0, 20) for _ in range(3)}
    headers = {"content-type": rng.choice(["text/plain", "application/json", "image/jpeg; q=1"])}
    for _ in range(rng.randint(0, 3)):
        headers["x-oss-meta-" + _text(rng, string.ascii_lowercase, 1, 8)] = _text(rng, VALUE_ALPHABET, 1, 20).strip()
    if rng.random() < 0.5:
        headers["content-md5"] = _text(rng, string.ascii_letters + string.digits + "+/", 22, 22) + "=="
    additional: set[str] = set()
    if rng.random() < 0.5:
        headers["x-custom-thing"] = _text(rng, string.ascii_letters, 1, 10)
        additional = {"x-custom-thing", "content-type"}  # a default signed header in the list is ignored
    url = f"http://127.0.0.1:9/{bucket}/{quote(key)}"
    query = urlencode(params, quote_via=quote)
    if query:
        url += "?" + query
    method = rng.choice(["GET", "PUT", "HEAD", "DELETE", "POST"])
    signing_time = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(
        seconds=rng.randint(0, 10**8)
    )
    request = HttpRequest(method=method, url=url, headers=dict(headers))
    context = SigningContext(
        product="oss",
        region=region,
        bucket=bucket,
        key=key,
        request=request,
        credentials=StaticCredentialsProvider("LTAI-random", secret, "token-" + secret[:6]).get_credentials(),
        signing_time=signing_time,
        additional_headers=additional or None,
    )
    SignerV4().sign(context)
    return context, secret, region, signing_time


def _verify(context: SigningContext, secret: str, region: str, now: datetime.datetime) -> AccessKey:
    parts = urlsplit(context.request.url)
    bucket, _, key = unquote(parts.path)[1:].partition("/")
    headers = {name.lower(): value for name, value in context.request.headers.items()}
    return auth.verify(
        method=context.request.method,
        bucket=bucket,
        key=key,
        raw_query=parts.query,
        headers=headers,
        body=b"",
        keys={"LTAI-random": AccessKey("LTAI-random", secret, headers["x-oss-security-token"])},
        region=region,
        now=now.timestamp(),
    )


@pytest.mark.parametrize("seed", range(300))
def test_the_double_accepts_every_request_the_sdk_signs(seed: int) -> None:
    context, secret, region, signed_at = _random_case(random.Random(seed))
    assert _verify(context, secret, region, signed_at).access_key_id == "LTAI-random"


@pytest.mark.parametrize("seed", range(40))
def test_the_string_to_sign_is_the_sdks(seed: int) -> None:
    context, secret, region, signed_at = _random_case(random.Random(seed))
    context.request.headers["Authorization"] = context.request.headers["Authorization"][:-4] + "0000"
    with pytest.raises(OssError) as caught:
        _verify(context, secret, region, signed_at)
    assert caught.value.code == "SignatureDoesNotMatch"
    assert caught.value.extra["StringToSign"] == context.string_to_sign


@pytest.mark.parametrize("seed", range(40))
def test_another_secret_does_not_verify(seed: int) -> None:
    context, secret, region, signed_at = _random_case(random.Random(seed))
    with pytest.raises(OssError) as caught:
        _verify(context, secret + "x", region, signed_at)
    assert caught.value.code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("seed", range(40))
def test_a_changed_signed_header_does_not_verify(seed: int) -> None:
    context, secret, region, signed_at = _random_case(random.Random(seed))
    context.request.headers["content-type"] = "application/x-tampered"
    with pytest.raises(OssError) as caught:
        _verify(context, secret, region, signed_at)
    assert caught.value.code == "SignatureDoesNotMatch"


def test_a_request_signed_for_another_region_is_refused() -> None:
    context, secret, _, signed_at = _random_case(random.Random(1))
    with pytest.raises(OssError) as caught:
        _verify(context, secret, "us-west-1", signed_at)
    assert caught.value.code == "InvalidArgument"


@pytest.mark.parametrize("offset", [-901, 901])
def test_a_request_signed_more_than_15_minutes_away_is_too_skewed(offset: int) -> None:
    context, secret, region, signed_at = _random_case(random.Random(2))
    with pytest.raises(OssError) as caught:
        _verify(context, secret, region, signed_at + datetime.timedelta(seconds=offset))
    assert caught.value.code == "RequestTimeTooSkewed"


def test_a_request_within_15_minutes_is_not_skewed() -> None:
    context, secret, region, signed_at = _random_case(random.Random(3))
    _verify(context, secret, region, signed_at + datetime.timedelta(seconds=899))


def test_the_crc64_is_crc64_xz_as_the_sdk_computes_it() -> None:
    assert crc64ecma(b"123456789") == 0x995DC9BBDF1939FA  # the CRC catalogue's check value for CRC-64/XZ
    rng = random.Random(5)
    for _ in range(20):
        data = rng.randbytes(rng.randint(0, 3000))
        oracle = Crc64(init_crc=0)
        oracle.update(data)
        assert crc64ecma(data) == oracle.sum64()
