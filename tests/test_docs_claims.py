"""Claims the documentation makes that the code can check (found by review zz; tests/test_config_docs.py checks the
settings, tests/test_security_doc.py the threat model)."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from shared.handlers.result_fetcher import CALLBACK_MAX_EVENT_BYTES, ResultFetcherApp
from tests.conftest import ROOT
from tests.fakes import FakeCloudAuth, Stack
from tools.ops.kyc import build_parser


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.close()


def _kyc_usages(text: str, command: str) -> list[str]:
    """Every inline `kyc <command> ...` (or `./scripts/kyc ...`) of ``text`` that gives the command arguments."""
    found = re.findall(rf"`(?:\./scripts/)?kyc ({re.escape(command)} [^`]+)`", text)
    return sorted(set(found))


def test_every_check_result_usage_operations_md_shows_is_one_the_cli_accepts() -> None:
    """docs/operations.md's table of ERROR lines tells the operator, for `fetch.unparseable_result`: "`kyc
    check-result <id>` shows what the vendor holds". Each such usage must parse as the CLI defines the command."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    usages = _kyc_usages(text, "check-result")
    assert usages, "no check-result usage found in docs/operations.md"
    refused = []
    for usage in usages:
        argv = shlex.split(re.sub(r"<[^>]*>", "X1", usage).replace("[", "").replace("]", ""))
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                build_parser().parse_args(argv)
        except SystemExit as exc:
            if exc.code:
                refused.append(f"`kyc {usage}`: {stderr.getvalue().strip().splitlines()[-1]}")
    assert refused == [], "docs/operations.md shows usages the CLI refuses:\n" + "\n".join(refused)


def test_openapi_says_the_callback_answers_a_bad_token_as_an_unknown_verification() -> None:
    """The callback answers a wrong or missing token 404, as an unknown id (review bb); openapi.yaml said 403
    ``InvalidCallbackToken`` (review bd)."""
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    for route in ("/callback/{merchantBizId}", "/callback"):
        responses = spec["paths"][route]["get"]["responses"]
        assert "InvalidCallbackToken" not in responses["403"]["description"], route
        assert "token" in responses["404"]["description"], route


def test_openapi_lists_the_413_the_callback_answers_to_an_oversized_request(stack: Stack) -> None:
    """openapi.yaml describes the HTTP surface "exactly as implemented": the callback answers 413 to a request
    larger than it takes (`CALLBACK_MAX_EVENT_BYTES`, `CALLBACK_MAX_BODY_BYTES`), so its responses list 413."""
    path = "/callback/abc"
    event = {
        "version": "v1", "rawPath": path, "isBase64Encoded": False, "headers": {},
        "body": "x" * (CALLBACK_MAX_EVENT_BYTES + 1),
        "requestContext": {"http": {"method": "GET", "path": path, "sourceIp": "203.0.113.7"}},
    }  # fmt: skip
    answer = ResultFetcherApp(stack.fetcher(FakeCloudAuth())).handle(event, None)
    assert answer["statusCode"] == 413
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    for route in ("/callback/{merchantBizId}", "/callback"):
        documented = sorted(spec["paths"][route]["get"]["responses"])
        assert "413" in documented, f"openapi.yaml {route} GET lists {documented}; the callback answered 413"


def test_the_readme_counts_the_identity_fields_the_local_stack_selects_as_many_as_it_selects() -> None:
    from tools.devstack.dev import EXPLORING

    numbers = {6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}
    selected = EXPLORING["KYC_API_IDENTITY_FIELDS"].split(",")
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").replace("#", " ").split())
    assert f"./scripts/dev selects {numbers[len(selected)]} for its demo page" in readme


def test_no_doc_runs_serverless_devs_on_one_resource_whose_props_read_the_stacks_outputs() -> None:
    """A command naming one resource (`s initializer deploy`) runs that resource alone, and Serverless Devs refuses
    its ``${resources.kyc-infra.output.…}`` (an output of a resource not run): docs/deploy.md, section 3. Every
    command the docs give runs the whole project."""
    resources = yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))["resources"]
    names = "|".join(re.escape(name) for name in resources)
    commands = "deploy|info|logs|remove|invoke|plan|build|local|instance|metrics|version|alias|provision|sync"
    single = re.compile(rf"(?<![\w./'-])s ({names}) ({commands})\b")
    found = [f"{path.relative_to(ROOT)}: {match.group(0)}"
             for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
             for match in single.finditer(path.read_text(encoding="utf-8"))]
    assert found == []
