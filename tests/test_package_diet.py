"""tools/package/diet.py: what a function ships, decided from traces.

The services the package scenarios run against are the project's wire-level doubles (tools/doubles), whose codecs
and signatures are checked against the SDKs in tests/doubles/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools.package import diet
from tools.package.diet import Distribution

ROOT = Path(__file__).resolve().parents[1]


def dists() -> dict[str, Distribution]:
    return {
        "tablestore": Distribution("tablestore", "6.4.8", "Aliyun TableStore(OTS) SDK", ["numpy", "six"],
                                   ["tablestore/__init__.py", "tablestore/ots_sdk/ots_sdk.so",
                                    "tablestore/native/fast.so", "tablestore-6.4.8.dist-info/METADATA"]),
        "six": Distribution("six", "1.17.0", "Python 2 and 3 compatibility utilities", [], ["six.py"]),
        "numpy": Distribution("numpy", "2.2.6", "Fundamental package", [], ["numpy/__init__.py"]),
        "orjson": Distribution("orjson", "3.13.0", "Fast JSON", [], ["orjson/__init__.py"]),
        "certifi": Distribution("certifi", "2026.1", "CA Bundle", [], ["certifi/__init__.py", "certifi/cacert.pem"]),
    }  # fmt: skip


def trace(loaded: dict[str, str], failed: dict[str, str | None] | None = None, opened: list[str] | None = None,
          importers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"loaded": loaded, "failed": failed or {}, "opened": opened or [], "importers": importers or {}}


def test_a_distribution_imported_on_any_backend_is_shipped_with_the_backends_that_imported_it() -> None:
    traces = {
        "local": trace({"orjson": "orjson/__init__.py", "index": "index.py"}),
        "aliyun": trace({"orjson": "orjson/__init__.py", "tablestore": "tablestore/__init__.py", "six": "six.py"}),
    }
    plan = diet.plan("f", dists(), traces, python="3.10")
    assert plan.shipped == {"orjson": ["local", "aliyun"], "tablestore": ["aliyun"], "six": ["aliyun"]}


def test_a_distribution_no_run_imported_is_not_shipped_even_when_another_one_requires_it() -> None:
    plan = diet.plan("f", dists(), {"aliyun": trace({"tablestore": "tablestore/__init__.py"})}, python="3.10")
    assert "numpy" in plan.not_shipped  # tablestore's Requires-Dist names numpy; no path imports it
    assert "numpy/__init__.py" not in plan.files(dists())


def test_a_data_file_opened_at_run_time_ships_its_distribution() -> None:
    plan = diet.plan("f", dists(), {"aliyun": trace({}, opened=["certifi/cacert.pem"])}, python="3.10")
    assert "certifi" in plan.shipped


def test_an_extension_that_failed_to_load_in_every_run_is_left_out_and_the_rest_of_its_distribution_ships(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(diet, "LEFT_OUT", {})  # the rule on its own (tablestore's native codec is left out anyway)
    failed = {"tablestore.ots_sdk.ots_sdk": "tablestore/ots_sdk/ots_sdk.so", "socks": None}
    traces = {"aliyun": trace({"tablestore": "tablestore/__init__.py"}, failed)}
    plan = diet.plan("f", dists(), traces, python="3.10")
    assert list(plan.dropped_files) == ["tablestore/ots_sdk/ots_sdk.so"]
    assert "Python 3.10" in plan.dropped_files["tablestore/ots_sdk/ots_sdk.so"]
    files = plan.files(dists())
    assert "tablestore/ots_sdk/ots_sdk.so" not in files
    assert {"tablestore/__init__.py", "tablestore/native/fast.so", "tablestore-6.4.8.dist-info/METADATA"} <= set(files)


def test_an_extension_that_loaded_in_some_run_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diet, "LEFT_OUT", {})
    failed = {"tablestore.native.fast": "tablestore/native/fast.so"}
    traces = {
        "one": trace({"tablestore": "tablestore/__init__.py"}, failed),
        "two": trace({"tablestore": "tablestore/__init__.py", "tablestore.native.fast": "tablestore/native/fast.so"}),
    }
    assert diet.plan("f", dists(), traces, python="3.10").dropped_files == {}


def test_a_file_left_out_on_purpose_is_dropped_even_where_it_loads() -> None:
    """tablestore's native codec loads on CPython 3.12 (review: 13.7 MB, a 3.12 package over the budget)."""
    loaded = {"tablestore": "tablestore/__init__.py", "ots_sdk": "tablestore/ots_sdk/ots_sdk.so"}
    plan = diet.plan("f", dists(), {"aliyun": trace(loaded)}, python="3.12")
    assert plan.dropped_files["tablestore/ots_sdk/ots_sdk.so"].startswith("left out: tablestore's optional native")
    assert "tablestore/ots_sdk/ots_sdk.so" not in plan.files(dists())
    assert "tablestore/native/fast.so" in plan.files(dists())


def test_a_file_left_out_on_purpose_names_no_distribution_a_function_does_not_ship() -> None:
    plan = diet.plan("f", dists(), {"local": trace({"orjson": "orjson/__init__.py"})}, python="3.12")
    assert plan.dropped_files == {}


def test_every_file_left_out_on_purpose_is_in_the_pinned_sdk() -> None:
    """An SDK upgrade that moves the file would ship it again silently (and the 3.12 build would grow by 14 MB)."""
    import tablestore

    site = Path(tablestore.__file__).resolve().parents[1]
    assert [path for path in diet.LEFT_OUT if not (site / path).is_file()] == []


def test_a_pure_python_module_that_failed_to_import_is_not_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diet, "LEFT_OUT", {})
    traces = {"aliyun": trace({"tablestore": "tablestore/__init__.py"}, {"tablestore.x": "tablestore/__init__.py"})}
    assert diet.plan("f", dists(), traces, python="3.10").dropped_files == {}


def test_a_pure_python_module_that_failed_to_import_in_every_run_still_ships(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a compiled extension is dead weight when its import fails: a .py file may fail for a reason of the run
    (an optional dependency absent) and load on another path."""
    monkeypatch.setattr(diet, "LEFT_OUT", {})
    installed = {"sdk": Distribution("sdk", "1", "", [], ["sdk/__init__.py", "sdk/optional.py"])}
    traces = {"aliyun": trace({"sdk": "sdk/__init__.py"}, {"sdk.optional": "sdk/optional.py"})}
    plan = diet.plan("f", installed, traces, python="3.10")
    assert plan.dropped_files == {}
    assert "sdk/optional.py" in plan.files(installed)


def test_the_allow_list_ships_a_distribution_no_run_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diet, "ALLOW_LIST", {"six": ("shared.x", "imported only when ... (no scenario reaches it)")})
    loaded = {"orjson": "orjson/__init__.py", "shared.x": "shared/x.py"}
    plan = diet.plan("f", dists(), {"local": trace(loaded)}, python="3.10")
    assert plan.shipped["six"] == ["allow-list"]
    reason = diet.why("six", plan.shipped, dists(), set(), {})
    assert reason.startswith("allow-list: imported only when")


def test_the_allow_list_ships_nothing_to_a_function_that_never_loads_its_importer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pybase64 is imported by shared.results.images only: the initializer and the notifier never load it."""
    monkeypatch.setattr(diet, "ALLOW_LIST", {"six": ("shared.x", "imported only when ...")})
    plan = diet.plan("f", dists(), {"local": trace({"orjson": "orjson/__init__.py"})}, python="3.10")
    assert "six" not in plan.shipped


def test_each_allow_listed_distribution_names_a_module_of_ours_that_imports_it() -> None:
    for distribution, (importer, _) in diet.ALLOW_LIST.items():
        source = (ROOT / (importer.replace(".", "/") + ".py")).read_text(encoding="utf-8")
        assert f"import {distribution}" in source, (distribution, importer)


def test_what_a_distribution_is_for_names_who_requires_and_who_imports_it() -> None:
    shipped = {"tablestore": ["aliyun"], "six": ["aliyun"]}
    traces = [trace({"tablestore": "tablestore/__init__.py", "six": "six.py"},
                    importers={"tablestore": "shared/storage/tablestore_store.py", "six": "tablestore/auth.py"})]
    imported_by = diet.importers(dists(), traces)
    assert diet.why("tablestore", shipped, dists(), {"tablestore"}, imported_by) == (
        "requirements.txt; imported by shared/storage/tablestore_store.py (Aliyun TableStore(OTS) SDK)"
    )
    assert diet.why("six", shipped, dists(), {"tablestore"}, imported_by) == (
        "needed by tablestore; imported by tablestore/auth.py (Python 2 and 3 compatibility utilities)"
    )


def test_the_inventory_lists_each_distributions_files_from_its_record(tmp_path: Path) -> None:
    info = tmp_path / "Demo_Pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: Demo_Pkg\nVersion: 1.0\nSummary: A demo.\nRequires-Dist: six>=1\n"
        "Requires-Dist: pytest ; extra == 'test'\n\nLong description: Name: not a header\n", encoding="utf-8")
    (info / "RECORD").write_text("demo/__init__.py,sha256=x,1\nDemo_Pkg-1.0.dist-info/METADATA,,\n"
                                 "../../bin/demo,,\n", encoding="utf-8")
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "__init__.py").write_text("", encoding="utf-8")
    found = diet.existing(diet.inventory(tmp_path), tmp_path)
    assert found == {"demo-pkg": Distribution("demo-pkg", "1.0", "A demo.", ["six"],
                                              ["Demo_Pkg-1.0.dist-info/METADATA", "demo/__init__.py"])}


def test_requirement_names_are_read_from_requirements_txt(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("# comment\norjson==3.13.0\nalibabacloud_oss.v2==1.4.1  # why\n-r other.txt\n", encoding="utf-8")
    assert diet.requirement_names(path) == {"orjson", "alibabacloud-oss-v2"}


def test_shipped_code_importing_a_distribution_that_is_not_shipped_is_reported(tmp_path: Path) -> None:
    files = {
        "sdk/__init__.py": "import six\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import numpy\n",
        "sdk/lazy.py": "def f():\n    import numpy.linalg\n    from . import other\n",
        "sdk/typed.py": "import typing\nif typing.TYPE_CHECKING:\n    import orjson\nelse:\n    import certifi\n",
        "six.py": "", "numpy/__init__.py": "", "orjson/__init__.py": "", "certifi/__init__.py": "",
    }  # fmt: skip
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    installed = {
        "sdk": Distribution("sdk", "1", "", [], ["sdk/__init__.py", "sdk/lazy.py", "sdk/typed.py"]),
        "six": Distribution("six", "1", "", [], ["six.py"]),
        "numpy": Distribution("numpy", "1", "", [], ["numpy/__init__.py"]),
        "orjson": Distribution("orjson", "1", "", [], ["orjson/__init__.py"]),
        "certifi": Distribution("certifi", "1", "", [], ["certifi/__init__.py"]),
    }
    assert diet.references(installed, tmp_path, ["sdk", "six"]) == {
        "certifi": ["sdk/typed.py"],  # the else branch of a TYPE_CHECKING test runs
        "numpy": ["sdk/lazy.py"],  # imported inside a function: still a reference
    }


def test_our_own_code_importing_a_distribution_that_is_not_shipped_is_reported(tmp_path: Path) -> None:
    (tmp_path / "orjson").mkdir()
    (tmp_path / "orjson" / "__init__.py").write_text("", encoding="utf-8")
    installed = {"orjson": Distribution("orjson", "1", "", [], ["orjson/__init__.py"])}
    own_code = {"shared/jsonutil.py": b"def large(data):\n    import orjson\n    return orjson.loads(data)\n"}
    assert diet.references(installed, tmp_path, [], own_code) == {"orjson": ["shared/jsonutil.py"]}
    assert diet.references(installed, tmp_path, ["orjson"], own_code) == {}



def _package_module() -> Any:
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import _package
    finally:
        sys.path.pop(0)
    return _package


def _compare(full_modules: list[str], trimmed_modules: list[str], left_out: set[str]) -> list[str]:
    from tools.package.exercise import Run

    full = [Run("f", "aliyun", trace={"modules": full_modules})]
    trimmed = [Run("f", "aliyun", trace={"modules": trimmed_modules})]
    problems: list[str] = _package_module().compare(full, trimmed, left_out=left_out)
    return problems


def test_the_verification_lets_only_a_left_out_module_go_missing() -> None:
    assert _compare(["tablestore", "ots_sdk"], ["tablestore"], left_out={"ots_sdk"}) == []
    problems = _compare(["tablestore", "ots_sdk", "six"], ["tablestore"], left_out={"ots_sdk"})
    assert problems == ["aliyun: modules the full build loaded are missing: six"]


def test_the_verification_reports_a_trimmed_build_that_does_not_import() -> None:
    from tools.package.exercise import Run

    full = [Run("f", "aliyun", trace={"modules": ["index", "six"]})]
    trimmed = [Run("f", "aliyun", import_error="ModuleNotFoundError: No module named 'six'")]
    assert _package_module().compare(full, trimmed) == [
        "aliyun: does not import: ModuleNotFoundError: No module named 'six'"]


def test_the_verification_reports_modules_only_the_trimmed_build_loaded() -> None:
    problems = _compare(["tablestore"], ["tablestore", "tablestore.fallback"], left_out=set())
    assert problems == ["aliyun: modules only the trimmed build loaded: tablestore.fallback"]


def test_the_verification_names_the_import_error_that_stopped_the_trimmed_runs() -> None:
    """exercise() stops at the first backend whose handler does not import: the trimmed build has fewer runs."""
    from tools.package.exercise import Run

    full = [Run("f", "local", trace={"modules": ["index", "six"]}), Run("f", "aliyun", trace={"modules": ["index"]})]
    trimmed = [Run("f", "local", import_error="ModuleNotFoundError: No module named 'six'")]
    assert _package_module().compare(full, trimmed) == [
        "local: does not import: ModuleNotFoundError: No module named 'six'"]


@pytest.mark.parametrize("platform", ["manylinux2014_x86_64", "manylinux_2_17_x86_64"])
def test_an_extension_built_for_another_python_fails_the_abi_check(tmp_path: Path, platform: str) -> None:
    """Both spellings pip takes for FC's x86_64 Linux: the legacy manylinux2014 tag and PEP 600's."""
    (tmp_path / "orjson").mkdir()
    (tmp_path / "orjson" / "orjson.cpython-312-x86_64-linux-gnu.so").write_bytes(b"")
    package = _package_module()
    with pytest.raises(package.PackageError, match=r"not built for Python 3\.10"):
        package.check_abi(tmp_path, "3.10", platform)
    package.check_abi(tmp_path, "3.12", platform)


def test_a_relative_import_is_no_reference_to_a_distribution_of_that_name(tmp_path: Path) -> None:
    (tmp_path / "sdk").mkdir()
    (tmp_path / "sdk" / "__init__.py").write_text("from .six import moves\n", encoding="utf-8")
    (tmp_path / "sdk" / "six.py").write_text("moves = 1\n", encoding="utf-8")
    (tmp_path / "six.py").write_text("", encoding="utf-8")
    installed = {"sdk": Distribution("sdk", "1", "", [], ["sdk/__init__.py", "sdk/six.py"]),
                 "six": Distribution("six", "1", "", [], ["six.py"])}
    assert diet.references(installed, tmp_path, ["sdk"]) == {}


def test_a_top_level_extension_module_is_a_distribution_shipped_code_can_import(tmp_path: Path) -> None:
    (tmp_path / "sdk").mkdir()
    (tmp_path / "sdk" / "__init__.py").write_text("import _fast\n", encoding="utf-8")
    installed = {"sdk": Distribution("sdk", "1", "", [], ["sdk/__init__.py"]),
                 "fast": Distribution("fast", "1", "", [], ["_fast.cpython-310-x86_64-linux-gnu.so"])}
    assert diet.references(installed, tmp_path, ["sdk"]) == {"fast": ["sdk/__init__.py"]}


def test_the_inventory_leaves_out_record_entries_outside_the_dependency_folder(tmp_path: Path) -> None:
    info = tmp_path / "demo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Name: demo\nVersion: 1.0\n", encoding="utf-8")
    (info / "RECORD").write_text("demo.py,,\n../../bin/demo,,\n/usr/bin/demo,,\n", encoding="utf-8")
    assert diet.inventory(tmp_path)["demo"].files == ["demo.py"]


def test_metadata_headers_end_at_the_first_blank_line(tmp_path: Path) -> None:
    info = tmp_path / "demo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Name: demo\nVersion: 1.0\n\nUsage:\nRequires-Dist: numpy\n", encoding="utf-8")
    (info / "RECORD").write_text("demo.py,,\n", encoding="utf-8")
    assert diet.inventory(tmp_path)["demo"].requires == []


def test_a_namespace_package_is_credited_to_the_distribution_of_its_modules() -> None:
    installed = {"protobuf": Distribution("protobuf", "5", "", [], ["google/protobuf/__init__.py"])}
    traces = [trace({"google": "google", "google.protobuf": "google/protobuf/__init__.py"},
                    importers={"google": "tablestore/protobuf/search_pb2.py"})]
    assert diet.importers(installed, traces) == {"protobuf": {"tablestore/protobuf/search_pb2.py"}}
