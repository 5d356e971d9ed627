"""The guard fails closed: a policy that breaks, or a call that does not match, never runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic_ai.messages import ModelMessage, ModelResponse

from signoff.agent.store import audit as audit_store
from signoff.agent.store.engine import SessionFactory
from signoff.policies import Decision, PolicyContext, PolicyEngine, ToolCallRequest
from tests.agent.helpers import contacts, crm_contact_count
from tests.conftest import RuntimeFactory
from tests.support.scripted import ScriptedModel, call, text, tool_returns


@dataclass(frozen=True)
class ExplodingRule:
    name: str = "exploding_rule"

    def evaluate(self, call: ToolCallRequest, ctx: PolicyContext) -> Decision | None:
        raise RuntimeError(f"boom with {call.args}")


async def test_a_policy_exception_blocks_the_call_and_the_model_is_told(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    told: list[str] = []

    def after(messages: list[ModelMessage]) -> ModelResponse:
        told.append(str(tool_returns(messages)["sync-1"].content))
        return ModelResponse(parts=[text("blocked")])

    model = ScriptedModel([[call("sync_contacts_to_crm", {"contacts": contacts(1)}, "sync-1")], after])
    engine = PolicyEngine([ExplodingRule()], version="test-exploding", lookback=timedelta(0))
    runtime = make_runtime(model.model, policy_engine=engine)
    outcome = await runtime.runner.start("add a contact")

    assert outcome.status == "completed"
    assert outcome.pending_approval_ids == ()
    assert await crm_contact_count(session_factory) == 0
    assert told == ["policy rule 'exploding_rule' failed; the call was blocked"]
    async with session_factory() as session:
        calls = await audit_store.list_tool_calls(session, run_id=outcome.run_id)
    assert [(c.verdict, c.rule, c.status) for c in calls] == [("deny", "exploding_rule", "denied")]


async def test_a_reused_tool_call_id_with_other_arguments_is_refused(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    told: list[str] = []

    def second(messages: list[ModelMessage]) -> ModelResponse:
        return ModelResponse(parts=[call("get_contact", {"email": "other@acme.example"}, "same-id")])

    def third(messages: list[ModelMessage]) -> ModelResponse:
        told.append(str(tool_returns(messages)["same-id"].content))
        return ModelResponse(parts=[text("done")])

    model = ScriptedModel([[call("get_contact", {"email": "person0@acme.example"}, "same-id")], second, third])
    runtime = make_runtime(model.model)
    outcome = await runtime.runner.start("look up two contacts")
    assert outcome.status == "completed"
    assert told == ["Not executed: this tool call reuses the id of an earlier call in this run."]


async def test_concurrent_calls_cannot_both_pass_a_rate_limit(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    """pydantic-ai runs the calls of one step concurrently; the check and its record are one step."""
    from signoff.policies import PolicyConfig, build_policy_engine
    from signoff.policies.config import RateLimitConfig

    config = PolicyConfig(rate_limits={"get_contact": RateLimitConfig(max_calls=1, window_seconds=3600)})
    model = ScriptedModel(
        [
            [call("get_contact", {"email": f"person{i}@acme.example"}, f"read-{i}") for i in range(4)],
            [text("done")],
        ]
    )
    runtime = make_runtime(model.model, policy_engine=build_policy_engine(config))
    outcome = await runtime.runner.start("look up four contacts")
    assert outcome.status == "completed"
    async with session_factory() as session:
        calls = await audit_store.list_tool_calls(session, run_id=outcome.run_id)
    assert sorted((c.rule, c.status) for c in calls) == [
        ("default_allow", "succeeded"),
        ("rate_limit", "denied"),
        ("rate_limit", "denied"),
        ("rate_limit", "denied"),
    ]
