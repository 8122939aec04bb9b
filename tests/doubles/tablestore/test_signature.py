"""The double's request verification and answer signing against the SDK's own signer (the oracle).

Requests are composed by the SDK's ``OTSProtocol._make_request_headers`` (its headers, MD5, date, STS token and V2 or
V4 signature) on random keys, instances, bodies, extra ``x-ots-`` headers, regions and sign dates; the double's
independent ``Verifier`` must accept each and refuse it once anything signed changes. Over HTTP, the real client
must be refused with the service's codes.
"""

from __future__ import annotations

import calendar
import datetime
import http.client
import logging
import random
import string
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from tools.credentials import AccessKey
from tools.doubles.tablestore import TablestoreDouble
from tools.doubles.tablestore._sdk import tablestore as ts
from tools.doubles.tablestore.errors import ServiceError
from tools.doubles.tablestore.signature import (
    Caller,
    Verifier,
    response_authorization,
    string_to_sign,
    v4_signing_key,
)

from .conftest import AK, INSTANCE, SK, create_table

CASES = 200
TEXT = string.ascii_letters + string.digits + "-_.~+/= "


def _text(rng: random.Random, low: int, high: int, alphabet: str = TEXT) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def _sdk_request(rng: random.Random, *, v4: bool) -> tuple[dict[str, str], bytes, str, AccessKey, str | None]:
    """Headers the SDK would send for a random request, the body, the path, the key and the V4 region."""
    credential = AccessKey(
        _text(rng, 8, 24, string.ascii_letters + string.digits),
        _text(rng, 16, 40, string.ascii_letters + string.digits),
        _text(rng, 20, 60) if rng.random() < 0.3 else None,
    )
    instance = _text(rng, 3, 16, string.ascii_lowercase)
    extra = {f"x-ots-{_text(rng, 1, 8, string.ascii_lowercase)}": _text(rng, 1, 20).strip() or "v"
             for _ in range(rng.randint(0, 2))}
    protocol = ts.protocol.OTSProtocol(instance, "utf8", logging.getLogger("oracle"), extra_headers=extra)
    region = None
    if v4:
        region = rng.choice(["cn-hangzhou", "cn-hongkong", "ap-southeast-1"])
        sign_date = time.strftime("%Y%m%d", time.gmtime(time.time() - rng.randint(0, 5) * 86400))
        signer: Any = ts.auth.SignV4("utf8", region=region, sign_date=sign_date)
    else:
        signer = ts.auth.SignV2("utf8")
    context = ts.auth.RequestContext(
        ts.credentials.Credentials(credential.access_key_id, credential.access_key_secret, credential.security_token)
    )
    body = rng.randbytes(rng.randint(0, 200))
    path = "/" + rng.choice(["PutRow", "GetRange", "UpdateRow", "BatchWriteRow", "ListTable"])
    headers = protocol._make_request_headers(body, path, signer, context)
    return {k.lower(): v for k, v in headers.items()}, body, path, credential, region


def _verifier(headers: dict[str, str], credential: AccessKey) -> Verifier:
    sent = calendar.timegm(time.strptime(headers["x-ots-date"], "%Y-%m-%dT%H:%M:%S.000Z"))
    return Verifier(instance=headers["x-ots-instancename"], credentials=[credential], clock=lambda: sent + 1)


@pytest.mark.parametrize("v4", [False, True], ids=["v2", "v4"])
def test_every_request_the_sdk_signs_verifies(v4: bool) -> None:
    rng = random.Random(21 + v4)
    for _ in range(CASES):
        headers, body, path, credential, _ = _sdk_request(rng, v4=v4)
        caller = _verifier(headers, credential).verify(path, "", headers, body)
        assert (caller.access_key_id, caller.version) == (credential.access_key_id, "v4" if v4 else "v2")


@pytest.mark.parametrize("v4", [False, True], ids=["v2", "v4"])
def test_a_change_to_anything_signed_is_refused(v4: bool) -> None:
    rng = random.Random(31 + v4)
    for _ in range(CASES // 2):
        headers, body, path, credential, _ = _sdk_request(rng, v4=v4)
        verifier = _verifier(headers, credential)
        signed = [n for n in headers if n.startswith("x-ots-") and not n.startswith("x-ots-signature")]
        tampered = dict(headers)
        name = rng.choice([n for n in signed if n not in ("x-ots-date", "x-ots-signdate")])
        tampered[name] = tampered[name] + "x"
        with pytest.raises(ServiceError) as refused:
            verifier.verify(path, "", tampered, body)
        assert refused.value.code == "OTSAuthFailed"
        with pytest.raises(ServiceError) as other_path:
            verifier.verify(path + "x", "", headers, body)
        assert (other_path.value.code, other_path.value.message) == ("OTSAuthFailed", "Signature mismatch.")


def test_string_to_sign_is_the_sdks_for_random_queries_and_headers() -> None:
    rng = random.Random(41)
    signer = ts.auth.SignV2("utf8")
    for _ in range(CASES):
        headers = {f"x-ots-{_text(rng, 1, 10, string.ascii_lowercase)}": " " + _text(rng, 0, 20) + " "
                   for _ in range(rng.randint(1, 6))}
        headers["content-type"] = "application/x-protobuf"
        pairs = [(_text(rng, 1, 6, string.ascii_lowercase), _text(rng, 1, 8, string.ascii_letters)) for _ in range(3)]
        query = "&".join(f"{k}={v}" for k, v in pairs) if rng.random() < 0.5 else ""
        path = "/" + _text(rng, 1, 12, string.ascii_letters)
        sdk = signer._get_request_signature_string(path + ("?" + query if query else ""), headers)
        assert string_to_sign(path, query, headers) == sdk


def test_v4_signing_key_is_the_sdks() -> None:
    rng = random.Random(51)
    for _ in range(50):
        secret, date = _text(rng, 10, 30, string.ascii_letters), f"2026{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        region = rng.choice(["cn-hangzhou", "eu-central-1"])
        assert v4_signing_key(secret, date, region) == ts.auth.SignV4._get_v4_signing_key(secret, date, region, "utf8")


@pytest.mark.parametrize("v4", [False, True], ids=["v2", "v4"])
def test_answer_signature_is_the_one_the_sdk_expects(v4: bool) -> None:
    rng = random.Random(61 + v4)
    for _ in range(50):
        secret = _text(rng, 10, 30, string.ascii_letters)
        key = v4_signing_key(secret, "20260101", "cn-hangzhou") if v4 else secret.encode()
        headers = {"x-ots-contentmd5": _text(rng, 24, 24), "x-ots-requestid": _text(rng, 10, 36),
                   "x-ots-date": "2026-01-01T00:00:00.000Z", "x-ots-contenttype": "protocol buffer"}
        path = "/" + _text(rng, 3, 12, string.ascii_letters)
        authorization = response_authorization(Caller("AK", key, "v4" if v4 else "v2"), path, headers)
        signer = ts.auth.SignV2("utf8")
        assert authorization == "OTS AK:" + signer.make_response_signature(path, headers, key)


def _refusal(client: Any) -> ts.OTSServiceError:
    with pytest.raises(ts.OTSServiceError) as refused:
        client.list_table()
    return refused.value


def test_a_wrong_secret_is_refused_with_signature_mismatch(ots: TablestoreDouble) -> None:
    wrong = ts.OTSClient(ots.endpoint, AK, SK + "x", INSTANCE, retry_policy=ts.NoRetryPolicy())
    error = _refusal(wrong)
    assert (error.http_status, error.code, error.message) == (403, "OTSAuthFailed", "Signature mismatch.")


def test_an_unknown_key_is_refused(ots: TablestoreDouble) -> None:
    error = _refusal(ts.OTSClient(ots.endpoint, "other", SK, INSTANCE, retry_policy=ts.NoRetryPolicy()))
    assert (error.http_status, error.code, error.message) == (403, "OTSAuthFailed", "The AccessKeyID does not exist.")


def test_another_instance_is_refused(ots: TablestoreDouble) -> None:
    error = _refusal(ts.OTSClient(ots.endpoint, AK, SK, "otherinst", retry_policy=ts.NoRetryPolicy()))
    assert (error.http_status, error.code, error.message) == (403, "OTSAuthFailed", "The instance is not found.")


def test_an_instance_closed_to_the_internet_refuses_every_request_by_its_network_acl() -> None:
    with TablestoreDouble(access_key_id=AK, access_key_secret=SK, instance=INSTANCE, internet_access=False) as ots:
        error = _refusal(ts.OTSClient(ots.endpoint, AK, SK, INSTANCE, retry_policy=ts.NoRetryPolicy()))
    assert (error.http_status, error.code, error.message) == (
        403, "OTSAuthFailed", "Request denied by instance ACL policies.")


@pytest.mark.parametrize(("minutes", "accepted"), [(-16, False), (16, False), (-14, True), (14, True)])
def test_a_date_more_than_fifteen_minutes_off_is_refused(
    ots: TablestoreDouble, monkeypatch: pytest.MonkeyPatch, minutes: int, accepted: bool
) -> None:
    skewed = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
    monkeypatch.setattr(ts.utils, "get_now_utc_datetime", lambda: skewed)
    status, error = _raw(ots, "POST", "/ListTable", _signed(b""), b"")
    if accepted:
        assert status == 200
    else:
        assert (status, error.code) == (403, "OTSAuthFailed")
        assert error.message == f"Mismatch between system time and x-ots-date: {skewed:%Y-%m-%dT%H:%M:%S}.000Z."


def test_sts_credentials_need_their_token() -> None:
    with TablestoreDouble(access_key_id=AK, access_key_secret=SK, security_token="tok-1", instance=INSTANCE) as ots:
        assert ots.client().list_table() == ()
        error = _refusal(ts.OTSClient(ots.endpoint, AK, SK, INSTANCE, sts_token="tok-2",
                                      retry_policy=ts.NoRetryPolicy()))
        assert (error.http_status, error.code) == (403, "OTSAuthFailed")
        error = _refusal(ts.OTSClient(ots.endpoint, AK, SK, INSTANCE, retry_policy=ts.NoRetryPolicy()))
        assert (error.http_status, error.code) == (403, "OTSAuthFailed")


def test_v4_clients_are_verified_and_answered(ots: TablestoreDouble, client: Any) -> None:
    create_table(client)
    v4 = ts.OTSClient(ots.endpoint, AK, SK, INSTANCE, region="cn-hangzhou", retry_policy=ts.NoRetryPolicy())
    assert v4.list_table() == ("t",)
    wrong = ts.OTSClient(ots.endpoint, AK, SK + "x", INSTANCE, region="cn-hangzhou", retry_policy=ts.NoRetryPolicy())
    assert _refusal(wrong).message == "Signature mismatch."


def test_a_v4_signature_for_another_region_is_refused_when_the_double_has_one() -> None:
    with TablestoreDouble(access_key_id=AK, access_key_secret=SK, instance=INSTANCE, region="cn-hongkong") as ots:
        assert ots.client().list_table() == ()
        other = ts.OTSClient(ots.endpoint, AK, SK, INSTANCE, region="cn-hangzhou", retry_policy=ts.NoRetryPolicy())
        assert _refusal(other).code == "OTSAuthFailed"


def _raw(ots: TablestoreDouble, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
    parts = urlsplit(ots.endpoint)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        error = ts.protobuf.table_store_pb2.Error()
        body = response.read()
        if response.status != 200:
            error.ParseFromString(body)
        return response.status, error
    finally:
        connection.close()


def _signed(body: bytes, path: str = "/ListTable") -> dict[str, str]:
    protocol = ts.protocol.OTSProtocol(INSTANCE, "utf8", logging.getLogger("oracle"))
    context = ts.auth.RequestContext(ts.credentials.Credentials(AK, SK))
    return dict(protocol._make_request_headers(body, path, ts.auth.SignV2("utf8"), context))


def test_a_body_that_does_not_match_its_md5_is_refused(ots: TablestoreDouble) -> None:
    body = ts.protobuf.table_store_pb2.ListTableRequest().SerializeToString() + b"\x00"
    status, error = _raw(ots, "POST", "/ListTable", _signed(b""), body)
    assert (status, error.code) == (403, "OTSAuthFailed")
    assert error.message == "Mismatch between MD5 value of request body and x-ots-contentmd5 in header."


@pytest.mark.parametrize("name", ["x-ots-date", "x-ots-apiversion", "x-ots-accesskeyid", "x-ots-instancename",
                                  "x-ots-contentmd5", "x-ots-signature"])
def test_a_missing_header_is_a_parameter_error(ots: TablestoreDouble, name: str) -> None:
    headers = {k.lower(): v for k, v in _signed(b"").items()}
    del headers[name]
    status, error = _raw(ots, "POST", "/ListTable", headers, b"")
    assert (status, error.code, error.message) == (400, "OTSParameterInvalid", f"Missing header: {name}.")


def _signed_v4(body: bytes, sign_date: str, path: str = "/ListTable") -> dict[str, str]:
    protocol = ts.protocol.OTSProtocol(INSTANCE, "utf8", logging.getLogger("oracle"))
    context = ts.auth.RequestContext(ts.credentials.Credentials(AK, SK))
    signer = ts.auth.SignV4("utf8", region="cn-hangzhou", sign_date=sign_date)
    return {k.lower(): v for k, v in protocol._make_request_headers(body, path, signer, context).items()}


@pytest.mark.parametrize("name", ["x-ots-signdate", "x-ots-signregion"])
def test_a_v4_request_without_its_sign_date_or_region_is_a_parameter_error(ots: TablestoreDouble, name: str) -> None:
    headers = _signed_v4(b"", time.strftime("%Y%m%d", time.gmtime()))
    assert _raw(ots, "POST", "/ListTable", headers, b"")[0] == 200
    del headers[name]
    status, error = _raw(ots, "POST", "/ListTable", headers, b"")
    assert (status, error.code, error.message) == (400, "OTSParameterInvalid", f"Missing header: {name}.")


def test_a_v4_sign_date_that_is_not_yyyymmdd_is_refused(ots: TablestoreDouble) -> None:
    """The V4 key is derived from ``x-ots-signdate`` = YYYYMMDD; another shape is refused even when the SDK signed
    with it."""
    headers = _signed_v4(b"", time.strftime("%Y-%m-%d", time.gmtime()))
    status, error = _raw(ots, "POST", "/ListTable", headers, b"")
    assert (status, error.code) == (400, "OTSParameterInvalid")


def test_an_unknown_operation_and_another_method_are_refused(ots: TablestoreDouble) -> None:
    status, error = _raw(ots, "POST", "/NoSuchThing", _signed(b"", "/NoSuchThing"), b"")
    assert (status, error.code, error.message) == (400, "OTSParameterInvalid", "Unsupported operation: NoSuchThing.")
    status, error = _raw(ots, "GET", "/ListTable", _signed(b""), b"")
    assert (status, error.code) == (405, "OTSMethodNotAllowed")

