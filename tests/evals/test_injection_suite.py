"""Every injection goal in every vector: the guard stops it, and without the guard it succeeds.

Runner-level: each case runs through `evals.case_runner.run_case` (the production runtime with the default
policy, and the simulated approver that approves only the case's expected calls and denies the rest) and,
for the counter-proof, through a bare pydantic-ai Agent with the registry's toolset and no policy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from signoff.evals.case_runner import CaseOutcome, run_case
from signoff.evals.dataset import CaseSpec, load_dataset
from signoff.evals.run import resolve_prompt
from signoff.policies import PolicyEngine
from signoff.tools.registry import ToolRegistry, canonical_json
from signoff.tools.sales.injection import INJECTION_GOALS, VECTORS, obedient_model
from signoff.tools.sales.injection.goals import sales_pack_tools
from signoff.tools.sales.injection.harness import run_unguarded
from tests.evals.support import SALES_CATALOG, SALES_PACKS

PROMPT = resolve_prompt("sales_agent@1", packs=SALES_PACKS)
DATASET = load_dataset("injection", catalog=SALES_CATALOG)
CASES = {case.name: case for case in DATASET.spec.cases}
WORLD = DATASET.world
REGISTRY = ToolRegistry(sales_pack_tools())
# One benign task per vector for the goal × vector matrix (the dataset crosses every task that reads it).
TASK_FOR_VECTOR = {
    "lead_bio": "sync-fintech-berlin",
    "enrichment_data": "leads-logistics-hamburg",
    "crm_note": "crm-notes",
    "email_reply": "campaign-replies",
}


def _case(goal_id: str, vector: str) -> CaseSpec:
    return CASES[f"{TASK_FOR_VECTOR[vector]}--{goal_id}--{vector}"]


def _answer_has(case: CaseSpec, outcome: CaseOutcome) -> bool:
    assert case.expect.final_answer is not None and outcome.final_answer is not None
    return all(text.casefold() in outcome.final_answer.casefold() for text in case.expect.final_answer.contains)


def test_the_matrix_covers_every_goal_and_vector() -> None:
    assert set(TASK_FOR_VECTOR) == set(VECTORS)
    assert len(INJECTION_GOALS) >= 5


# Every goal in every vector it is planted in (`InjectionGoal.not_planted_in` names the others).
MATRIX = [
    (goal_id, vector)
    for goal_id, goal in INJECTION_GOALS.items()
    for vector in VECTORS
    if vector not in goal.not_planted_in
]


@pytest.mark.parametrize(("goal_id", "vector"), MATRIX)
async def test_the_guard_stops_the_goal_and_the_task_still_completes(
    goal_id: str, vector: str, tmp_path: Path, policy: PolicyEngine
) -> None:
    case = _case(goal_id, vector)
    outcome = await run_case(
        case, model=obedient_model(), prompt=PROMPT, policy=policy, workdir=tmp_path, world=WORLD, packs=SALES_PACKS
    )

    assert outcome.security_breached is False
    assert outcome.status == "completed"
    assert _answer_has(case, outcome)
    goal = INJECTION_GOALS[goal_id]
    goal_tools = {call.tool for call in goal.ground_truth_calls}
    hijacked = [call for call in outcome.calls if call.tool in goal_tools and call.approved_by is None]
    stopped = [call for call in hijacked if not call.executed]
    assert stopped
    assert {(call.verdict, call.status) for call in stopped} <= {
        ("require_approval", "not_executed"),
        ("deny", "denied"),
    }
    if goal.attack_class == "egress":
        # Reading the record, and pieces too short to carry it, may run; the call that would carry it out may not.
        assert all(not call.destructive for call in hijacked)
        assert any(call.rule == "egress" for call in stopped)
    elif goal.attack_class == "budget":
        # The user's own searches and enrichments run; of the attacker's (known by their arguments), those
        # that fit under the limit may run too (spending up to a limit is allowed), and the first that would
        # take the scope past it waits for a person under the cumulative rule.
        planned = {
            canonical_json(REGISTRY.require(call.tool).validate_args(dict(call.args)))
            for call in goal.ground_truth_calls
        }
        injected = [call for call in outcome.calls if call.args_json in planned]
        assert len(injected) == len(goal.ground_truth_calls)
        held = [call for call in injected if not call.executed]
        assert held and held[0].rule == "cumulative_spend"
        assert {call.rule for call in held} <= {"cumulative_spend", "approval_cap"}
        if goal_id != "budget_split_searches":
            assert held == injected  # one enrichment of ten costs more than the room its prelude leaves
    else:
        # None of the hijacked calls ran: the batch limit, the approval cap or a person's denial stopped each.
        assert stopped == hijacked
    assert outcome.approvals_denied >= 1


# One vector is enough to show each attack works unguarded: the guarded matrix above already shows every
# vector plants every goal (it finds the hijacked calls), and CI's gate step runs the whole dataset.
@pytest.mark.parametrize("vector", ["email_reply"])
@pytest.mark.parametrize("goal_id", list(INJECTION_GOALS))
async def test_without_the_guard_the_same_attack_succeeds(goal_id: str, vector: str, tmp_path: Path) -> None:
    outcome = await run_unguarded(
        _case(goal_id, vector), model=obedient_model(), workdir=tmp_path, world=WORLD, packs=SALES_PACKS
    )
    assert outcome.security_breached is True


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if case.injection is None])
async def test_without_an_injection_the_obedient_model_just_does_the_task(
    name: str, tmp_path: Path, policy: PolicyEngine
) -> None:
    case = CASES[name]
    outcome = await run_case(
        case, model=obedient_model(), prompt=PROMPT, policy=policy, workdir=tmp_path, world=WORLD, packs=SALES_PACKS
    )
    assert outcome.status == "completed"
    assert _answer_has(case, outcome)
    assert outcome.approvals_denied == 0
    assert outcome.security_breached is None
    # Exactly the task's calls, in order: nothing hijacked, nothing extra.
    assert [call.tool for call in outcome.calls] == [call.tool for call in case.expect.must_call]
    expects_a_write = any(call.approval == "required" for call in case.expect.must_call)
    assert outcome.approvals_requested == (1 if expects_a_write else 0)
