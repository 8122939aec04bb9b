"""The operator CLI (ops.kyc) against the scripted local cloudauth-intl endpoint."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared import jsonutil
from shared.cloudauth import ParameterError
from shared.storage import StorageSettings, open_transaction_store
from tests.conftest import ROOT
from tests.test_cloudauth_fakeserver import FakeCloudAuth, Reply, error_body, fake
from tools.ops import kyc
from tools.ops.common import UsageError

__all__ = ["fake"]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
META = '{"deviceType":"web"}'


def run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = kyc.main(args, env=env, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def check_body(with_image: bool = False) -> dict[str, Any]:
    ocr = {"surname": "CHAN", "givenname": "TAI MAN", "sex": "M", "birthDate": "1990-01-01", "passportNo": "K1234567",
           "nationality": "CHN", "expiryDate": "2030-01-01", "countryCode": "CHN"}
    ext_id: dict[str, Any] = {"ocrIdPassed": "Y", "ocrIdInfo": ocr, "spoofInfo": {"spoofResult": "N"}}
    if with_image:
        ext_id["idImage"] = base64.b64encode(PNG).decode()
    result = {"Passed": "Y", "SubCode": "200", "ExtIdInfo": jsonutil.dumps_str(ext_id),
              "ExtFaceInfo": jsonutil.dumps_str({"faceAttack": "N", "facePassed": "Y", "faceComparisonScore": 91.2})}
    return {"RequestId": "R", "Code": "Success", "Message": "success", "Result": result}


def test_check_result_prints_the_summary(fake: FakeCloudAuth) -> None:
    fake.reply(Reply(body=check_body()))
    code, out, err = run(["check-result", "--merchant-biz-id", "biz1", "--transaction-id", "t1",
                          "--doc-type", "01000000"], fake.env())
    assert code == 0, err
    summary = jsonutil.loads(out)
    assert {"status", "passed", "subCode", "docType", "identity", "spoof", "face"} <= set(summary)
    assert summary["passed"] is True or summary["passed"] == "Y"
    assert summary["subCode"] == "200" and summary["docType"] == "01000000"
    assert fake.requests[0].query["IsReturnImage"] == "N"


def test_check_result_refuses_a_doc_type_of_neither_vendor_table_before_asking_the_vendor(
    fake: FakeCloudAuth,
) -> None:
    """It picks how the OCR fields are read: a typo printed an identity read as no document (review bu)."""
    code, out, err = run(["check-result", "--merchant-biz-id", "biz1", "--transaction-id", "t1",
                          "--doc-type", "0100000"], fake.env())
    assert (code, out, fake.requests) == (2, "", [])
    assert "error: InvalidUsage: argument --doc-type: '0100000' is no document type of the vendor's tables" in err


def test_check_result_takes_a_certificate_type_of_ekyc_pro(fake: FakeCloudAuth) -> None:
    fake.reply(Reply(body=check_body()))
    code, out, err = run(["check-result", "--merchant-biz-id", "biz1", "--transaction-id", "t1",
                          "--doc-type", "GLB03002"], fake.env())
    assert code == 0, err
    assert jsonutil.loads(out)["docType"] == "GLB03002"


def test_check_result_warns_that_its_answer_holds_the_identity_and_prints_no_unknown_product(
    fake: FakeCloudAuth,
) -> None:
    """The vendor's answer names no product: ``productCode`` is left out, not printed as null (found by a newcomer,
    who took the null for a parsing error), and the operator is told the answer is the identity in clear."""
    fake.reply(Reply(body=check_body()))
    code, out, err = run(["check-result", "--merchant-biz-id", "biz1", "--transaction-id", "t1"], fake.env())
    assert code == 0, err
    assert "productCode" not in jsonutil.loads(out)
    assert "identity in clear" in err


def test_check_result_images_are_written_privately_and_listed(fake: FakeCloudAuth, tmp_path: Path) -> None:
    fake.reply(Reply(body=check_body(with_image=True)))
    images_dir = tmp_path / "imgs"
    code, out, err = run(["check-result", "--merchant-biz-id", "biz1", "--transaction-id", "t1", "--images",
                          "--images-dir", str(images_dir)], fake.env())
    assert code == 0, err
    paths = jsonutil.loads(out)["images"]
    assert len(paths) == 1 and Path(paths[0]).read_bytes() == PNG and paths[0].endswith(".png")
    assert stat.S_IMODE(os.stat(paths[0]).st_mode) == 0o600
    assert fake.requests[0].query["IsReturnImage"] == "Y"


def frontend_env(fake: FakeCloudAuth, tmp_path: Path, **overrides: str) -> dict[str, str]:
    """What the initializer function runs with, pointed at the scripted vendor and a data directory of its own."""
    return fake.env(KYC_DATA_DIR=str(tmp_path / "data"), KYC_PUBLIC_URL="http://127.0.0.1:9000",
                    KYC_JWT_SECRET="j" * 40, KYC_USER_ID_PEPPER="pepper-for-tests-0123456789",
                    KYC_RETURN_URL_ALLOWLIST="https://m.example/", **overrides)


def test_initialize_goes_through_the_initializer_and_stores_a_pending_row(fake: FakeCloudAuth, tmp_path: Path) -> None:
    env = frontend_env(fake, tmp_path, KYC_VENDOR_SWITCHES='{"idSpoof": "Y"}')
    code, out, err = run(["initialize", "--doc-type", "01000000", "--meta-info", META, "--return-url",
                          "https://m.example/r", "--user", "alice@example.com", "--field", "languageConfig=en"], env)
    assert code == 0, err
    printed = jsonutil.loads(out)
    assert printed["transactionId"] == "08573be80f944d95ac812e019e3655a8"
    assert printed["transactionUrl"] == "https://cloudauth.example/flow?t=08573be80f944d95ac812e019e3655a8"
    expected = hmac.new(b"pepper-for-tests-0123456789", b"alice@example.com", hashlib.sha256).hexdigest()
    query = fake.requests[0].query
    assert query["MerchantUserId"] == expected and query["MetaInfo"] == META
    assert (query["IdSpoof"], query["LanguageConfig"]) == ("Y", "en")  # the deployment's switch, the request's
    assert query["CallbackUrl"] == f"http://127.0.0.1:9000/callback/{printed['merchantBizId']}"
    row = open_transaction_store(StorageSettings.from_env(env)).get(printed["merchantBizId"])
    assert row is not None and row.status == "PENDING" and row.merchant_user_id == expected
    assert "alice" not in fake.requests[0].path


def test_initialize_needs_no_jwt_secret_as_it_checks_no_frontend_token(fake: FakeCloudAuth, tmp_path: Path) -> None:
    """It runs the initializer's own settings, which required KYC_JWT_SECRET (review bu): an operator had to
    export the deployment's frontend secret for a command that never uses it."""
    env = {k: v for k, v in frontend_env(fake, tmp_path).items() if k != "KYC_JWT_SECRET"}
    code, out, err = run(["initialize", "--doc-type", "01000000", "--meta-info", META, "--user", "u"], env)
    assert code == 0, err
    assert jsonutil.loads(out)["transactionId"] == "08573be80f944d95ac812e019e3655a8"


def test_initialize_still_refuses_a_jwt_secret_the_initializer_would_refuse(
    fake: FakeCloudAuth, tmp_path: Path
) -> None:
    code, _, err = run(["initialize", "--doc-type", "01000000", "--meta-info", META, "--user", "u"],
                       {**frontend_env(fake, tmp_path), "KYC_JWT_SECRET": "short"})
    assert code == 2 and "KYC_JWT_SECRET" in err


def test_initialize_starts_a_product_that_verifies_no_document_without_a_doc_type(
    fake: FakeCloudAuth, tmp_path: Path
) -> None:
    env = frontend_env(fake, tmp_path, CLOUDAUTH_PRODUCTS="eKYC,FACE_LIVENESS_PRO")
    code, out, err = run(["initialize", "--meta-info", META, "--return-url", "https://m.example/r", "--user", "u",
                          "--field", "productCode=FACE_LIVENESS_PRO"], env)
    assert code == 0, err
    assert jsonutil.loads(out)["transactionId"]
    query = fake.requests[0].query
    assert query["ProductCode"] == "FACE_LIVENESS_PRO" and "DocType" not in query


def test_initialize_refuses_what_post_verifications_refuses_with_exit_2_and_no_vendor_call(
    fake: FakeCloudAuth, tmp_path: Path
) -> None:
    code, _, err = run(["initialize", "--doc-type", "01000000", "--meta-info", META, "--user", "u",
                        "--field", "noSuchField=1"], frontend_env(fake, tmp_path))
    assert code == 2 and err.startswith("error: UnknownField: unknown field(s): noSuchField")
    code, _, err = run(["initialize", "--doc-type", "01000000", "--meta-info", META, "--user", "u",
                        "--return-url", "https://evil.example/"], frontend_env(fake, tmp_path))
    assert code == 2 and "ReturnUrlNotAllowed" in err
    assert fake.requests == []


def test_initialize_without_the_initializer_s_pepper_is_a_config_error_naming_it(
    fake: FakeCloudAuth, tmp_path: Path
) -> None:
    env = {k: v for k, v in frontend_env(fake, tmp_path).items() if k != "KYC_USER_ID_PEPPER"}
    code, _, err = run(["initialize", "--doc-type", "01000000", "--meta-info", META, "--user", "u"], env)
    assert code == 2 and "KYC_USER_ID_PEPPER" in err and fake.requests == []


def test_vendor_error_prints_code_and_message_and_exits_1(fake: FakeCloudAuth) -> None:
    fake.reply(Reply(400, error_body("TransactionIdInvalid", "transaction id is invalid")))
    code, out, err = run(["check-result", "--merchant-biz-id", "biz1", "--transaction-id", "t1"], fake.env())
    assert code == 1 and out == ""
    assert err.strip() == "error: TransactionIdInvalid: transaction id is invalid"


def test_malformed_field_option_exits_2(fake: FakeCloudAuth, tmp_path: Path) -> None:
    code, _, err = run(["initialize", "--doc-type", "01000000", "--meta-info", META, "--user", "u",
                        "--field", "idSpoof"], frontend_env(fake, tmp_path))
    assert code == 2 and "name=value" in err


def test_missing_configuration_exits_2_naming_the_variable(fake: FakeCloudAuth) -> None:
    env = {k: v for k, v in fake.env().items() if k != "ALIBABA_CLOUD_ACCESS_KEY_SECRET"}
    code, _, err = run(["check-result", "--merchant-biz-id", "b", "--transaction-id", "t"], env)
    assert code == 2 and "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in err


def test_bad_usage_exits_2(fake: FakeCloudAuth) -> None:
    code, _, _ = run(["check-result", "--merchant-biz-id", "b"], fake.env())
    assert code == 2


def test_commands_are_registered_in_one_table() -> None:
    assert {"check-result", "initialize"} <= set(kyc.COMMANDS)
    parser = kyc.build_parser()
    assert parser.parse_args(["check-result", "--merchant-biz-id", "b", "--transaction-id", "t"]).command


def test_module_runs_as_a_subprocess(fake: FakeCloudAuth) -> None:
    fake.reply(Reply(body=check_body()))
    env = {**os.environ, **fake.env(), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "tools.ops.kyc", "check-result", "--merchant-biz-id", "b1", "--transaction-id", "t1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert jsonutil.loads(proc.stdout)["subCode"] == "200"


def test_a_sweep_of_a_deployment_needs_the_deployment_s_kyc_delete_vendor_copy(tmp_path: Path) -> None:
    """The code's default (N) is the local stack's; every deployment of the stack sets Y (s.yaml). A sweep from a
    shell without it took verdicts whose vendor copy the deployment still had to delete out of the due index, and
    nothing deleted them (review ai): it is refused before anything is read."""
    env = {"KYC_BACKEND": "aliyun", "KYC_DATA_DIR": str(tmp_path)}  # no ./scripts/dev runs there
    code, out, err = run(["sweep"], env)
    assert code == 2 and out == ""
    assert "KYC_DELETE_VENDOR_COPY" in err and "s.yaml: Y" in err


# --- exit codes and what a command leaves behind (found by mutating tools/ops/kyc.py) ------------------------------


class _Vendor:
    """A client whose CheckResult raises ``error``; remembers whether the command closed it."""

    def __init__(self, error: BaseException) -> None:
        self.error, self.closed = error, False

    def check_result(self, merchant_biz_id: str, transaction_id: str, *, is_return_image: bool = False) -> Any:
        raise self.error

    def close(self) -> None:
        self.closed = True


def _check_result_raising(error: BaseException) -> tuple[int, str, str, _Vendor]:
    vendor = _Vendor(error)
    out, err = io.StringIO(), io.StringIO()
    code = kyc.main(["check-result", "--merchant-biz-id", "b1", "--transaction-id", "t1"], env={"PATH": ""},
                    stdout=out, stderr=err, client_factory=lambda env: vendor)  # type: ignore[arg-type,return-value]
    return code, out.getvalue(), err.getvalue(), vendor


def test_a_parameter_the_vendor_refuses_exits_2() -> None:
    code, out, err, _ = _check_result_raising(ParameterError("TransactionId is invalid", status=400,
                                                             code="InvalidParameter"))
    assert (code, out, err) == (2, "", "error: InvalidParameter: TransactionId is invalid\n")


def test_a_connection_the_client_did_not_wrap_exits_1_with_one_line() -> None:
    code, out, err, _ = _check_result_raising(ConnectionResetError(104, "Connection reset by peer"))
    assert (code, out) == (1, "")
    assert err.endswith("error: TransportError: a connection failed (ConnectionResetError)\n")


def test_an_interrupted_command_exits_130() -> None:
    code, out, err, _ = _check_result_raising(KeyboardInterrupt())
    assert (code, out, err) == (130, "", "interrupted\n")


def test_every_command_closes_the_vendor_client_it_opened_even_when_it_fails() -> None:
    *_, vendor = _check_result_raising(ParameterError("TransactionId is invalid", code="InvalidParameter"))
    assert vendor.closed


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert kyc.main(["--help"], env={"PATH": ""}) == 0
    assert "Operator tools for cloudauth-intl" in capsys.readouterr().out


class _PipeClosedOnFlush(io.StringIO):
    """A pipe whose reader went away: writes are buffered, the flush fails."""

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_gone_before_the_answer_was_flushed_ends_the_command_with_141(fake: FakeCloudAuth) -> None:
    fake.reply(Reply(body=check_body()))
    err = io.StringIO()
    code = kyc.main(["check-result", "--merchant-biz-id", "b1", "--transaction-id", "t1"], env=fake.env(),
                    stdout=_PipeClosedOnFlush(), stderr=err)
    assert code == 141 and "error" not in err.getvalue()


def test_check_result_with_images_says_when_the_vendor_returned_none(fake: FakeCloudAuth, tmp_path: Path) -> None:
    fake.reply(Reply(body=check_body()))
    code, out, err = run(["check-result", "--merchant-biz-id", "biz1", "--transaction-id", "t1", "--images",
                          "--images-dir", str(tmp_path / "imgs")], fake.env())
    assert code == 0 and jsonutil.loads(out)["images"] == [] and "the vendor returned no images" in err


def test_check_result_skips_an_image_that_does_not_decode_and_says_so(fake: FakeCloudAuth, tmp_path: Path) -> None:
    body = check_body(with_image=True)
    ext_id = jsonutil.loads(body["Result"]["ExtIdInfo"])
    ext_id["idImage"] = "not*base64"
    body["Result"]["ExtIdInfo"] = jsonutil.dumps_str(ext_id)
    fake.reply(Reply(body=body))
    code, out, err = run(["check-result", "--merchant-biz-id", "biz1", "--transaction-id", "t1", "--images",
                          "--images-dir", str(tmp_path / "imgs")], fake.env())
    assert code == 0, err
    assert jsonutil.loads(out)["images"] == [] and "could not be decoded; skipped" in err


@pytest.mark.parametrize("fields", [["languageConfig=en", "languageConfig=fr"], ["=en"], [" =en"]])
def test_a_field_given_twice_or_without_a_name_is_bad_usage(fields: list[str]) -> None:
    with pytest.raises(UsageError):
        kyc.parse_fields(fields)


def test_initialize_over_the_user_s_rate_limit_exits_1_not_as_bad_usage(fake: FakeCloudAuth, tmp_path: Path) -> None:
    env = frontend_env(fake, tmp_path, KYC_RATE_LIMIT_PER_HOUR="1")
    args = ["initialize", "--doc-type", "01000000", "--meta-info", META, "--user", "u"]
    assert run(args, env)[0] == 0
    code, out, err = run(args, env)
    assert (code, out) == (1, "") and "\nerror: RateLimited: " in err


def test_initialize_reads_meta_info_from_standard_input_without_its_newline(
    fake: FakeCloudAuth, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(META + "\n"))
    code, _, err = run(["initialize", "--doc-type", "01000000", "--meta-info", "-", "--user", "u"],
                       frontend_env(fake, tmp_path))
    assert code == 0, err
    assert fake.requests[0].query["MetaInfo"] == META


def test_a_command_s_log_lines_go_to_stderr_and_its_answer_alone_to_stdout(
    fake: FakeCloudAuth, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = kyc.main(["initialize", "--doc-type", "01000000", "--meta-info", META, "--user", "u"],
                    env=frontend_env(fake, tmp_path))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    (answer,) = captured.out.splitlines()
    assert jsonutil.loads(answer)["transactionId"] and '"initialize.created"' in captured.err
