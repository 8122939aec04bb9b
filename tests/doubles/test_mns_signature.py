"""The MNS double's signature check against the official ``mns`` SDK's signer (the oracle), on random requests."""

from __future__ import annotations

import base64
import hashlib
import random
import string
import time
from email.utils import formatdate

import pytest
from mns.auth import Credentials as MnsCredentials
from mns.mns_client import MNSClient

from tools.credentials import AccessKey
from tools.doubles.mns import auth
from tools.doubles.mns.errors import MnsError

NOW = 1_750_000_000.0
ORACLE = MNSClient("http://127.0.0.1:1", "unused", "unused")


def _random_request(rng: random.Random) -> tuple[str, dict[str, str], str, bytes, str]:
    secret = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(10, 40)))
    method = rng.choice(["GET", "POST", "PUT", "DELETE"])
    queue = "q-" + "".join(rng.choice(string.ascii_lowercase + string.digits + "-") for _ in range(rng.randint(1, 30)))
    resource = rng.choice(
        [
            f"/queues/{queue}/messages",
            f"/queues/{queue}/messages?numOfMessages={rng.randint(1, 16)}&waitseconds={rng.randint(0, 30)}",
            f"/queues/{queue}/messages?ReceiptHandle=1-{base64.b64encode(rng.randbytes(20)).decode()}",
            f"/queues/{queue}?metaoverride=true",
        ]
    )
    body = rng.randbytes(rng.randint(0, 200)) if method in ("POST", "PUT") else b""
    headers = {"date": formatdate(NOW + rng.randint(-600, 600), usegmt=True), "x-mns-version": auth.MNS_VERSION}
    if body:
        headers["content-type"] = "text/xml;charset=UTF-8"
        headers["content-md5"] = base64.b64encode(hashlib.md5(body).hexdigest().encode()).decode()
    for _ in range(rng.randint(0, 2)):
        headers["x-mns-" + "".join(rng.choice(string.ascii_lowercase) for _ in range(6))] = str(rng.random())
    return method, headers, resource, body, secret


def _signed(method: str, headers: dict[str, str], resource: str, secret: str) -> dict[str, str]:
    authorization = ORACLE.get_signature(method, headers, resource, MnsCredentials("LTAI-mns", secret, ""))
    return {**headers, "authorization": authorization}


def _verify(method: str, headers: dict[str, str], resource: str, body: bytes, secret: str) -> AccessKey:
    keys = {"LTAI-mns": AccessKey("LTAI-mns", secret)}
    return auth.verify(method=method, resource=resource, headers=headers, body=body, keys=keys, now=NOW)


@pytest.mark.parametrize("seed", range(200))
def test_the_double_accepts_every_request_the_sdk_signs(seed: int) -> None:
    method, headers, resource, body, secret = _random_request(random.Random(seed))
    signed = _signed(method, headers, resource, secret)
    assert _verify(method, signed, resource, body, secret).access_key_id == "LTAI-mns"


@pytest.mark.parametrize("seed", range(30))
def test_the_string_to_sign_is_the_sdks(seed: int) -> None:
    method, headers, resource, _, secret = _random_request(random.Random(seed))
    expected = ORACLE.get_signature(method, headers, resource, MnsCredentials("LTAI-mns", secret, ""))
    assert f"MNS LTAI-mns:{auth.signature(secret, auth.string_to_sign(method, headers, resource))}" == expected


@pytest.mark.parametrize("seed", range(30))
def test_another_secret_or_resource_does_not_verify(seed: int) -> None:
    method, headers, resource, body, secret = _random_request(random.Random(seed))
    signed = _signed(method, headers, resource, secret)
    for wrong_secret, wrong_resource in ((secret + "x", resource), (secret, resource + "&x=1")):
        with pytest.raises(MnsError) as caught:
            _verify(method, signed, wrong_resource, body, wrong_secret)
        assert caught.value.code == "SignatureDoesNotMatch"


def test_a_body_that_does_not_match_its_content_md5_is_invalid_degist() -> None:
    _, headers, resource, body, secret = _random_request(random.Random(3))
    headers["content-md5"] = base64.b64encode(hashlib.md5(b"other").hexdigest().encode()).decode()
    with pytest.raises(MnsError) as caught:
        _verify("POST", _signed("POST", headers, resource, secret), resource, body or b"x", secret)
    assert caught.value.code == "InvalidDegist"


def test_a_raw_digest_content_md5_is_accepted_too() -> None:
    body = b"<Message/>"
    headers = {"date": formatdate(NOW, usegmt=True), "x-mns-version": auth.MNS_VERSION}
    headers["content-md5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
    _verify("POST", _signed("POST", headers, "/queues/q/messages", "s"), "/queues/q/messages", body, "s")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"authorization": ""}, "MissingAuthorizationHeader"),
        ({"authorization": "OSS LTAI-mns:abc"}, "InvalidAuthorizationHeader"),
        ({"date": ""}, "MissingDateHeader"),
        ({"date": "yesterday"}, "InvalidDateHeader"),
        ({"authorization": "MNS LTAI-other:abcd"}, "InvalidAccessKeyId"),
        ({"x-mns-version": "2014-01-01"}, "InvalidArgument"),
    ],
)
def test_malformed_authentication_is_refused_with_the_mns_code(change: dict[str, str], code: str) -> None:
    headers = {"date": formatdate(NOW, usegmt=True), "x-mns-version": auth.MNS_VERSION}
    signed = {**_signed("GET", headers, "/queues/q", "s"), **change}
    with pytest.raises(MnsError) as caught:
        _verify("GET", signed, "/queues/q", b"", "s")
    assert caught.value.code == code


@pytest.mark.parametrize("offset", [-901, 901])
def test_a_date_more_than_15_minutes_away_is_time_expired(offset: int) -> None:
    headers = {"date": formatdate(NOW + offset, usegmt=True), "x-mns-version": auth.MNS_VERSION}
    with pytest.raises(MnsError) as caught:
        _verify("GET", _signed("GET", headers, "/queues/q", "s"), "/queues/q", b"", "s")
    assert (caught.value.code, caught.value.status) == ("TimeExpired", 408)


def test_an_sts_key_needs_its_security_token() -> None:
    headers = {"date": formatdate(time.time(), usegmt=True), "x-mns-version": auth.MNS_VERSION}
    signed = _signed("GET", headers, "/queues/q", "s")
    keys = {"LTAI-mns": AccessKey("LTAI-mns", "s", "tok")}
    with pytest.raises(MnsError) as caught:
        auth.verify(method="GET", resource="/queues/q", headers=signed, body=b"", keys=keys, now=time.time())
    assert caught.value.code == "InvalidAccessKeyId"
    with_token = {**signed, "security-token": "tok"}
    auth.verify(method="GET", resource="/queues/q", headers=with_token, body=b"", keys=keys, now=time.time())
