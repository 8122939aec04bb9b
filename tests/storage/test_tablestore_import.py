"""How the Tablestore adapter imports its SDK (``import_tablestore``): each test runs in a fresh interpreter, since
this test session has long imported the whole ``tablestore`` package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A loopback OTS that answers every request 409 OTSConditionCheckFail (an error answer needs no response
# signature) after decoding the request with the SDK's protobuf classes.
SERVER = """\
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
seen = []

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        import tablestore.protobuf.table_store_pb2 as pb2
        body = self.rfile.read(int(self.headers["content-length"]))
        request = pb2.PutRowRequest()
        request.ParseFromString(body)
        seen.append({"path": self.path, "table": request.table_name, "row_bytes": len(request.row),
                     "instance": self.headers.get("x-ots-instancename"),
                     "signed": bool(self.headers.get("x-ots-signature"))})
        error = pb2.Error(code="OTSConditionCheckFail", message="Condition check failed.")
        payload = error.SerializeToString()
        self.send_response(409)
        self.send_header("x-ots-requestid", "req-1")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
"""

STORE = """\
from shared.signing import Credentials
from shared.storage import RecordExists, TablestoreTransactionStore
from shared.storage.records import TransactionRecord
store = TablestoreTransactionStore(
    table="kyc_transactions", endpoint=f"http://127.0.0.1:{server.server_address[1]}", instance="kycinst",
    credentials=Credentials(access_key_id="ak", access_key_secret="sk"), timeout=5)
store._client  # the SDK is imported, and the client built, at the first call that needs them
"""

HEAVY = ("aiohttp", "numpy", "flatbuffers", "crc32c")


def child_output(code: str) -> str:
    """What ``code`` prints, run in a fresh interpreter on the project (which must exit 0)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "ALIBABA_CLOUD_"))}
    env["PYTHONPATH"] = str(ROOT)
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def run_child(code: str) -> Any:
    """The JSON ``code`` prints last."""
    return json.loads(child_output(code).strip().splitlines()[-1])


def test_adapter_loads_neither_the_async_client_nor_the_time_series_codecs() -> None:
    loaded = run_child(SERVER + STORE + f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert loaded == []


def test_adapter_uses_the_sdks_own_classes_loaded_from_its_files() -> None:
    code = SERVER + STORE + """\
import importlib.util, inspect, os
import tablestore
sdk_dir = os.path.dirname(importlib.util.find_spec("tablestore").origin)
objects = {"client": store._client, "row": tablestore.Row([("k", "v")]),
           "condition": tablestore.Condition(tablestore.RowExistenceExpectation.EXPECT_EXIST),
           "single": store._eq("status", "PENDING")}
print(json.dumps({name: [type(o).__module__, type(o).__name__, inspect.getfile(type(o)).startswith(sdk_dir)]
                  for name, o in objects.items()}))
"""
    classes = run_child(code)
    assert classes == {
        "client": ["tablestore.client", "OTSClient", True],
        "row": ["tablestore.metadata", "Row", True],
        "condition": ["tablestore.metadata", "Condition", True],
        "single": ["tablestore.metadata", "SingleColumnCondition", True],
    }


def test_a_conditional_put_goes_over_the_wire_and_its_refusal_comes_back_as_record_exists() -> None:
    code = SERVER + STORE + """\
record = TransactionRecord(merchant_biz_id="biz1", transaction_id="hksb1", merchant_user_id="u-hash",
                           doc_type="01000000", scene_code="scene1", created_at=1.0, updated_at=1.0)
try:
    store.create(record)
    outcome = "created"
except RecordExists:
    outcome = "RecordExists"
print(json.dumps({"outcome": outcome, "seen": seen}))
"""
    answer = run_child(code)
    assert answer["outcome"] == "RecordExists"
    assert len(answer["seen"]) == 1
    request = answer["seen"][0]
    assert request["path"] == "/PutRow"
    assert request["table"] == "kyc_transactions"
    assert request["instance"] == "kycinst"
    assert request["signed"] is True
    assert request["row_bytes"] > 0


def test_placeholders_are_gone_after_the_import_so_the_real_module_loads_later() -> None:
    code = SERVER + STORE + """\
import aiohttp
print(json.dumps([type(aiohttp).__name__, aiohttp.ClientSession.__module__]))
"""
    assert run_child(code) == ["module", "aiohttp.client"]


DEFERRED = ("asyncio", "google.protobuf.text_format")
# One PutRow over the wire (refused: the loopback OTS answers every request with a failed condition).
ROUND_TRIP = """\
record = TransactionRecord(merchant_biz_id="biz1", transaction_id="hksb1", merchant_user_id="u-hash",
                           doc_type="01000000", scene_code="scene1", created_at=1.0, updated_at=1.0)
try:
    store.create(record)
except RecordExists:
    pass
"""


def test_the_sdk_s_import_leaves_asyncio_and_protobuf_s_text_format_unloaded() -> None:
    """What the sync client's calls never use (the async client's sleep, DEBUG lines of whole messages): ~18 ms
    of the SDK's import, which every new instance's first store call pays (docs/performance.md, "Phase 8")."""
    code = SERVER + STORE + ROUND_TRIP + f"print(json.dumps([m for m in {DEFERRED!r} if m in sys.modules]))"
    assert run_child(code) == []


def test_the_sdk_s_debug_lines_of_whole_messages_still_print_through_the_deferred_text_format() -> None:
    """The adapter silences the SDK's logger (``quiet_sdk_logger``: it never formats a message); one turned back on
    by hand still works, the deferred module loading the real one."""
    code = SERVER + STORE + """\
import logging
store._client.logger.addHandler(logging.StreamHandler(sys.stdout))
store._client.logger.setLevel(logging.DEBUG)
""" + ROUND_TRIP + """\
import google.protobuf.text_format as real
print(json.dumps([type(real).__name__, hasattr(real, "MessageToString"), "google.protobuf.text_format" in sys.modules]))
"""
    output = child_output(code)
    assert "Protobuf: table_name: \"kyc_transactions\"" in output, output[-2000:]
    assert json.loads(output.strip().splitlines()[-1]) == ["module", True, True]


def test_the_async_client_s_asyncio_is_the_real_module_once_used() -> None:
    code = SERVER + STORE + """\
import tablestore.client
sleep = tablestore.client.asyncio.sleep
import asyncio
print(json.dumps([sleep is asyncio.sleep, type(sys.modules["asyncio"]).__name__, asyncio.run(asyncio.sleep(0, 7))]))
"""
    assert run_child(code) == [True, "module", 7]


def test_the_async_client_fails_loudly_instead_of_misbehaving() -> None:
    code = SERVER + STORE + """\
import tablestore.connection
try:
    tablestore.connection.aiohttp.ClientSession()
    print(json.dumps("no error"))
except RuntimeError as exc:
    print(json.dumps(str(exc)))
"""
    assert "aiohttp.ClientSession is not loaded" in run_child(code)


def test_oss_adapter_builds_the_sdk_client_without_client_side_encryption() -> None:
    code = """\
import json, sys
from shared.signing import Credentials
from shared.storage import OssObjectStore
store = OssObjectStore(bucket="b", region="cn-hongkong", credentials=Credentials(access_key_id="ak",
                       access_key_secret="sk"), endpoint="http://127.0.0.1:9")
store._client  # the SDK is imported, and the client built, at the first call that needs them
import alibabacloud_oss_v2.crypto  # blocked only during the SDK's own import
print(json.dumps([type(store._client).__module__, "alibabacloud_oss_v2.crypto" in sys.modules,
                  hasattr(sys.modules["alibabacloud_oss_v2"], "EncryptionClient")]))
"""
    assert run_child(code) == ["alibabacloud_oss_v2.client", True, False]


# The SDK logs at import that its native C++ codecs are unavailable (they are built for CPython 3.12 only); with no
# logging configured, Python's last-resort handler prints those WARNING records to stderr.
IMPORT_ONLY = """\
import json, logging
from shared.storage.tablestore_sdk import import_tablestore
import_tablestore()
import tablestore.encoder
{after}
print(json.dumps(tablestore.encoder.NATIVE_ENCODER_AVAILABLE))
"""


def run_child_stderr(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "ALIBABA_CLOUD_"))}
    env["PYTHONPATH"] = str(ROOT)
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    if json.loads(run.stdout.strip().splitlines()[-1]):
        pytest.skip("the SDK's native codecs load on this interpreter: it has no notice to print")
    return run.stderr


def test_the_sdk_s_notice_that_its_native_codecs_are_unavailable_is_not_printed() -> None:
    assert "Native" not in run_child_stderr(IMPORT_ONLY.format(after=""))


def test_the_sdk_s_other_warnings_are_still_printed() -> None:
    after = 'logging.getLogger("tablestore.encoder").warning("Native encode_put_row failed, falling back to Python")'
    stderr = run_child_stderr(IMPORT_ONLY.format(after=after))
    assert "Native encode_put_row failed, falling back to Python" in stderr.splitlines()


def test_from_python_3_12_asyncio_is_not_deferred_since_every_log_record_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by review au: on 3.12 logging's LogRecord asks ``sys.modules["asyncio"]`` for the current task, so the
    SDK's own import-time notice loaded the placeholder's real module mid-import (and the 3.12 package's
    verification saw asyncio load in the trimmed build only)."""
    import logging

    from shared.storage import tablestore_sdk

    monkeypatch.setattr(logging, "logAsyncioTasks", True, raising=False)
    assert tablestore_sdk._deferrable() == ("google.protobuf.text_format",)
    monkeypatch.setattr(logging, "logAsyncioTasks", False, raising=False)
    assert tablestore_sdk._deferrable() == ("asyncio", "google.protobuf.text_format")


def test_a_deferred_module_first_used_by_two_threads_at_once_loads_one_copy_of_the_real_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by review au: the first use checked and deleted the placeholder's ``sys.modules`` entry unlocked, so a
    second thread's whole first use between the two left two copies of the module. The interleaving is forced with
    a line trace: at this thread's ``del``, the other thread's first use is started and given half a second."""
    import importlib
    import threading
    import types

    from shared.storage import tablestore_sdk

    name = "review_au_fake_module"
    executed: list[types.ModuleType] = []

    def import_module(wanted: str) -> types.ModuleType:  # importlib.import_module's behaviour for a plain module
        if wanted in sys.modules:
            return sys.modules[wanted]
        module = types.ModuleType(wanted)
        module.Error = type("Error", (Exception,), {})  # type: ignore[attr-defined]
        executed.append(module)
        sys.modules[wanted] = module
        return module

    monkeypatch.setattr(importlib, "import_module", import_module)
    placeholder = tablestore_sdk._DeferredModule(name)
    monkeypatch.setitem(sys.modules, name, placeholder)
    code = tablestore_sdk._DeferredModule.__getattr__.__code__
    source = Path(code.co_filename).read_text(encoding="utf-8").splitlines()
    del_line = next(n for n in range(code.co_firstlineno, len(source) + 1)
                    if source[n - 1].strip().startswith("del sys.modules"))  # fmt: skip
    seen_by_other: list[object] = []
    worker = threading.Thread(target=lambda: seen_by_other.append(placeholder.Error))

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code is not code:
            return None

        def local(frame: Any, event: str, arg: Any) -> Any:
            if event == "line" and frame.f_lineno == del_line and not worker.is_alive() and not seen_by_other:
                sys.settrace(None)
                frame.f_trace = None
                worker.start()
                worker.join(timeout=0.5)  # unlocked, the other first use runs to its end here
            return local

        return local

    sys.settrace(tracer)
    try:
        mine = placeholder.Error
    finally:
        sys.settrace(None)
    worker.join(timeout=10)
    assert len(executed) == 1, f"the real module was executed {len(executed)} times: two copies in one process"
    assert mine is seen_by_other[0]
