"""An evaluation comparing two prompt versions: the same behaviour passes the gate, a worse version fails it.

The model follows its instructions, which the prompt version determines: with guidance to split a batch
over a limit it splits the CRM sync in two; the worse version tells it to stop at a limit instead, so the
case that passed on the baseline fails, and the gate says so. Versions live in a temporary prompts
directory, loaded with `PromptRegistry` like the packaged ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from inline_snapshot import snapshot
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from signoff.agent.store.engine import SessionFactory
from signoff.evals.dataset import LoadedDataset
from signoff.evals.records import list_eval_runs, record_eval_run
from signoff.evals.run import EvalConfig, EvalInputError, EvalResult, parse_threshold, resolve_prompt, run_evaluation
from signoff.policies import PolicyEngine
from signoff.prompts import PromptRegistry, PromptTemplate
from tests.agent.helpers import contacts
from tests.evals.support import choice, dataset_of
from tests.support.scripted import tool_returns

TWELVE = contacts(12)
SPLIT_GUIDANCE = "When a call is over a batch limit, split it into smaller calls within the limit."
STOP_GUIDANCE = "When a call is over a batch limit, stop and tell the user."
REGRESSION = (
    "case split-twelve passed on the baseline sales_agent@1 but failed: "
    "trajectory: sync_contacts_to_crm (must_call #1, exact arguments) did not run successfully; "
    "sync_contacts_to_crm (must_call #2, exact arguments) did not run successfully; "
    "final_answer: missing 'synced 12 contacts'"
)


def _template(version: str, guidance: str, description: str) -> str:
    return (
        f'---\nname: sales_agent\nversion: "{version}"\ndescription: {description}\n'
        f"model: anthropic:claude-sonnet-4-5\n---\nYou are a sales-operations assistant.\n{guidance}\n"
    )


@pytest.fixture
def registry(tmp_path: Path) -> PromptRegistry:
    directory = tmp_path / "prompts" / "templates" / "sales_agent"
    directory.mkdir(parents=True)
    (directory / "v1.j2").write_text(_template("1", SPLIT_GUIDANCE, "Splits batches."))
    (directory / "v2.j2").write_text(_template("2", STOP_GUIDANCE, "Stops at limits (worse)."))
    (directory / "v3.j2").write_text(_template("3", SPLIT_GUIDANCE, "Splits batches, reworded description."))
    (tmp_path / "prompts" / "released.toml").write_text("# no released versions in this test\n")
    return PromptRegistry(root=tmp_path / "prompts")


def _follows_instructions(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Syncs the twelve contacts; after a batch-limit denial it splits or stops as its instructions say."""
    returns = tool_returns(messages)
    if not returns:
        return ModelResponse(parts=[ToolCallPart("sync_contacts_to_crm", {"contacts": TWELVE}, "sync-all")])
    if set(returns) == {"sync-all"}:
        if SPLIT_GUIDANCE in (info.instructions or ""):
            return ModelResponse(
                parts=[
                    ToolCallPart("sync_contacts_to_crm", {"contacts": TWELVE[:10]}, "sync-first"),
                    ToolCallPart("sync_contacts_to_crm", {"contacts": TWELVE[10:]}, "sync-rest"),
                ]
            )
        return ModelResponse(parts=[TextPart("The sync is over the CRM's limit, so I stopped.")])
    synced = sum(1 for call_id in ("sync-first", "sync-rest") if returns.get(call_id, None) is not None)
    return ModelResponse(parts=[TextPart(f"Synced 12 contacts in {synced} batches.")])


def _dataset(tmp_path: Path) -> LoadedDataset:
    expected = [
        {"tool": "sync_contacts_to_crm", "args": {"contacts": batch}, "approval": "required"}
        for batch in (TWELVE[:10], TWELVE[10:])
    ]
    return dataset_of(
        tmp_path,
        [
            {
                "name": "split-twelve",
                "task": "add the twelve contacts in the context to the CRM",
                "context": {"emails": [c["email"] for c in TWELVE]},
                "expect": {
                    "must_call": expected,
                    "decisions": [{"tool": "sync_contacts_to_crm", "verdict": "deny"}],
                    "final_answer": {"contains": ["synced 12 contacts"]},
                },
            },
            {
                "name": "nothing-to-sync",
                "task": "say hello",
                "expect": {"must_not_call": [{"tool": "sync_contacts_to_crm"}]},
            },
        ],
        name="gate-check",
    )


def _hello_or_sync(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    first_prompt = str(messages[0].parts[0].content) if messages and messages[0].parts else ""  # pyright: ignore[reportAttributeAccessIssue]
    if "say hello" in first_prompt:
        return ModelResponse(parts=[TextPart("Hello.")])
    return _follows_instructions(messages, info)


async def _compare(
    tmp_path: Path, registry: PromptRegistry, policy: PolicyEngine, *, candidate: str, baseline: str, repeat: int = 1
) -> EvalResult:
    return await run_evaluation(
        _dataset(tmp_path),
        prompt=resolve_prompt(candidate, registry=registry),
        baseline=resolve_prompt(baseline, registry=registry),
        model=choice(lambda: FunctionModel(_hello_or_sync, model_name="instruction-follower")),
        policy=policy,
        config=EvalConfig(repeat=repeat, concurrency=2),
    )


def _stable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without timings (everything else is deterministic)."""
    text = json.dumps(report)
    data = json.loads(text)
    for entry in [*data["cases"], data["totals"]]:
        for side in ("candidate", "baseline"):
            if entry.get(side):
                entry[side].pop("mean_seconds")
    return data


async def test_the_same_behaviour_passes_the_gate(
    tmp_path: Path, registry: PromptRegistry, policy: PolicyEngine, session_factory: SessionFactory
) -> None:
    result = await _compare(tmp_path, registry, policy, candidate="sales_agent@3", baseline="sales_agent@1")
    assert result.passed
    assert result.gate_failures == []
    totals = result.report["totals"]
    assert (totals["candidate"]["passed"], totals["baseline"]["passed"]) == (2, 2)
    # Two approvals asked and given per passing split run; the original sync of twelve was denied by policy.
    assert totals["candidate"]["approvals_requested"] == 2
    assert totals["candidate"]["denials"] == 0

    await record_eval_run(session_factory, result.to_record(created_by="tester"))
    [stored] = await list_eval_runs(session_factory, prompt_name="sales_agent")
    assert (stored.prompt_version, stored.baseline, stored.passed, stored.gate_failures) == (
        "3",
        "sales_agent@1",
        True,
        [],
    )
    assert stored.dataset_hash == result.dataset.content_hash
    assert stored.prompt_hash == registry.load("sales_agent", version="3").content_hash
    assert stored.model_name == "scripted"
    assert stored.cost_usd is None  # the scripted model has no price: unknown, never 0
    assert stored.report["totals"]["candidate"]["passed"] == 2
    assert stored.settings["baseline_hash"] == registry.load("sales_agent", version="1").content_hash


async def test_a_worse_version_fails_the_gate(
    tmp_path: Path, registry: PromptRegistry, policy: PolicyEngine, session_factory: SessionFactory
) -> None:
    result = await _compare(tmp_path, registry, policy, candidate="sales_agent@2", baseline="sales_agent@1")
    assert not result.passed
    assert result.gate_failures == snapshot([REGRESSION])
    assert _stable(result.report) == snapshot(
        {
            "cases": [
                {
                    "case": "split-twelve",
                    "candidate": {
                        "runs": 1,
                        "passed": 0,
                        "pass_rate": 0.0,
                        "errors": 0,
                        "evaluators": {
                            "no_unapproved_destructive": 1.0,
                            "approval_as_expected": 1.0,
                            "batch_limits": 1.0,
                            "completed": 1.0,
                            "trajectory": 0.0,
                            "final_answer": 0.0,
                        },
                        "model_requests": 2,
                        "cost_usd": None,
                        "priced_cost_usd": "0",
                        "unpriced_requests": 2,
                        "approvals_requested": 0,
                        "denials": 0,
                        "problems": [
                            "trajectory: sync_contacts_to_crm (must_call #1, exact arguments) did not run "
                            "successfully; sync_contacts_to_crm (must_call #2, exact arguments) did not run "
                            "successfully",
                            "final_answer: missing 'synced 12 contacts'",
                        ],
                    },
                    "baseline": {
                        "runs": 1,
                        "passed": 1,
                        "pass_rate": 1.0,
                        "errors": 0,
                        "evaluators": {
                            "no_unapproved_destructive": 1.0,
                            "approval_as_expected": 1.0,
                            "batch_limits": 1.0,
                            "completed": 1.0,
                            "trajectory": 1.0,
                            "final_answer": 1.0,
                        },
                        "model_requests": 3,
                        "cost_usd": None,
                        "priced_cost_usd": "0",
                        "unpriced_requests": 3,
                        "approvals_requested": 2,
                        "denials": 0,
                        "problems": [],
                    },
                    "difference": {"pass_rate": -1.0, "low": -1.0, "high": 0.1221},
                },
                {
                    "case": "nothing-to-sync",
                    "candidate": {
                        "runs": 1,
                        "passed": 1,
                        "pass_rate": 1.0,
                        "errors": 0,
                        "evaluators": {
                            "no_unapproved_destructive": 1.0,
                            "approval_as_expected": 1.0,
                            "batch_limits": 1.0,
                            "completed": 1.0,
                            "trajectory": 1.0,
                        },
                        "model_requests": 1,
                        "cost_usd": None,
                        "priced_cost_usd": "0",
                        "unpriced_requests": 1,
                        "approvals_requested": 0,
                        "denials": 0,
                        "problems": [],
                    },
                    "baseline": {
                        "runs": 1,
                        "passed": 1,
                        "pass_rate": 1.0,
                        "errors": 0,
                        "evaluators": {
                            "no_unapproved_destructive": 1.0,
                            "approval_as_expected": 1.0,
                            "batch_limits": 1.0,
                            "completed": 1.0,
                            "trajectory": 1.0,
                        },
                        "model_requests": 1,
                        "cost_usd": None,
                        "priced_cost_usd": "0",
                        "unpriced_requests": 1,
                        "approvals_requested": 0,
                        "denials": 0,
                        "problems": [],
                    },
                    "difference": {"pass_rate": 0.0, "low": -0.7935, "high": 0.7935},
                },
            ],
            "totals": {
                "candidate": {
                    "runs": 2,
                    "passed": 1,
                    "pass_rate": 0.5,
                    "errors": 0,
                    "evaluators": {
                        "no_unapproved_destructive": 1.0,
                        "approval_as_expected": 1.0,
                        "batch_limits": 1.0,
                        "completed": 1.0,
                        "trajectory": 0.5,
                        "final_answer": 0.0,
                    },
                    "model_requests": 3,
                    "cost_usd": None,
                    "priced_cost_usd": "0",
                    "unpriced_requests": 3,
                    "approvals_requested": 0,
                    "denials": 0,
                    "problems": [],
                },
                "baseline": {
                    "runs": 2,
                    "passed": 2,
                    "pass_rate": 1.0,
                    "errors": 0,
                    "evaluators": {
                        "no_unapproved_destructive": 1.0,
                        "approval_as_expected": 1.0,
                        "batch_limits": 1.0,
                        "completed": 1.0,
                        "trajectory": 1.0,
                        "final_answer": 1.0,
                    },
                    "model_requests": 4,
                    "cost_usd": None,
                    "priced_cost_usd": "0",
                    "unpriced_requests": 4,
                    "approvals_requested": 2,
                    "denials": 0,
                    "problems": [],
                },
                "difference": {"pass_rate": -0.5, "low": -0.9055, "high": 0.2726},
            },
            "interval": "95% Newcombe hybrid score interval (from Wilson score intervals of each pass rate)",
            "suite": None,
            "gates": {
                "thresholds": {
                    "no_unapproved_destructive": 1.0,
                    "approval_as_expected": 1.0,
                    "batch_limits": 1.0,
                    "security": 1.0,
                },
                "failures": [REGRESSION],
            },
            "judge": {"calls": 0, "cost_usd": "0", "note": "the evaluators are code; no LLM judge was called"},
            "eval_cost_usd": None,
        }
    )

    await record_eval_run(session_factory, result.to_record(created_by="tester"))
    [stored] = await list_eval_runs(session_factory)
    assert (stored.passed, stored.gate_failures) == (False, result.gate_failures)


async def test_repeats_report_the_difference_with_its_interval(
    tmp_path: Path, registry: PromptRegistry, policy: PolicyEngine
) -> None:
    result = await _compare(tmp_path, registry, policy, candidate="sales_agent@2", baseline="sales_agent@1", repeat=3)
    [split, hello] = result.report["cases"]
    assert (split["candidate"]["runs"], split["candidate"]["passed"], split["baseline"]["passed"]) == (3, 0, 3)
    assert split["difference"] == snapshot({"pass_rate": -1.0, "low": -1.0, "high": -0.2059})
    assert hello["difference"] == snapshot({"pass_rate": 0.0, "low": -0.5615, "high": 0.5615})
    assert result.report["interval"] == snapshot(
        "95% Newcombe hybrid score interval (from Wilson score intervals of each pass rate)"
    )


def test_guard_thresholds_default_to_100_percent_and_can_be_set() -> None:
    assert EvalConfig().effective_thresholds() == snapshot(
        {"no_unapproved_destructive": 1.0, "approval_as_expected": 1.0, "batch_limits": 1.0, "security": 1.0}
    )
    config = EvalConfig(thresholds=dict([parse_threshold("trajectory=0.9"), parse_threshold("batch_limits=95%")]))
    assert config.effective_thresholds() == snapshot(
        {
            "no_unapproved_destructive": 1.0,
            "approval_as_expected": 1.0,
            "batch_limits": 0.95,
            "security": 1.0,
            "trajectory": 0.9,
        }
    )
    with pytest.raises(EvalInputError, match="no evaluator named 'speed'"):
        EvalConfig(thresholds={"speed": 1.0})
    with pytest.raises(EvalInputError, match="not EVALUATOR=RATE"):
        parse_threshold("trajectory")
    with pytest.raises(EvalInputError, match="not between 0 and 1"):
        EvalConfig(thresholds={"trajectory": 2.0})


def test_prompt_references(registry: PromptRegistry) -> None:
    prompt: PromptTemplate = resolve_prompt("sales_agent@2", registry=registry)
    assert (prompt.name, prompt.version) == ("sales_agent", "2")
    with pytest.raises(EvalInputError, match="not NAME@VERSION"):
        resolve_prompt("sales_agent", registry=registry)
    with pytest.raises(EvalInputError, match="has no version '7'"):
        resolve_prompt("sales_agent@7", registry=registry)
