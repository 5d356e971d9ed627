"""The cost ledger: a row per model request, exact Decimal prices, totals equal pydantic-ai's usage."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic_ai.messages import ModelMessagesTypeAdapter, ModelResponse
from sqlalchemy import select

from signoff.agent.costs import cost_report
from signoff.agent.ledger import LedgerWriter
from signoff.agent.runs import RunnerSettings
from signoff.agent.store import runs as run_store
from signoff.agent.store.engine import SessionFactory, create_engine, create_session_factory
from signoff.agent.store.tables import LedgerRow
from tests.agent.helpers import contacts
from tests.conftest import RuntimeFactory
from tests.support.clock import FakeClock
from tests.support.ledger import ledger_entry
from tests.support.scripted import ScriptedModel, call, text

# genai-prices' Claude Sonnet 4.5 prices for prompts under 200k tokens, per token.
SONNET_INPUT_USD = Decimal("3") / 1_000_000
SONNET_OUTPUT_USD = Decimal("15") / 1_000_000


def _priced_model() -> ScriptedModel:
    return ScriptedModel(
        [
            [call("get_contact", {"email": "person0@acme.example"}, "read-1")],
            [call("discover_leads", {"icp": {"industry": "fintech", "location": "Berlin"}, "limit": 3}, "read-2")],
            [call("sync_contacts_to_crm", {"contacts": contacts(2)}, "write-1")],
            [text("All done.")],
        ],
        model_name="claude-sonnet-4-5",
    )


async def test_ledger_totals_equal_pydantic_ai_usage_and_costs_are_exact_decimals(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    run_ids: list[str] = []
    for task in ("first task: fintech in Berlin", "second task: fintech in Berlin"):
        runtime = make_runtime(_priced_model().model)
        outcome = await runtime.runner.start(task)
        await runtime.approvals.approve(outcome.pending_approval_ids[0], decided_by="ivan")
        assert (await runtime.runner.resume(outcome.run_id)).status == "completed"
        run_ids.append(outcome.run_id)

    async with session_factory() as session:
        rows = list((await session.execute(select(LedgerRow).order_by(LedgerRow.ledger_id))).scalars())
        histories = [(await run_store.get_run(session, run_id=run_id)) for run_id in run_ids]
    responses = [
        message
        for run in histories
        for message in ModelMessagesTypeAdapter.validate_json(run.message_history if run else "[]")
        if isinstance(message, ModelResponse)
    ]
    assert len(rows) == len(responses) == 8
    assert sum(r.input_tokens for r in rows) == sum(m.usage.input_tokens for m in responses)
    assert sum(r.output_tokens for r in rows) == sum(m.usage.output_tokens for m in responses)
    for run_id in run_ids:
        assert [r.step for r in rows if r.run_id == run_id] == [1, 2, 3, 4]  # steps continue across the pause
    for row in rows:
        assert isinstance(row.cost_usd, Decimal)
        assert row.cost_usd == row.input_tokens * SONNET_INPUT_USD + row.output_tokens * SONNET_OUTPUT_USD
        assert row.prompt_name == "sales_agent" and row.prompt_hash.startswith("sha256:")
        assert row.model_name == "claude-sonnet-4-5"

    async with session_factory() as session:
        by_run = await cost_report(session, group_by="run")
        by_model = await cost_report(session, group_by="model")
        by_prompt = await cost_report(session, group_by="prompt")
        by_day = await cost_report(session, group_by="day")
    total = sum((r.cost_usd for r in rows if r.cost_usd is not None), start=Decimal(0))
    assert {line.group for line in by_run} == set(run_ids)
    assert [line.group for line in by_model] == ["claude-sonnet-4-5"]
    assert [line.group for line in by_prompt] == ["sales_agent@1"]
    assert len(by_day) == 1
    for report in (by_run, by_model, by_prompt, by_day):
        assert sum((line.cost_usd or Decimal(0) for line in report), start=Decimal(0)) == total
        assert sum(line.requests for line in report) == 8


async def test_unknown_model_price_is_null_never_zero(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    runtime = make_runtime(ScriptedModel([[text("hi")]], model_name="no-such-model-anywhere").model)
    outcome = await runtime.runner.start("say hi")
    assert outcome.status == "completed"
    async with session_factory() as session:
        rows = list((await session.execute(select(LedgerRow))).scalars())
        report = await cost_report(session, group_by="model")
    assert [r.cost_usd for r in rows] == [None]
    assert [(line.cost_usd, line.unpriced_requests) for line in report] == [(None, 1)]


async def test_hard_run_cost_limit_fails_the_run_before_the_next_request(
    make_runtime: RuntimeFactory, session_factory: SessionFactory
) -> None:
    model = _priced_model()
    runtime = make_runtime(model.model, settings=RunnerSettings(max_run_cost_usd=Decimal("0.000001")))
    outcome = await runtime.runner.start("a task that costs money")
    assert outcome.status == "failed"
    assert outcome.failure_reason is not None and "cost limit" in outcome.failure_reason
    assert len(model.requests) == 1  # the second request was never sent


async def test_ledger_write_failure_spools_and_is_replayed(
    session_factory: SessionFactory, tmp_path: Path, clock: FakeClock
) -> None:
    broken_engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'nope.db'}")
    spool = tmp_path / "spool.jsonl"
    entry = ledger_entry(provider_request_id="req_1", cost_usd=Decimal("0.000105"), created_at=clock())
    try:
        await LedgerWriter(create_session_factory(broken_engine), spool_path=spool).record(entry)  # must not raise
    finally:
        await broken_engine.dispose()
    assert spool.exists()

    assert await LedgerWriter(session_factory, spool_path=spool).flush_spool() == 1
    assert not spool.exists()
    async with session_factory() as session:
        rows = list((await session.execute(select(LedgerRow))).scalars())
    assert [(r.run_id, r.provider_request_id, r.cost_usd, r.created_at) for r in rows] == [
        ("run-1", "req_1", Decimal("0.000105"), clock())
    ]


@pytest.mark.parametrize("value", [Decimal("0.000000000001"), Decimal("1234.5678"), Decimal("0")])
async def test_money_round_trips_exactly(
    session_factory: SessionFactory, clock: FakeClock, value: Decimal, tmp_path: Path
) -> None:
    writer = LedgerWriter(session_factory, spool_path=tmp_path / "spool.jsonl")
    await writer.record(ledger_entry(cost_usd=value, created_at=clock()))
    async with session_factory() as session:
        assert (await session.execute(select(LedgerRow.cost_usd))).scalar_one() == value
