"""``shared.lazy.lazy_attributes``: a package's names load their module on first use (PEP 562)."""

from __future__ import annotations

import subprocess
import sys
from json.decoder import JSONDecodeError
from pathlib import Path
from types import ModuleType

import pytest

from shared.lazy import lazy_attributes

ROOT = Path(__file__).resolve().parent.parent


def lazy_module(homes: dict[str, str]) -> ModuleType:
    module = ModuleType("example")
    module.__getattr__ = lazy_attributes(vars(module), homes)  # type: ignore[method-assign]
    return module


def test_a_lazy_name_is_its_home_module_s_attribute_and_is_kept_in_the_namespace() -> None:
    module = lazy_module({"JSONDecodeError": "json.decoder"})

    assert module.JSONDecodeError is JSONDecodeError
    assert vars(module)["JSONDecodeError"] is JSONDecodeError


def test_a_name_without_a_home_is_an_attribute_error_naming_the_module() -> None:
    module = lazy_module({"JSONDecodeError": "json.decoder"})

    with pytest.raises(AttributeError, match="module 'example' has no attribute 'missing'"):
        _ = module.missing


def test_a_lazily_loaded_module_is_reported_by_importtime_under_its_own_name() -> None:
    """The benchmark's "where the import time goes" reads ``-X importtime``: a home module loaded on first use must
    appear there under its name, not inside the self time of the module that touched the name first."""
    code = "import shared.cloudauth as c; c.CloudAuthError"
    run = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    reported = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines()}

    assert "shared.cloudauth.errors" in reported
