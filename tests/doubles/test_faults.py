"""The doubles' fault plan: parsing (errors name the field) and decisions (sequences, rates, seeds, wildcard)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tools.faultplan import OK, Decision, FaultPlan, FaultPlanError

CODES = ("InternalError", "SlowDown", "ServiceUnavailable")


def _plan(operations: dict[str, Any], **extra: Any) -> FaultPlan:
    return FaultPlan.parse({"operations": operations, **extra}, error_codes=CODES)


def test_an_empty_plan_answers_every_operation_normally() -> None:
    plan = FaultPlan.parse({})
    assert [plan.decide("PutObject") for _ in range(3)] == [OK, OK, OK]


def test_a_sequence_is_consumed_one_item_per_request_then_the_rates_apply() -> None:
    plan = _plan({"PutObject": {"sequence": ["SlowDown", "drop-before", "drop-after", "delay:0.25", "drip:0.1",
                                           "foreign:503", "ok"]}})  # fmt: skip
    decisions = [plan.decide("PutObject") for _ in range(8)]
    assert decisions == [
        Decision(error="SlowDown"),
        Decision(drop="before"),
        Decision(drop="after"),
        Decision(delay=0.25),
        Decision(drip=0.1),
        Decision(foreign=503),
        OK,
        OK,
    ]


def test_faults_apply_only_to_their_operation() -> None:
    plan = _plan({"GetObject": {"errorRates": {"InternalError": 1.0}}})
    assert plan.decide("PutObject") == OK
    assert plan.decide("GetObject") == Decision(error="InternalError")


def test_the_wildcard_applies_to_operations_without_their_own_entry() -> None:
    plan = _plan({"*": {"errorRates": {"InternalError": 1.0}}, "GetObject": {}})
    assert plan.decide("PutObject") == Decision(error="InternalError")
    assert plan.decide("GetObject") == OK


def test_rates_with_the_same_seed_replay_the_same_decisions() -> None:
    spec = {"PutObject": {"errorRates": {"InternalError": 0.3}, "delayRate": 0.3, "delaySeconds": 0.1, "dropRate": 0.2}}
    first = _plan(spec, seed=7)
    second = _plan(spec, seed=7)
    runs = [[p.decide("PutObject") for _ in range(40)] for p in (first, second)]
    assert runs[0] == runs[1]
    kinds = {("error" if d.error else "drop" if d.drop else "delay" if d.delay else "ok") for d in runs[0]}
    assert kinds == {"error", "drop", "delay", "ok"}


def test_a_callers_own_draws_come_from_the_plans_seeded_generator() -> None:
    def run(seed: int) -> list[Any]:
        plan = FaultPlan.parse({"seed": seed, "operations": {"*": {"errorRates": {"InternalError": 0.5}}}})
        return [(plan.decide("X"), plan.draw()) for _ in range(10)]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_drop_when_after_drops_after_processing() -> None:
    plan = _plan({"PutObject": {"dropRate": 1.0, "dropWhen": "after"}})
    assert plan.decide("PutObject") == Decision(drop="after")


def test_a_rate_of_one_always_fires_and_zero_never() -> None:
    always = _plan({"X": {"delayRate": 1.0, "delaySeconds": 0.5}})
    never = _plan({"X": {"errorRates": {"InternalError": 0.0}}})
    assert {always.decide("X") for _ in range(20)} == {Decision(delay=0.5)}
    assert {never.decide("X") for _ in range(20)} == {OK}


def test_the_plan_keeps_its_source_for_the_control_api() -> None:
    source = {"seed": 3, "operations": {"X": {"sequence": ["ok"]}}}
    assert FaultPlan.parse(source).source == source


def test_decisions_are_thread_safe_each_sequence_item_used_once() -> None:
    plan = _plan({"X": {"sequence": ["SlowDown"] * 200}})
    seen: list[Decision] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            decision = plan.decide("X")
            with lock:
                seen.append(decision)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for d in seen if d.error == "SlowDown") == 200
    assert sum(1 for d in seen if d == OK) == 200


def test_without_a_code_list_any_code_is_accepted() -> None:
    plan = FaultPlan.parse({"operations": {"X": {"sequence": ["Anything.Goes"]}}})
    assert plan.decide("X") == Decision(error="Anything.Goes")


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        ([], "the fault plan must be a JSON object"),
        ({"callbacks": {}}, "unknown fields: callbacks"),
        ({"seed": "7"}, "seed"),
        ({"seed": True}, "seed"),
        ({"operations": []}, "operations must be an object"),
        ({"operations": {"X": []}}, "operations.X must be an object"),
        ({"operations": {"X": {"retries": 1}}}, "operations.X has unknown fields: retries"),
        ({"operations": {"X": {"sequence": "ok"}}}, "operations.X.sequence must be a list"),
        ({"operations": {"X": {"sequence": [1]}}}, "operations.X.sequence items must be strings"),
        ({"operations": {"X": {"sequence": ["Teapot"]}}}, "operations.X.sequence: unknown error code"),
        ({"operations": {"X": {"sequence": ["delay:soon"]}}}, "operations.X.sequence: delay needs a number"),
        ({"operations": {"X": {"sequence": ["delay:301"]}}}, "operations.X.sequence must be a number of seconds"),
        ({"operations": {"X": {"sequence": ["drip:slowly"]}}}, "operations.X.sequence: drip needs a number"),
        ({"operations": {"X": {"sequence": ["drip:0"]}}}, "operations.X.sequence: drip must be more than 0"),
        ({"operations": {"X": {"sequence": ["drip:11"]}}}, "operations.X.sequence: drip must be more than 0"),
        ({"operations": {"X": {"sequence": ["foreign:"]}}}, "operations.X.sequence: foreign needs an HTTP status"),
        ({"operations": {"X": {"sequence": ["foreign:199"]}}}, "operations.X.sequence: foreign needs an HTTP status"),
        ({"operations": {"X": {"sequence": ["foreign:600"]}}}, "operations.X.sequence: foreign needs an HTTP status"),
        ({"operations": {"X": {"errorRates": []}}}, "operations.X.errorRates must be an object"),
        ({"operations": {"X": {"errorRates": {"Teapot": 0.1}}}}, "operations.X.errorRates: unknown error code"),
        ({"operations": {"X": {"errorRates": {"SlowDown": 2}}}}, "operations.X.errorRates.SlowDown must be"),
        (
            {"operations": {"X": {"errorRates": {"SlowDown": 0.6, "InternalError": 0.6}}}},
            "operations.X.errorRates must add up to at most 1",
        ),
        ({"operations": {"X": {"delayRate": -0.1}}}, "operations.X.delayRate"),
        ({"operations": {"X": {"delaySeconds": True}}}, "operations.X.delaySeconds"),
        ({"operations": {"X": {"dropRate": "0.1"}}}, "operations.X.dropRate"),
        ({"operations": {"X": {"dropWhen": "during"}}}, "operations.X.dropWhen must be before or after"),
    ],
)
def test_a_malformed_plan_is_refused_naming_the_field(plan: Any, field: str) -> None:
    with pytest.raises(FaultPlanError) as caught:
        FaultPlan.parse(plan, error_codes=CODES)
    assert field in str(caught.value)
