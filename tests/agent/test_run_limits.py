"""Request and tool-call limits (pydantic-ai's `UsageLimits`) hold for a whole run, across its pauses."""

from __future__ import annotations

from pathlib import Path

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

import signoff

READ = signoff.ToolSafety(destructive=False, requires_approval=False)


def _looping(tool_name: str) -> FunctionModel:
    """A model stuck in a loop: every response calls `tool_name` again."""
    steps = 0

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        nonlocal steps
        steps += 1
        return ModelResponse(parts=[ToolCallPart(tool_name, {"n": steps}, tool_call_id=f"call-{steps}")])

    return FunctionModel(respond)


def _guarded(tmp_path: Path, tool_name: str, safety: signoff.ToolSafety, **limits: int) -> signoff.Guard:
    agent = Agent(_looping(tool_name), name="looper")

    async def tool(n: int) -> str:
        return f"done {n}"

    agent.tool_plain(name=tool_name, metadata={"signoff": safety})(tool)
    guard = signoff.Guard(
        f"sqlite+aiosqlite:///{tmp_path / 'limits.db'}",
        ledger_spool_path=tmp_path / "spool.jsonl",
        settings=signoff.RunnerSettings(**limits),
    )
    guard.bind(agent)
    return guard


async def test_a_model_calling_tools_in_a_loop_stops_at_the_tool_call_limit(tmp_path: Path) -> None:
    guard = _guarded(tmp_path, "lookup", READ, tool_call_limit=3)
    try:
        outcome = await guard.run("look it up")
        assert outcome.status == "failed"
        assert outcome.failure_reason is not None and "tool_calls_limit of 3" in outcome.failure_reason
        assert [c.status for c in await guard.audit_trail(outcome.run_id)] == ["succeeded"] * 3
    finally:
        await guard.aclose()


async def test_the_request_limit_counts_the_requests_before_each_pause(tmp_path: Path) -> None:
    guard = _guarded(tmp_path, "refund", signoff.ToolSafety(), request_limit=2)
    try:
        outcome = await guard.run("refund it")  # request 1: waits for approval
        assert outcome.status == "awaiting_approval"
        await guard.approvals.approve(outcome.pending_approval_ids[0], decided_by="sam")
        outcome = await guard.resume(outcome.run_id)  # request 2: waits again
        assert outcome.status == "awaiting_approval"
        await guard.approvals.approve(outcome.pending_approval_ids[0], decided_by="sam")
        # A third request would be over the run's limit, although this resume has made none yet.
        outcome = await guard.resume(outcome.run_id)
        assert outcome.status == "failed"
        assert outcome.failure_reason is not None and "request_limit of 2" in outcome.failure_reason
        assert [c.status for c in await guard.audit_trail(outcome.run_id)] == ["succeeded", "succeeded"]
    finally:
        await guard.aclose()
