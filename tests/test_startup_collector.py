"""An instance's start pauses the cyclic garbage collector and freezes what it built (shared.handlers.startup).

In this process (the block's rules) and in fresh interpreters (what a function's ``initialize`` does on a cold
start: no collection while it loads and builds, the collector on afterwards with the start's objects frozen).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.handlers import startup
from shared.handlers.startup import collector_paused
from tests.test_import_budget import FUNCTIONS, ROOT, probe


@pytest.fixture
def fresh_process_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As in a process that has not started an instance yet; the collector and the frozen objects as they were."""
    enabled = gc.isenabled()
    monkeypatch.setattr(startup, "_frozen", False)
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.usefixtures("fresh_process_state")
def test_the_collector_is_off_inside_the_block_and_on_after_it() -> None:
    gc.enable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


@pytest.mark.usefixtures("fresh_process_state")
def test_the_first_start_of_a_process_freezes_what_exists() -> None:
    gc.enable()
    gc.unfreeze()
    with collector_paused():
        built = [[] for _ in range(100)]
    assert gc.get_freeze_count() >= len(built)
    assert startup._frozen


@pytest.mark.usefixtures("fresh_process_state")
def test_a_later_start_in_the_same_process_freezes_nothing_more() -> None:
    gc.enable()
    with collector_paused():
        pass
    frozen = gc.get_freeze_count()
    with collector_paused():
        built = [[] for _ in range(100)]
    assert gc.get_freeze_count() == frozen
    assert built and gc.isenabled()


@pytest.mark.usefixtures("fresh_process_state")
def test_a_failed_start_enables_the_collector_again_and_freezes_nothing() -> None:
    gc.enable()
    gc.unfreeze()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("configuration error")
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert not startup._frozen


@pytest.mark.usefixtures("fresh_process_state")
def test_a_collector_the_caller_had_disabled_stays_disabled_and_nothing_is_frozen() -> None:
    gc.disable()
    gc.unfreeze()
    with collector_paused():
        pass
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert not startup._frozen


COLD_START = """\
import gc, json, sys
sys.path[:0] = [{fn_dir!r}]
import index
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))
index.initialize(None)
print(json.dumps({{"collections": collections, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "young": gc.get_count()[0], "threshold": gc.get_threshold()[0]}}))
"""


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_cold_start_s_initialize_runs_no_collection(function: str, tmp_path: Path) -> None:
    fn_dir = str(ROOT / "functions" / function)
    assert probe(COLD_START.format(fn_dir=fn_dir), "local", tmp_path)["collections"] == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_after_a_cold_start_the_collector_is_on_and_the_start_s_objects_are_frozen(
    function: str, tmp_path: Path
) -> None:
    state = probe(COLD_START.format(fn_dir=str(ROOT / "functions" / function)), "local", tmp_path)
    assert state["enabled"]
    assert state["frozen"] > 10_000  # the modules, classes and functions loaded: tens of thousands of objects
    # Nothing young is left for the first request's allocations to set off a collection over.
    assert state["young"] < state["threshold"]

