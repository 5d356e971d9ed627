"""Your own tool, guarded by Signoff: a refund that needs a person above $50.

Run it with `python examples/guarded_tools.py`. It needs no network and no key: a scripted pydantic-ai
`FunctionModel` stands in for Claude and asks for two refunds. The small one runs at once; the large one
waits for approval, is approved as a person would approve it, and then runs exactly once. At the end the
script prints the audit trail and the ledger of the run. Everything it uses is `signoff`'s public API.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

import signoff

PROMPTS = Path(__file__).parent / "prompts"
# Refunds up to this amount run without a person; larger ones wait for approval.
APPROVAL_THRESHOLD_USD = Decimal("50")

refunded: list[tuple[str, Decimal]] = []
"""The side effect this example makes: what a real tool would send to a payment provider."""


async def refund_order(order_id: str, amount_usd: Decimal) -> str:
    """Refund part or all of an order to the customer's original payment method."""
    refunded.append((order_id, amount_usd))
    return f"refunded ${amount_usd} on order {order_id}"


def _needs_a_person(args: Mapping[str, Any], facts: signoff.ApprovalFacts) -> bool:
    return Decimal(str(args["amount_usd"])) > APPROVAL_THRESHOLD_USD


REFUND = signoff.ToolSpec(
    name="refund_order",
    function=refund_order,
    description="Refund part or all of an order to the customer's original payment method.",
    destructive=True,
    requires_approval=_needs_a_person,
    approval_summary="Refund ${{ amount_usd }} on order {{ order_id }}",
)

REFUNDS_PACK = signoff.ToolPack(
    name="refunds",
    description="Refunds with an approval threshold.",
    build=lambda context: signoff.PackTools(tools=[REFUND]),
    prompt="refund_agent",  # its production version, from the pack's own prompts folder
    prompt_dir=PROMPTS,
)


def scripted_support_agent(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Stands in for Claude: asks for two refunds, then reports what the tools said."""
    returns = [part for message in messages for part in message.parts if isinstance(part, ToolReturnPart)]
    if not returns:
        return ModelResponse(
            parts=[
                ToolCallPart("refund_order", {"order_id": "A-1001", "amount_usd": "12.50"}, tool_call_id="small"),
                ToolCallPart("refund_order", {"order_id": "A-1002", "amount_usd": "180.00"}, tool_call_id="large"),
            ]
        )
    return ModelResponse(parts=[TextPart("; ".join(part.model_response_str() for part in returns))])


async def main(workdir: Path) -> signoff.RunOutcome:
    """Run the example in `workdir` (a SQLite file and the ledger's spool go there); the final outcome."""
    engine = signoff.create_engine(f"sqlite+aiosqlite:///{workdir / 'signoff.db'}")
    try:
        runtime = signoff.build_runtime(
            session_factory=await signoff.prepare_database(engine, [REFUNDS_PACK]),
            model=FunctionModel(scripted_support_agent),
            policy=signoff.build_policy_engine(signoff.PolicyConfig()),
            packs=[REFUNDS_PACK],
            ledger_spool_path=workdir / "ledger-spool.jsonl",
        )
        outcome = await runtime.runner.start("Refund A-1001 ($12.50) and A-1002 ($180).", requested_by="dana")
        print(f"{outcome.status}: {len(outcome.pending_approval_ids)} approval(s) waiting")
        for approval_id in outcome.pending_approval_ids:
            await runtime.approvals.approve(approval_id, decided_by="sam")
        outcome = await runtime.runner.resume(outcome.run_id)
        print(f"{outcome.status}: {outcome.output}")
        for call in await runtime.audit_trail(outcome.run_id):
            print(f"  {call.tool_name} {call.args} -> {call.verdict} ({call.rule}), {call.status}")
        totals = await runtime.ledger_totals(outcome.run_id)
        print(
            f"  {totals.requests} model requests, cost {totals.cost_usd if totals.cost_usd is not None else 'unknown'}"
        )
        return outcome
    finally:
        await engine.dispose()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        asyncio.run(main(Path(scratch)))
