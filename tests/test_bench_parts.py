"""The benchmark's parts that decide what is measured: the unpacked packages, the cold-start command, the import-time
summary and the warm-CPU floors. No timings are asserted (the machine is shared); only what runs and what is counted.
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
from pathlib import Path

import pytest

from tools.bench import cold, deployed, floors, importtime
from tools.bench.proc import ROOT, measure_output, measure_ready
from tools.deployment import function_folders

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       130 |        130 |     _codecs
import time:      1000 |       1500 |   json.decoder
import time:       400 |       1900 | json
import time:      2000 |       2000 |   shared.storage.records
import time:       500 |       2500 | shared.storage
import time:      3000 |       3000 | orjson
some other line on stderr
"""


def test_importtime_lines_are_parsed_and_other_stderr_lines_ignored() -> None:
    entries = importtime.parse(IMPORTTIME)
    assert [e.module for e in entries] == ["_codecs", "json.decoder", "json", "shared.storage.records",
                                           "shared.storage", "orjson"]
    assert entries[1] == importtime.Entry("json.decoder", 1000, 1500)


def test_the_summary_leaves_out_what_the_floor_imports_and_groups_shared_by_subpackage() -> None:
    floor = importtime.parse("import time:       400 |       1900 | json\nimport time:  1000 | 1500 |   json.decoder\n")
    summary = importtime.summary([importtime.parse(IMPORTTIME)], importtime.modules_of([floor]))
    assert summary["self_ms"] == pytest.approx((130 + 2000 + 500 + 3000) / 1000)
    assert summary["owners"][0] == {"owner": "orjson", "self_ms": 3.0}
    assert {"owner": "shared.storage", "self_ms": 2.5} in summary["owners"]
    assert [m["module"] for m in summary["modules_top"]][:2] == ["orjson", "shared.storage.records"]


def test_runs_are_combined_by_the_median_of_each_module_counting_absence_as_zero() -> None:
    runs = [importtime.parse("import time: 100 | 100 | a\n"), importtime.parse("import time: 300 | 300 | a\n"),
            importtime.parse("import time: 50 | 50 | b\n")]
    assert importtime.combine(runs) == {"a": (100, 100), "b": (0, 0)}


def _check_result(image: str) -> bytes:
    id_info = {"ocrIdInfo": json.dumps({"name": "x"}), "idImage": image, "spoofInfo": {"spoofResult": "N"}}
    result = {"Passed": "Y", "ExtIdInfo": json.dumps(id_info), "ExtFaceInfo": json.dumps({"faceImg": image})}
    return json.dumps({"RequestId": "r", "Result": result}).encode()


def test_the_fetcher_floor_decodes_the_images_nested_in_the_vendors_json_strings() -> None:
    good = base64.b64encode(b"\xff\xd8\xff" + bytes(300)).decode()
    floors.result_fetcher(_check_result(good))()  # decodes
    with pytest.raises(ValueError):  # a floor that skipped the images would not notice a broken one
        floors.result_fetcher(_check_result(good[:-5] + "!!!!!"))()


def test_the_notifier_floor_is_the_standard_webhooks_signature_of_the_body() -> None:
    from shared.webhooks import WebhookSecret, sign

    secret = WebhookSecret.parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = json.dumps({"type": "verification.completed", "data": {"status": "PASSED"}}).encode()
    signature = floors.notifier_delivery(secret.key, "msg_1", 1700000000, body)()
    assert isinstance(signature, bytes)
    assert f"v1,{signature.decode()}" == sign(secret, "msg_1", 1700000000, body)


def test_floors_are_timed_over_enough_calls_to_be_measurable() -> None:
    calls = []
    per_call = floors.cpu_per_call(lambda: calls.append(1), min_seconds=0.001)
    assert len(calls) > 1 and per_call > 0


def _fake_build(tmp_path: Path) -> Path:
    build = tmp_path / "build"
    for function in function_folders():
        shutil.copytree(ROOT / "shared", build / function / "shared",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copy2(ROOT / "functions" / function / "index.py", build / function / "index.py")
    (build / deployed.REPORT).write_text("{}", encoding="utf-8")
    return build


def test_a_build_of_the_working_trees_code_is_current(tmp_path: Path) -> None:
    assert deployed.stale_reason(_fake_build(tmp_path)) is None


def test_a_build_is_stale_when_shared_or_a_function_changed_or_the_report_is_missing(tmp_path: Path) -> None:
    build = _fake_build(tmp_path)
    (build / "notifier" / "shared" / "ids.py").write_text("# older\n", encoding="utf-8")
    assert deployed.stale_reason(build) == "notifier: shared/ differs from the working tree"
    build = _fake_build(tmp_path / "again")
    (build / "sweeper" / "index.py").write_text("# older\n", encoding="utf-8")
    assert deployed.stale_reason(build) == "sweeper: functions/sweeper differs from the working tree"
    (build / deployed.REPORT).unlink()
    assert "package-report.json" in str(deployed.stale_reason(build))


def test_unpacking_zips_the_folder_and_extracts_every_file_into_an_empty_one(tmp_path: Path) -> None:
    source = tmp_path / "fn"
    (source / "__pycache__").mkdir(parents=True)
    (source / "index.py").write_text("x = 1\n", encoding="utf-8")
    (source / "__pycache__" / "index.cpython-310.pyc").write_bytes(b"\x00" * 40)
    zipped, unzipped, _ = deployed.unpack(source, tmp_path / "code", tmp_path)
    assert unzipped == 46 and zipped > 0
    assert (tmp_path / "code" / "__pycache__" / "index.cpython-310.pyc").read_bytes() == b"\x00" * 40
    assert not list(tmp_path.glob("*.zip"))
    with pytest.raises(FileExistsError):  # never into a folder that exists (it could hold older files)
        deployed.unpack(source, tmp_path / "code", tmp_path)


def _handler_command(folder: Path) -> list[str]:
    source = cold.handler_source(str(folder))
    return [sys.executable, *cold.FLAGS, "-c", source]


def test_the_cold_start_command_reports_its_import_and_initialize_phases(tmp_path: Path) -> None:
    (tmp_path / "index.py").write_text("def handler(e, c):\n    return 1\n\ndef initialize(c):\n    pass\n")
    _, _, stderr = measure_output(_handler_command(tmp_path), {"PATH": "/usr/bin:/bin"})
    imported, initialized = cold._phases(stderr)
    assert imported > 0 and initialized >= 0


def test_a_cold_start_is_timed_to_when_it_is_ready_not_to_its_exit(tmp_path: Path) -> None:
    # An interpreter's exit (finalising modules, closing files) is not on an FC instance's path to its first request.
    (tmp_path / "index.py").write_text("import atexit, time\n\natexit.register(time.sleep, 0.3)\n\n"
                                       "def initialize(c):\n    pass\n")
    ready, to_exit, _, _ = measure_ready(_handler_command(tmp_path), {"PATH": "/usr/bin:/bin"})
    assert 0 < ready < to_exit - 0.25


@pytest.mark.parametrize("call", ["socket.create_connection(('127.0.0.1', 9))",
                                  "socket.getaddrinfo('bench.cn-hongkong.ots.aliyuncs.com', 443)",
                                  "socket.socket().connect(('127.0.0.1', 9))"])
def test_a_cold_start_that_touches_the_network_fails_the_benchmark(tmp_path: Path, call: str) -> None:
    (tmp_path / "index.py").write_text(f"import socket\n\ndef handler(e, c):\n    return 1\n\n"
                                       f"def initialize(c):\n    {call}\n")
    with pytest.raises(RuntimeError, match="tried to use the network"):
        measure_output(_handler_command(tmp_path), {"PATH": "/usr/bin:/bin"})


def test_the_zip_is_deflated_as_a_deployment_tool_uploads_it(tmp_path: Path) -> None:
    source = tmp_path / "fn"
    source.mkdir()
    (source / "index.py").write_text("x = 1\n" * 1000, encoding="utf-8")
    zipped, unzipped, _ = deployed.unpack(source, tmp_path / "code", tmp_path)
    assert zipped < unzipped / 10


def test_doc_results_are_replaced_between_the_markers_only(tmp_path: Path) -> None:
    from tools.bench import run

    doc = tmp_path / "performance.md"
    doc.write_text(f"# Method\n\n{run.DOC_BEGIN}\nold tables\n{run.DOC_END}\n\n## Why\n", encoding="utf-8")
    results = {"smoke": False, "checks": [{"ok": True}, {"ok": False}], "seconds": 100.0}
    run.write_doc(doc, "| new | tables |", results)
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Method\n") and text.endswith("\n\n## Why\n")
    assert "| new | tables |" in text and "old tables" not in text and "1/2 targets met" in text
    doc.write_text("no markers", encoding="utf-8")
    with pytest.raises(SystemExit):
        run.write_doc(doc, "x", results)
