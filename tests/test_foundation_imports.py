"""The foundation layer imports no vendor SDK: checked with ``python -X importtime`` in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

VENDOR_SDKS = ("alibabacloud", "Tea", "aliyunsdkcore", "tablestore", "oss2", "mns", "fc2", "requests", "cryptography")


def imported_modules(statement: str) -> set[str]:
    """Modules loaded by ``statement``: those ``-X importtime`` reports that really ended up in sys.modules
    (importtime also lists failed probes such as ``copy``'s optional ``org.python.core``)."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"{statement}\nimport sys\nprint(' '.join(sys.modules))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    reported = {
        line.rsplit("|", 1)[1].strip()
        for line in completed.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return reported & set(completed.stdout.split())


def test_cloudauth_and_results_import_no_vendor_sdk() -> None:
    modules = imported_modules("import shared.cloudauth, shared.results")
    assert "shared.cloudauth" in modules  # the probe itself works
    leaked = sorted(m for m in modules if m.split(".")[0] in VENDOR_SDKS)
    assert leaked == []


def test_cloudauth_and_results_import_only_the_standard_library() -> None:
    startup = imported_modules("pass")  # site hooks (.pth files, sitecustomize) are the interpreter's, not ours
    modules = imported_modules("import shared.cloudauth, shared.results") - startup
    third_party = {m.split(".")[0] for m in modules} - set(sys.stdlib_module_names) - {"shared"}
    assert third_party == set()


def test_orjson_is_imported_by_the_first_large_document_only() -> None:
    startup = imported_modules("pass")
    small = imported_modules("from shared import jsonutil\njsonutil.loads(b'{\"a\": [1, 2.5, null]}')") - startup
    large = imported_modules("from shared import jsonutil\njsonutil.loads(b'[' + b'1,' * jsonutil.LARGE + b'1]')")
    assert "orjson" not in small
    assert "orjson" in large
