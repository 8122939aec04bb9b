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
    """As in a process that has not started an instance yet; the collector as it was, and nothing left frozen by
    the test unless something was frozen before it (an in-process ``initialize`` of another test: kept so)."""
    enabled = gc.isenabled()
    frozen_before = gc.get_freeze_count()
    monkeypatch.setattr(startup, "_frozen", False)
    yield
    if not frozen_before:
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
    before = gc.get_freeze_count()
    with collector_paused():
        built = [[] for _ in range(100)]
    assert gc.get_freeze_count() >= before + len(built)
    assert startup._frozen


@pytest.mark.usefixtures("fresh_process_state")
def test_a_later_start_in_the_same_process_freezes_nothing_more() -> None:
    gc.enable()
    with collector_paused():
        pass
    frozen = gc.get_freeze_count()
    with collector_paused():
        built = [[] for _ in range(100)]
    assert gc.get_freeze_count() <= frozen  # fewer if a frozen object was freed meanwhile; never the ones just built
    assert built and gc.isenabled()


@pytest.mark.usefixtures("fresh_process_state")
def test_a_failed_start_enables_the_collector_again_and_freezes_nothing() -> None:
    gc.enable()
    before = gc.get_freeze_count()
    with pytest.raises(RuntimeError), collector_paused():
        built = [[] for _ in range(100)]
        raise RuntimeError("configuration error")
    assert gc.isenabled()
    assert gc.get_freeze_count() <= before
    assert built and not startup._frozen


@pytest.mark.usefixtures("fresh_process_state")
def test_a_collector_the_caller_had_disabled_stays_disabled_and_nothing_is_frozen() -> None:
    gc.disable()
    before = gc.get_freeze_count()
    with collector_paused():
        built = [[] for _ in range(100)]
    assert not gc.isenabled()
    assert gc.get_freeze_count() <= before
    assert built and not startup._frozen


COLD_START = """\
import gc, json, sys
sys.path[:0] = [{fn_dir!r}]
import index
assert {handler!r} not in sys.modules, "index.py loaded its handler's code before initialize paused the collector"
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))
index.initialize(None)
print(json.dumps({{"collections": collections, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "young": gc.get_count()[0], "threshold": gc.get_threshold()[0]}}))
"""


def cold_start(function: str) -> str:
    return COLD_START.format(fn_dir=str(ROOT / "functions" / function), handler=f"shared.handlers.{function}")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_cold_start_s_initialize_runs_no_collection(function: str, tmp_path: Path) -> None:
    assert probe(cold_start(function), "local", tmp_path)["collections"] == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_after_a_cold_start_the_collector_is_on_and_the_start_s_objects_are_frozen(
    function: str, tmp_path: Path
) -> None:
    state = probe(cold_start(function), "local", tmp_path)
    assert state["enabled"]
    assert state["frozen"] > 10_000  # the modules, classes and functions loaded: tens of thousands of objects
    # Nothing young is left for the first request's allocations to set off a collection over.
    assert state["young"] < state["threshold"]

