"""Injected faults and the service's errors, as the SDK maps them (code, HTTP status, retry behaviour)."""

from __future__ import annotations

import http.client
import json
import logging
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import pytest

from tools.doubles.tablestore import TablestoreDouble
from tools.doubles.tablestore._sdk import tablestore as ts
from tools.faultplan import FaultPlanError

from .conftest import AK, INSTANCE, SK, create_table

# The specification: what the SDK must raise for each error the double can answer (see errors.py for sources).
EXPECTED_STATUS = {
    "OTSAuthFailed": 403,
    "OTSParameterInvalid": 400,
    "OTSInvalidPK": 400,
    "OTSConditionCheckFail": 403,
    "OTSObjectNotExist": 404,
    "OTSObjectAlreadyExist": 409,
    "OTSNotEnoughCapacityUnit": 403,
    "OTSServerBusy": 503,
    "OTSPartitionUnavailable": 503,
    "OTSServerUnavailable": 503,
    "OTSTimeout": 503,
    "OTSQuotaExhausted": 403,
    "OTSInternalServerError": 500,
    "OTSRowOperationConflict": 409,
    "OTSMethodNotAllowed": 405,
    "OTSRequestBodyTooLarge": 413,
}


@pytest.mark.parametrize("code", sorted(EXPECTED_STATUS))
def test_each_injected_error_reaches_the_sdk_with_the_services_status(
    ots: TablestoreDouble, client: Any, code: str
) -> None:
    ots.set_faults({"operations": {"ListTable": {"sequence": [code]}}})
    with pytest.raises(ts.OTSServiceError) as raised:
        client.list_table()
    assert (raised.value.code, raised.value.http_status) == (code, EXPECTED_STATUS[code])
    assert raised.value.request_id
    assert client.list_table() == ()  # the sequence is spent


def test_throttling_is_retried_by_the_sdks_default_policy_until_it_passes(ots: TablestoreDouble) -> None:
    client = ots.client(retry_policy=ts.NoDelayRetryPolicy())
    create_table(client)
    ots.set_faults({"operations": {"PutRow": {"sequence": ["OTSServerBusy", "OTSNotEnoughCapacityUnit", "ok"]}}})
    client.put_row("t", ts.Row([("pk", "a")], [("x", 1)]), ts.Condition(ts.RowExistenceExpectation.IGNORE))
    assert ots.stats()["requests"]["PutRow"] == 3
    assert ots.stats()["faults"] == {"error:OTSServerBusy": 1, "error:OTSNotEnoughCapacityUnit": 1}


def test_a_server_error_on_a_write_is_not_retried_by_the_sdk(ots: TablestoreDouble) -> None:
    client = ots.client(retry_policy=ts.NoDelayRetryPolicy())
    create_table(client)
    ots.set_faults({"operations": {"PutRow": {"sequence": ["OTSInternalServerError", "ok"]}}})
    with pytest.raises(ts.OTSServiceError) as raised:
        client.put_row("t", ts.Row([("pk", "a")], [("x", 1)]), ts.Condition(ts.RowExistenceExpectation.IGNORE))
    assert raised.value.http_status == 500
    assert ots.stats()["requests"]["PutRow"] == 1


def test_an_injected_error_changes_nothing(ots: TablestoreDouble, client: Any) -> None:
    create_table(client)
    ots.set_faults({"operations": {"PutRow": {"sequence": ["OTSServerBusy"]}}})
    with pytest.raises(ts.OTSServiceError):
        client.put_row("t", ts.Row([("pk", "a")], [("x", 1)]), ts.Condition(ts.RowExistenceExpectation.IGNORE))
    assert client.get_row("t", [("pk", "a")])[1] is None


def test_a_drop_before_the_request_loses_it_and_a_drop_after_loses_only_the_answer(
    ots: TablestoreDouble, client: Any
) -> None:
    create_table(client)
    ots.set_faults({"operations": {"PutRow": {"sequence": ["drop-before", "drop-after"]}}})
    for key in ("before", "after"):
        with pytest.raises(Exception) as dropped:
            client.put_row("t", ts.Row([("pk", key)], [("x", 1)]), ts.Condition(ts.RowExistenceExpectation.IGNORE))
        assert not isinstance(dropped.value, ts.OTSServiceError)
    assert client.get_row("t", [("pk", "before")])[1] is None
    assert client.get_row("t", [("pk", "after")])[1] is not None


def test_a_slow_answer_times_the_client_out(ots: TablestoreDouble) -> None:
    client = ots.client(retry_policy=ts.NoRetryPolicy(), socket_timeout=0.2)
    ots.set_faults({"operations": {"ListTable": {"sequence": ["delay:3"]}}})
    with pytest.raises(Exception) as slow:
        client.list_table()
    assert "timed out" in str(slow.value).lower()


def test_seeded_rates_replay_the_same_faults() -> None:
    outcomes = []
    for _ in range(2):
        with TablestoreDouble(access_key_id=AK, access_key_secret=SK, instance=INSTANCE, seed=7) as ots:
            client = ots.client(retry_policy=ts.NoRetryPolicy())
            ots.set_faults({"seed": 7, "operations": {"*": {"errorRates": {"OTSServerBusy": 0.3,
                                                                           "OTSQuotaExhausted": 0.2}}}})
            run = []
            for _ in range(30):
                try:
                    client.list_table()
                    run.append("ok")
                except ts.OTSServiceError as exc:
                    run.append(exc.code)
            outcomes.append(run)
    assert outcomes[0] == outcomes[1]
    assert {"ok", "OTSServerBusy", "OTSQuotaExhausted"} <= set(outcomes[0])


def test_a_plan_naming_an_unknown_error_is_refused(ots: TablestoreDouble) -> None:
    with pytest.raises(FaultPlanError):
        ots.set_faults({"operations": {"PutRow": {"sequence": ["NoSuchError"]}}})


def test_faults_are_posted_over_the_control_api(ots: TablestoreDouble, client: Any) -> None:
    plan = {"operations": {"ListTable": {"sequence": ["OTSServerUnavailable"]}}}
    request = urllib.request.Request(ots.base_url + "/_double/faults", json.dumps(plan).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert json.loads(answer.read()) == {"faults": plan}
    with pytest.raises(ts.OTSServiceError) as raised:
        client.list_table()
    assert (raised.value.code, raised.value.http_status) == ("OTSServerUnavailable", 503)


def test_injected_error_answers_are_signed_like_real_ones(ots: TablestoreDouble) -> None:
    ots.set_faults({"operations": {"ListTable": {"sequence": ["OTSServerBusy"]}}})
    protocol = ts.protocol.OTSProtocol(INSTANCE, "utf8", logging.getLogger("oracle"))
    context = ts.auth.RequestContext(ts.credentials.Credentials(AK, SK))
    signer = ts.auth.SignV2("utf8")
    headers = protocol._make_request_headers(b"", "/ListTable", signer, context)
    parts = urlsplit(ots.endpoint)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("POST", "/ListTable", body=b"", headers=headers)
        response = connection.getresponse()
        body = response.read()
        answer = {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()
    assert response.status == 503
    # the SDK's own checks of an answer: headers, MD5, date, and the signature
    protocol._check_headers(answer, body, status=503)
    protocol._check_authorization("/ListTable", answer, 503, signer, context)
    assert answer["authorization"].startswith(f"OTS {AK}:")
