"""Provider spend on the ledger: what a tool paid a vendor is a row beside the token rows, attributed to the
run, the tool call and the approval, whatever the call's outcome; and a tool that cannot know whether its
effect happened says so, and the call is `unknown`, never `failed`."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from inline_snapshot import snapshot
from pydantic_ai import Agent
from pydantic_ai.exceptions import ToolFailed
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import select

import signoff
from signoff.agent.costs import CostLine, cost_report
from signoff.agent.store.tables import ProviderChargeRow

_PRICE = Decimal("0.25")


def scripted(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Buys three reports, a lookup that pays and then fails, and one fax (which waits for approval)."""
    returns = [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)]
    if not returns:
        return ModelResponse(
            parts=[
                ToolCallPart("buy_reports", {"company": "acme", "count": 3}, tool_call_id="buy"),
                ToolCallPart("lookup_then_fail", {"company": "acme"}, tool_call_id="fail"),
                ToolCallPart("send_fax", {"number": "+1 555 0100", "text": "hello"}, tool_call_id="fax"),
            ]
        )
    return ModelResponse(parts=[TextPart("done")])


def build_agent() -> Agent[None, str]:
    agent = Agent(FunctionModel(scripted), name="buyer")
    safe = signoff.ToolSafety(destructive=False, requires_approval=False)

    @agent.tool_plain(metadata={"signoff": safe})
    async def buy_reports(company: str, count: int) -> str:  # pyright: ignore[reportUnusedFunction]
        """Buy company reports."""
        signoff.charge(provider="acme-data", item="report", units=count, unit_price_usd=_PRICE, price_version="v1")
        return f"{count} reports on {company}"

    @agent.tool_plain(metadata={"signoff": safe})
    async def lookup_then_fail(company: str) -> str:  # pyright: ignore[reportUnusedFunction]
        """A paid lookup whose answer cannot be used."""
        signoff.charge(provider="acme-data", item="report", units=1, unit_price_usd=_PRICE, price_version="v1")
        raise ToolFailed("the vendor's answer was empty")

    @agent.tool_plain(
        metadata={"signoff": signoff.ToolSafety(destructive=True, requires_approval=True, idempotent=False)}
    )
    async def send_fax(number: str, text: str) -> str:  # pyright: ignore[reportUnusedFunction]
        """Send a fax."""
        signoff.charge(provider="faxco", item="page", units=1, unit_price_usd=Decimal("0.07"), price_version="v1")
        raise signoff.OutcomeUnknown("the line dropped after the last page was sent")

    return agent


async def test_charges_are_ledger_rows_and_unknown_outcomes_stay_unknown(tmp_path: Path) -> None:
    guard = signoff.Guard(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", ledger_spool_path=tmp_path / "spool.jsonl")
    guard.bind(build_agent())
    try:
        outcome = await guard.run("buy and fax", requested_by="dana")
        [approval_id] = outcome.pending_approval_ids
        await guard.approvals.approve(approval_id, decided_by="sam")
        outcome = await guard.resume(outcome.run_id)

        trail = {c.tool_call_id: (c.status, c.error) for c in await guard.audit_trail(outcome.run_id)}
        assert trail["buy"] == ("succeeded", None)
        assert trail["fail"] == ("failed", "the vendor's answer was empty")
        assert trail["fax"] == (
            "unknown",
            "The outcome of this call is unknown: the line dropped after the last page was sent. It was not"
            " retried; a person must check whether it took effect.",
        )
        [fax] = await guard.approvals.list(run_id=outcome.run_id, states=("unknown",))
        assert fax.approval_id == approval_id

        runtime = await guard.open()
        async with runtime.session_factory() as session:
            rows = (await session.scalars(select(ProviderChargeRow).order_by(ProviderChargeRow.charge_id))).all()
            by_provider = await cost_report(session, group_by="provider")
            by_run = await cost_report(session, group_by="run")
        # Paid is paid: the failed lookup and the fax of unknown outcome cost money too.
        assert [
            (r.tool_call_id, r.approval_id == approval_id, r.provider, r.units, r.unit_price_usd, r.cost_usd)
            for r in rows
        ] == [
            ("buy", False, "acme-data", 3, Decimal("0.25"), Decimal("0.75")),
            ("fail", False, "acme-data", 1, Decimal("0.25"), Decimal("0.25")),
            ("fax", True, "faxco", 1, Decimal("0.07"), Decimal("0.07")),
        ]
        assert {r.run_id for r in rows} == {outcome.run_id}
        assert [(line.group, line.provider_cost_usd, line.provider_calls) for line in by_provider] == snapshot(
            [
                ("function:scripted:", Decimal("0"), 0),
                ("provider:acme-data", Decimal("1.00"), 2),
                ("provider:faxco", Decimal("0.07"), 1),
            ]
        )
        [run_line] = by_run
        assert (run_line.group, run_line.requests, run_line.provider_cost_usd) == (outcome.run_id, 2, Decimal("1.07"))
        # The function model has no price: the model spend is unknown, so the total is too (never a guess).
        assert (run_line.cost_usd, run_line.total_cost_usd) == (None, None)
        assert CostLine.total_of(by_provider).provider_cost_usd == Decimal("1.07")
    finally:
        await guard.aclose()


async def test_a_charge_outside_a_guarded_call_records_nothing() -> None:
    # A bare agent (or an unguarded evaluation) has no tab: the call is not an error, and nothing is stored.
    signoff.charge(provider="acme-data", item="report", units=2, unit_price_usd=_PRICE, price_version="v1")


def test_a_priced_line_totals_model_and_provider_spend() -> None:
    line = CostLine.total_of(
        [
            CostLine(
                group="a",
                requests=2,
                input_tokens=10,
                output_tokens=5,
                cache_read_tokens=0,
                cache_write_tokens=0,
                cost_usd=Decimal("0.012"),
                unpriced_requests=0,
            ),
            replace(CostLine.total_of([], group="b"), provider_cost_usd=Decimal("0.50"), provider_calls=1),
        ]
    )
    assert (line.cost_usd, line.provider_cost_usd, line.total_cost_usd) == (
        Decimal("0.012"),
        Decimal("0.50"),
        Decimal("0.512"),
    )
