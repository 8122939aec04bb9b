"""Each function's start, exactly as FC runs it: ``<App>.from_env(env)`` is what ``functions/<name>/index.py``'s
``initialize`` calls, so every settings loader the function runs (``shared.wiring``) runs here, in the function's
order, with the function's environment. A ``ConfigError`` is reported with its own message (it names the variable,
never its value). Clients are built but never connect; with the local backend the SQLite files in ``KYC_DATA_DIR``
are opened, and created if missing, as the first start would.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from shared.config import ConfigError, is_aliyun_backend
from shared.storage import StorageError

from .report import Finding, ok, problem

#: What FC puts in every function's environment (the role's STS credentials): not s.yaml's to set.
FC_INJECTED = frozenset({"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"})
#: function folder -> its app class, as ``functions/<folder>/index.py`` imports it.
APPS = {
    "initializer": ("shared.handlers.initializer", "InitializerApp"),
    "result_fetcher": ("shared.handlers.result_fetcher", "ResultFetcherApp"),
    "notifier": ("shared.handlers.notifier", "NotifierApp"),
    "sweeper": ("shared.handlers.sweeper", "SweeperApp"),
}


def check_initialize(function: str, env: Mapping[str, str], missing_outputs: Mapping[str, str]) -> Finding:
    name = f"config.{function}"
    module, attribute = APPS[function]
    app = getattr(importlib.import_module(module), attribute)
    try:
        app.from_env(env)
    except ConfigError as exc:
        output = missing_outputs.get(exc.variable)
        if output is not None:
            return problem(name, f"{exc} (s.yaml sets it from the stack output {output}, not given to the doctor)",
                           "see environment")
        if exc.variable in FC_INJECTED and is_aliyun_backend(env):
            return problem(name, str(exc), "FC gives the functions their role's keys; the doctor needs yours: export "
                                           "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (docs/"
                                           "deploy.md, section 5)")
        return problem(name, str(exc), f"set {exc.variable} as README 'Configuration' describes, then s deploy "
                                       "(locally: start or restart ./scripts/dev)")
    except StorageError as exc:
        return problem(name, f"initialize could not open storage ({exc.code or 'StorageError'})",
                       "see the storage checks")
    except OSError as exc:
        return problem(name, f"initialize failed ({type(exc).__name__})", "see storage.data-dir")
    return ok(name, f"{function} initializes with this environment (every setting it reads is valid)")
