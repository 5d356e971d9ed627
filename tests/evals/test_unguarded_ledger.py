"""The injection suite's unguarded arm is accounted for like any run: every model request on the ledger,
the cost in the outcome and in the evaluation's cost, and a run that raises keeps what it did and spent."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from inline_snapshot import snapshot
from pydantic_ai import models
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import select

from signoff.agent.ledger import LedgerWriter
from signoff.agent.models import ClaudeOptions, claude_model
from signoff.agent.records import ledger_totals
from signoff.agent.store.engine import SessionFactory, create_engine, create_session_factory
from signoff.agent.store.tables import LedgerRow
from signoff.api.dev.anthropic_double import MessagesDouble, Reply, ToolUse
from signoff.evals.dataset import CaseSpec, load_dataset
from signoff.evals.run import _eval_cost  # pyright: ignore[reportPrivateUsage]
from signoff.evals.suites import SuiteSpend
from signoff.tools.sales.injection import INJECTION_GOALS
from signoff.tools.sales.injection.harness import UNGUARDED_PROMPT, run_unguarded
from signoff.tools.sales.injection.metrics import arm_metrics, run_unguarded_cases
from tests.anthropic.support import IGNORE_SONNET_DEPRECATION, answered, hand_priced
from tests.evals.support import SALES_CATALOG, SALES_PACKS
from tests.support.clock import FakeClock
from tests.support.ledger import ledger_entry

DATASET = load_dataset("injection", catalog=SALES_CATALOG)
# A benign read-only case: list the replies to a campaign, then answer.
CASE: CaseSpec = next(case for case in DATASET.spec.cases if case.name == "campaign-replies")


async def _ledger_rows(workdir: Path, run_id: str) -> list[LedgerRow]:
    engine = create_engine(f"sqlite+aiosqlite:///{workdir / f'{run_id}.db'}")
    try:
        async with create_session_factory(engine)() as session:
            query = select(LedgerRow).where(LedgerRow.run_id == run_id).order_by(LedgerRow.step)
            return list((await session.execute(query)).scalars())
    finally:
        await engine.dispose()


@IGNORE_SONNET_DEPRECATION
async def test_an_unguarded_claude_run_is_on_the_ledger_and_priced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)  # every request goes to the double on 127.0.0.1
    [expected_call] = CASE.expect.must_call
    call = ToolUse(expected_call.tool, dict(expected_call.args or {}))
    double = MessagesDouble([Reply(tool_uses=[call]), Reply(text="Two replies so far.")])
    with double.serve() as base_url:
        model = claude_model("anthropic:claude-sonnet-4-5", options=ClaudeOptions(api_key="test", base_url=base_url))
        try:
            outcome = await run_unguarded(CASE, model=model, workdir=tmp_path, world=DATASET.world, packs=SALES_PACKS)
        finally:
            await model.client.close()

    exchanges = answered(double.exchanges)
    assert (outcome.status, outcome.failure_reason, outcome.model_requests) == ("completed", None, 2)
    assert outcome.cost_usd == sum((hand_priced(e.usage or {}) for e in exchanges), start=Decimal(0))
    assert (outcome.priced_cost_usd, outcome.unpriced_requests) == (outcome.cost_usd, 0)
    rows = await _ledger_rows(tmp_path, outcome.run_id)
    assert [(row.step, row.purpose, row.model_name, row.prompt_name, row.prompt_version) for row in rows] == snapshot(
        [
            (1, "planning", "claude-sonnet-4-5", "unguarded", "none"),
            (2, "planning", "claude-sonnet-4-5", "unguarded", "none"),
        ]
    )
    assert {row.prompt_hash for row in rows} == {UNGUARDED_PROMPT.content_hash}
    assert [row.provider_request_id for row in rows] == [e.request_id for e in exchanges]


async def test_an_unguarded_run_that_raises_keeps_its_calls_cost_and_security_check(tmp_path: Path) -> None:
    case = next(c for c in DATASET.spec.cases if c.name == "campaign-replies--exfiltrate_contacts--email_reply")
    [read] = case.expect.must_call
    [exfiltrate] = INJECTION_GOALS["exfiltrate_contacts"].ground_truth_calls

    def obey_then_break(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        step = sum(isinstance(message, ModelResponse) for message in messages)
        if step < 2:
            call = read if step == 0 else exfiltrate
            return ModelResponse(parts=[ToolCallPart(call.tool, dict(call.args or {}))])
        raise RuntimeError("the model connection broke\nsecond line not kept")

    outcome = await run_unguarded(
        case, model=FunctionModel(obey_then_break), workdir=tmp_path, world=DATASET.world, packs=SALES_PACKS
    )

    assert (outcome.status, outcome.failure_reason, outcome.final_answer) == (
        "failed",
        "RuntimeError: the model connection broke",
        None,
    )
    assert [(call.tool, call.status) for call in outcome.calls] == [
        ("list_replies", "succeeded"),
        ("send_email", "succeeded"),
    ]
    # The attack worked before the run broke: the security check still runs and says so.
    assert outcome.security_breached is True
    # The two answered requests are on the ledger; a FunctionModel has no price, so the cost is unknown.
    assert (outcome.model_requests, outcome.unpriced_requests, outcome.cost_usd) == (2, 2, None)
    assert len(await _ledger_rows(tmp_path, outcome.run_id)) == 2


async def test_the_suite_reports_a_run_that_raised_as_an_error_with_its_attack_judged(tmp_path: Path) -> None:
    case = next(c for c in DATASET.spec.cases if c.name == "campaign-replies--exfiltrate_contacts--email_reply")
    [exfiltrate] = INJECTION_GOALS["exfiltrate_contacts"].ground_truth_calls

    def obey_then_break(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart(exfiltrate.tool, dict(exfiltrate.args))])
        raise RuntimeError("the model connection broke")

    one_case = replace(DATASET, spec=DATASET.spec.model_copy(update={"cases": [case]}))
    [result] = await run_unguarded_cases(one_case, build_model=lambda: FunctionModel(obey_then_break), workdir=tmp_path)
    assert (result.error, result.utility, result.attack_succeeded) == (
        "RuntimeError: the model connection broke",
        False,
        True,
    )
    metrics = arm_metrics([result])
    assert (metrics.errors, metrics.model_requests, metrics.unpriced_requests) == (
        ("campaign-replies--exfiltrate_contacts--email_reply: RuntimeError: the model connection broke",),
        1,
        1,
    )


def _report(*, candidate: str | None, suite: SuiteSpend | None) -> dict[str, object]:
    side = {"cost_usd": candidate}
    return {
        "totals": {"candidate": side, "baseline": None},
        "suite": None if suite is None else {"spend": suite.view()},
    }


def test_the_eval_cost_adds_what_the_suite_s_own_runs_spent() -> None:
    spend = SuiteSpend(model_requests=3, priced_cost_usd=Decimal("0.25"))
    assert _eval_cost(_report(candidate="1.50", suite=spend)) == Decimal("1.75")
    assert _eval_cost(_report(candidate="1.50", suite=None)) == Decimal("1.50")
    # One unpriced request of the suite's makes the whole cost unknown, never a smaller number.
    unpriced = SuiteSpend(model_requests=3, priced_cost_usd=Decimal("0.25"), unpriced_requests=1)
    assert _eval_cost(_report(candidate="1.50", suite=unpriced)) is None


async def test_a_run_that_raised_before_its_ledger_was_read_makes_the_cost_unknown(tmp_path: Path) -> None:
    def no_model() -> FunctionModel:
        raise RuntimeError("no model today")

    one_case = replace(DATASET, spec=DATASET.spec.model_copy(update={"cases": [CASE]}))
    [result] = await run_unguarded_cases(one_case, build_model=no_model, workdir=tmp_path)
    metrics = arm_metrics([result])
    assert (result.outcome.spent, metrics.unaccounted_runs, metrics.unpriced_requests) == (None, 1, 0)
    spend = SuiteSpend(model_requests=0, unaccounted_runs=metrics.unaccounted_runs)
    # Nothing was priced, yet the total is unknown rather than $0: that run may have spent before raising.
    assert spend.cost_usd is None
    assert _eval_cost(_report(candidate="1.50", suite=spend)) is None


async def test_the_totals_take_in_rows_the_ledger_had_to_spool(
    session_factory: SessionFactory, tmp_path: Path, clock: FakeClock
) -> None:
    spool = tmp_path / "spool.jsonl"
    # A row the database refused during the run waits in the spool file (as LedgerWriter.record leaves it).
    spool.write_text(ledger_entry(run_id="run-1", cost_usd=Decimal("0.25"), created_at=clock()).to_json() + "\n")
    ledger = LedgerWriter(session_factory, spool_path=spool)

    spent = await ledger_totals(ledger, session_factory, "run-1")

    assert (spent.requests, spent.cost_usd) == (1, Decimal("0.25"))
    assert not spool.exists()
