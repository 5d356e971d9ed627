"""The drop-in guard: a developer's own pydantic-ai agent, its own deps and tools, guarded by a few lines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from inline_snapshot import snapshot
from pydantic_ai import Agent, RunContext
from pydantic_ai.exceptions import UserError
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

import signoff
from signoff.policies import PolicyConfigError


@dataclass
class Shop:
    """The developer's own deps: where the side effects land."""

    refunds: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    closed: list[str] = field(default_factory=list[str])


def _over_50(args: Mapping[str, Any], facts: signoff.ApprovalFacts) -> bool:
    return Decimal(str(args["amount_usd"])) > 50


def scripted(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Looks an order up, refunds a small and a large amount, closes the ticket, then reports."""
    returns = [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)]
    if not returns:
        return ModelResponse(
            parts=[
                ToolCallPart("lookup_order", {"order_id": "A-1"}, tool_call_id="look"),
                ToolCallPart("refund_order", {"order_id": "A-1", "amount_usd": "12.50"}, tool_call_id="small"),
                ToolCallPart("refund_order", {"order_id": "A-1", "amount_usd": "180.00"}, tool_call_id="large"),
                ToolCallPart("close_ticket", {"ticket_id": "T-9"}, tool_call_id="close"),
            ]
        )
    return ModelResponse(parts=[TextPart(" | ".join(sorted(str(p.content) for p in returns)))])


def build_agent() -> Agent[Shop, str]:
    """An ordinary pydantic-ai agent, written before Signoff was in the picture (plus metadata)."""
    agent = Agent(FunctionModel(scripted), deps_type=Shop, name="support")

    @agent.tool_plain(metadata={"signoff": signoff.ToolSafety(destructive=False, requires_approval=False)})
    async def lookup_order(order_id: str) -> str:  # pyright: ignore[reportUnusedFunction]
        """Look an order up."""
        return f"order {order_id}: paid $200"

    @agent.tool(
        metadata={
            "signoff": signoff.ToolSafety(
                requires_approval=_over_50, approval_summary="Refund ${{ amount_usd }} on {{ order_id }}"
            )
        }
    )
    async def refund_order(ctx: RunContext[Shop], order_id: str, amount_usd: Decimal) -> str:  # pyright: ignore[reportUnusedFunction]
        """Refund an order."""
        ctx.deps.refunds.append((order_id, str(amount_usd)))
        return f"refunded ${amount_usd}"

    @agent.tool(requires_approval=True)  # pydantic-ai's own deferred approval, no Signoff metadata
    async def close_ticket(ctx: RunContext[Shop], ticket_id: str) -> str:  # pyright: ignore[reportUnusedFunction]
        """Close a support ticket."""
        ctx.deps.closed.append(ticket_id)
        return f"closed {ticket_id}"

    return agent


def _guard(tmp_path: Path, **kwargs: Any) -> signoff.Guard:
    return signoff.Guard(
        f"sqlite+aiosqlite:///{tmp_path / 'guard.db'}", ledger_spool_path=tmp_path / "spool.jsonl", **kwargs
    )


async def test_an_existing_agent_is_guarded_by_binding_it(tmp_path: Path) -> None:
    guard = _guard(tmp_path)
    agent = guard.bind(build_agent())
    shop = Shop()
    try:
        outcome = await guard.run("Refund A-1 and close T-9", deps=shop, requested_by="dana")
        assert outcome.status == "awaiting_approval"
        # The read and the small refund ran; the large refund and the pydantic-ai-deferred close wait.
        assert shop.refunds == [("A-1", "12.50")] and shop.closed == []
        pending = await guard.approvals.list(run_id=outcome.run_id)
        assert sorted((a.tool_name, a.summary) for a in pending) == snapshot(
            [("close_ticket", "close_ticket(ticket_id=T-9)"), ("refund_order", "Refund $180.00 on A-1")]
        )
        for approval in pending:
            await guard.approvals.approve(approval.approval_id, decided_by="sam")
        outcome = await guard.resume(outcome.run_id, deps=shop)
        again = await guard.resume(outcome.run_id, deps=shop)  # a second resume changes nothing
        assert outcome.status == again.status == "completed"
        assert shop.refunds == [("A-1", "12.50"), ("A-1", "180.00")] and shop.closed == ["T-9"]
        trail = [(c.tool_name, c.verdict, c.status) for c in await guard.audit_trail(outcome.run_id)]
        assert sorted(trail) == snapshot(
            [
                ("close_ticket", "require_approval", "succeeded"),
                ("lookup_order", "allow", "succeeded"),
                ("refund_order", "allow", "succeeded"),
                ("refund_order", "require_approval", "succeeded"),
            ]
        )
        entries = await guard.ledger_entries(outcome.run_id)
        assert [e.step for e in entries] == [1, 2]
        assert {e.prompt_name for e in entries} == {"agent:support"}
        assert agent.name == "support"
    finally:
        await guard.aclose()


async def test_the_guard_as_a_capability_of_the_agent(tmp_path: Path) -> None:
    guard = _guard(tmp_path)
    agent = Agent(FunctionModel(scripted), deps_type=Shop, name="support", capabilities=[guard])

    @agent.tool_plain(metadata={"signoff": signoff.ToolSafety(destructive=False, requires_approval=False)})
    async def lookup_order(order_id: str) -> str:  # pyright: ignore[reportUnusedFunction]
        """Look an order up."""
        return f"order {order_id}: paid $200"

    @agent.tool(metadata={"signoff": signoff.ToolSafety()})
    async def refund_order(ctx: RunContext[Shop], order_id: str, amount_usd: Decimal) -> str:  # pyright: ignore[reportUnusedFunction]
        """Refund an order."""
        ctx.deps.refunds.append((order_id, str(amount_usd)))
        return "refunded"

    @agent.tool(metadata={"signoff": signoff.ToolSafety()})
    async def close_ticket(ctx: RunContext[Shop], ticket_id: str) -> str:  # pyright: ignore[reportUnusedFunction]
        """Close a support ticket."""
        return "closed"

    shop = Shop()
    try:
        outcome = await guard.run("Refund A-1", deps=shop)
        assert outcome.status == "awaiting_approval" and len(outcome.pending_approval_ids) == 3
        first, *rest = outcome.pending_approval_ids
        await guard.approvals.deny(first, decided_by="sam", reason="not this one")
        for approval_id in rest:
            await guard.approvals.deny(approval_id, decided_by="sam", reason="no")
        outcome = await guard.resume(outcome.run_id, deps=shop)
        assert outcome.status == "completed" and shop.refunds == []
    finally:
        await guard.aclose()


async def test_running_the_agent_around_the_guard_is_refused(tmp_path: Path) -> None:
    guard = _guard(tmp_path)
    agent = Agent(FunctionModel(scripted), deps_type=Shop, capabilities=[guard])
    with pytest.raises(UserError, match=r"start it with `await guard\.run"):
        await agent.run("Refund A-1", deps=Shop())
    await guard.aclose()


async def test_bad_safety_metadata_fails_before_any_run_naming_the_tool(tmp_path: Path) -> None:
    agent = Agent(FunctionModel(scripted))

    @agent.tool_plain(metadata={"signoff": signoff.ToolSafety(max_batch=5, batch_arg="ids")})
    async def delete_leads(lead_ids: list[str]) -> str:  # pyright: ignore[reportUnusedFunction]
        """Delete leads."""
        return "deleted"

    guard = _guard(tmp_path)
    guard.bind(agent)
    with pytest.raises(UserError, match="tool 'delete_leads': batch_arg 'ids' is not one of its parameters"):
        await guard.run("delete them")
    assert not (tmp_path / "guard.db").exists()  # nothing was stored: the error came first
    await guard.aclose()


async def test_a_policy_naming_a_tool_the_agent_lacks_is_refused(tmp_path: Path) -> None:
    config = signoff.PolicyConfig.model_validate({"tools": {"refund_ordr": {"max_batch": 1}}})
    guard = _guard(tmp_path, policy=config)
    guard.bind(build_agent())
    with pytest.raises(PolicyConfigError, match="no tool named 'refund_ordr'"):
        await guard.run("Refund A-1", deps=Shop())
    await guard.aclose()


def test_one_guard_guards_one_agent(tmp_path: Path) -> None:
    guard = _guard(tmp_path)
    guard.bind(build_agent())
    with pytest.raises(ValueError, match="already guards another agent"):
        guard.bind(build_agent())


async def test_a_guard_with_no_agent_says_so(tmp_path: Path) -> None:
    guard = _guard(tmp_path)
    with pytest.raises(RuntimeError, match="guards no agent yet"):
        await guard.run("anything")


async def test_a_pack_runtime_on_the_same_database_leaves_the_guards_runs_alone(tmp_path: Path) -> None:
    guard = _guard(tmp_path)
    guard.bind(build_agent())
    shop = Shop()
    pack = signoff.ToolPack(
        name="notes",
        description="One harmless tool.",
        build=lambda context: signoff.PackTools(
            tools=[
                signoff.ToolSpec(
                    name="note",
                    function=_note,
                    description="Write a note.",
                    destructive=False,
                    requires_approval=False,
                    approval_summary="note",
                )
            ]
        ),
    )
    engine = signoff.create_engine(guard.database_url)
    try:
        outcome = await guard.run("Refund A-1", deps=shop)
        for approval in await guard.approvals.list(run_id=outcome.run_id):
            await guard.approvals.approve(approval.approval_id, decided_by="sam")
        runtime = signoff.build_runtime(
            session_factory=await signoff.prepare_database(engine, [pack]),
            model=FunctionModel(scripted),
            policy=signoff.build_policy_engine(signoff.PolicyConfig()),
            prompt=signoff.PromptRegistry(root=Path(__file__).parents[2] / "examples" / "prompts").load("refund_agent"),
            packs=[pack],
            ledger_spool_path=tmp_path / "pack-spool.jsonl",
        )
        # Its recovery and its resume see a decided run it cannot drive: it is not theirs, so it is left as is.
        assert await runtime.runner.recover() == []
        assert (await runtime.runner.resume(outcome.run_id)).status == "awaiting_approval"
        assert (await guard.resume(outcome.run_id, deps=shop)).status == "completed"
    finally:
        await engine.dispose()
        await guard.aclose()


async def _note(text: str) -> str:
    return text
