"""`replay:PATH` with a recording made from Claude: the real SDK over HTTP to the Messages API double,
configured through `ANTHROPIC_API_KEY` / `ANTHROPIC_BASE_URL` as a user would, then replayed with no
network. The case reads a contact, syncs two contacts to the CRM (which needs approval) and answers."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import models
from pydantic_ai.models.anthropic import AnthropicModel
from sqlalchemy import select

from signoff.agent.store.engine import SessionFactory, create_engine, create_session_factory
from signoff.agent.store.tables import LedgerRow
from signoff.api.dev.anthropic_double import MessagesDouble, RecordedExchange, Reply, ToolUse
from signoff.api.settings import Settings
from signoff.evals.case_runner import CaseOutcome, run_case
from signoff.evals.dataset import CaseSpec
from signoff.evals.models import RECORDING_FORMAT, RecordingModel, resolve_model
from signoff.evals.run import resolve_prompt
from signoff.policies import PolicyEngine
from signoff.tools.sales import offline_providers
from signoff.tools.sales.models import Contact
from tests.agent.helpers import contacts
from tests.anthropic.support import IGNORE_SONNET_DEPRECATION, answered, hand_priced, ledger_tokens, reported_tokens
from tests.evals.support import SALES_CATALOG, SALES_PACKS, write_dataset
from tests.support.cli import Signoff

pytestmark = IGNORE_SONNET_DEPRECATION

SONNET = "anthropic:claude-sonnet-4-5"
PROMPT = resolve_prompt("sales_agent@1", packs=SALES_PACKS)
# Any non-empty key: the double checks that one is sent, not which.
TEST_API_KEY = "test"
ANSWER = "Looked up person0 and synced 2 contacts to the CRM."
CASE: dict[str, Any] = {
    "name": "read-sync-answer",
    "task": "look up person0@acme.example, then add the two Acme contacts to the CRM",
    "expect": {
        "must_call": [
            {"tool": "get_contact", "args": {"email": "person0@acme.example"}, "approval": "none"},
            {"tool": "sync_contacts_to_crm", "args": {"contacts": contacts(2)}, "approval": "required"},
        ],
        "must_not_call": [{"tool": "send_email"}],
        "decisions": [{"tool": "sync_contacts_to_crm", "verdict": "require_approval"}],
        "final_answer": {"contains": ["synced 2 contacts"]},
        "max_cost_usd": 0.10,
        "max_seconds": 60,
    },
}
# The task evaluators have no default threshold: without these a failing case would not fail the gates.
GATES = [f"--threshold={name}=1" for name in ("completed", "trajectory", "final_answer", "cost_budget")]


def _script() -> list[Reply]:
    return [
        Reply(tool_uses=[ToolUse("get_contact", {"email": "person0@acme.example"})]),
        Reply(text="Syncing the two contacts.", tool_uses=[ToolUse("sync_contacts_to_crm", {"contacts": contacts(2)})]),
        Reply(text=ANSWER),
    ]


@pytest.fixture(autouse=True)
def no_anthropic_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets reaches the SDK: no key or URL from the developer's shell."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_PROFILE"):
        monkeypatch.delenv(name, raising=False)


def _point_at(monkeypatch: pytest.MonkeyPatch, base_url: str) -> None:
    """Configure Claude as a user would, and let pydantic-ai send to it (the suite blocks model requests;
    every request here goes to the double on 127.0.0.1)."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", base_url)
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)


def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, no URL and model requests blocked again: a replay that reached for Claude would fail."""
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.delenv("ANTHROPIC_BASE_URL")
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", False)


def _run_cost(exchanges: list[RecordedExchange]) -> Decimal:
    return sum((hand_priced(exchange.usage or {}) for exchange in exchanges), start=Decimal(0))


def _case_side(payload: dict[str, Any]) -> dict[str, Any]:
    [case] = payload["report"]["cases"]
    assert case["case"] == CASE["name"]
    side: dict[str, Any] = case["candidate"]
    return side


def test_a_case_recorded_from_claude_replays_from_the_command_line(
    signoff: Signoff, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fixture's environment clears the Anthropic settings per command; here they come from the process
    # environment instead, where a user's shell puts them.
    cli = replace(signoff, env={k: v for k, v in signoff.env.items() if not k.startswith("ANTHROPIC_")})
    dataset = str(write_dataset(tmp_path / "datasets", [CASE], name="claude-replay"))
    recording = tmp_path / "recordings" / "claude.json"
    double = MessagesDouble(_script())

    with double.serve() as base_url:
        _point_at(monkeypatch, base_url)
        recorded = cli.json(
            "eval", "run", dataset, "--prompt", "sales_agent@1", "--model", SONNET, "--record", str(recording), *GATES
        )
    exchanges = answered(double.exchanges)
    assert len(exchanges) == len(double.exchanges) == 3  # every request was answered, none retried
    assert recorded["passed"] is True, recorded["report"]["gates"]["failures"]
    assert recorded["model"] == SONNET
    side = _case_side(recorded)
    assert (side["passed"], side["runs"], side["problems"]) == (1, 1, [])
    assert (side["model_requests"], side["approvals_requested"], side["denials"]) == (3, 1, 0)
    assert side["cost_usd"] == str(_run_cost(exchanges))

    document = json.loads(recording.read_text())
    assert document["format"] == RECORDING_FORMAT
    assert len(document["responses"]) == 3  # one key per request of the run
    stored = [response for responses in document["responses"].values() for response in responses]
    assert {(r["model_name"], r["provider_name"]) for r in stored} == {("claude-sonnet-4-5", "anthropic")}
    # The usage Claude reported is kept with each response (pydantic-ai's `details` hold Anthropic's own fields).
    assert sorted(r["usage"]["details"]["output_tokens"] for r in stored) == sorted(
        (e.usage or {})["output_tokens"] for e in exchanges
    )

    # The double is stopped, the key and URL are gone and model requests are blocked.
    _offline(monkeypatch)
    replayed = cli.json("eval", "run", dataset, "--prompt", "sales_agent@1", "--model", f"replay:{recording}", *GATES)

    assert len(double.exchanges) == 3
    assert replayed["passed"] is True, replayed["report"]["gates"]["failures"]
    assert replayed["model"] == f"replay:{recording}"
    replayed_side = _case_side(replayed)
    for figure in ("passed", "runs", "evaluators", "model_requests", "approvals_requested", "denials", "problems"):
        assert replayed_side[figure] == side[figure], figure
    # Priced from the recorded usage as the recorded model: the same cost, though nothing was spent.
    assert replayed_side["cost_usd"] == side["cost_usd"]
    assert replayed["report"]["eval_cost_usd"] == recorded["report"]["eval_cost_usd"] == side["cost_usd"]


def _trajectory(outcome: CaseOutcome) -> list[tuple[str, dict[str, Any], str, str, str | None, str | None]]:
    return [(c.tool, c.args, c.verdict, c.status, c.approval_state, c.approved_by) for c in outcome.calls]


def _case_database(workdir: Path) -> Path:
    """The SQLite file of the one case run in `workdir` (each case has a database of its own there)."""
    [database] = workdir.glob("case-*.db")
    return database


async def _ledger_rows(database: Path) -> list[LedgerRow]:
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        async with create_session_factory(engine)() as session:
            return list((await session.execute(select(LedgerRow).order_by(LedgerRow.step))).scalars())
    finally:
        await engine.dispose()


def _row_view(row: LedgerRow) -> dict[str, Any]:
    return {
        "step": row.step,
        "model_name": row.model_name,
        "provider_name": row.provider_name,
        "attempt_status": row.attempt_status,
        "cost_usd": row.cost_usd,
        "price_data_version": row.price_data_version,
        **ledger_tokens(row),
    }


@dataclass(frozen=True, kw_only=True)
class Workdirs:
    """Where the recording run and the replay keep their case databases (and the recording file)."""

    recorded: Path
    replayed: Path


@pytest.fixture
def workdirs(tmp_path: Path) -> Workdirs:
    made = Workdirs(recorded=tmp_path / "recorded", replayed=tmp_path / "replayed")
    made.recorded.mkdir()
    made.replayed.mkdir()
    return made


@dataclass(frozen=True, kw_only=True)
class Recorded:
    """A case recorded from Claude through the double: the file, the run's outcome and what the double answered."""

    path: Path
    outcome: CaseOutcome
    exchanges: list[RecordedExchange]


async def _record(case: CaseSpec, double: MessagesDouble, *, policy: PolicyEngine, workdir: Path) -> Recorded:
    """Run `case` on Claude (as `--model anthropic:... --record PATH` builds it), the environment already
    pointing at the served `double`."""
    path = workdir / "claude.json"
    # The CLI passes the options its settings read from the environment; so does this.
    claude = resolve_model(SONNET, record_to=path, claude=Settings().claude_options()).build()
    assert isinstance(claude, RecordingModel) and isinstance(claude.wrapped, AnthropicModel)
    try:
        outcome = await run_case(case, model=claude, prompt=PROMPT, policy=policy, workdir=workdir, packs=SALES_PACKS)
    finally:
        await claude.wrapped.client.close()
    exchanges = answered(double.exchanges)
    assert len(exchanges) == len(double.exchanges) == 3
    return Recorded(path=path, outcome=outcome, exchanges=exchanges)


async def _replay(
    case: CaseSpec, recording: Path, *, policy: PolicyEngine, workdir: Path, **kwargs: Any
) -> CaseOutcome:
    model = resolve_model(f"replay:{recording}").build()
    return await run_case(case, model=model, prompt=PROMPT, policy=policy, workdir=workdir, **kwargs, packs=SALES_PACKS)


async def test_replayed_ledger_rows_carry_the_recorded_tokens_priced_as_the_recorded_model(
    workdirs: Workdirs, policy: PolicyEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CaseSpec.model_validate(CASE, context={"catalog": SALES_CATALOG})
    double = MessagesDouble(_script())
    with double.serve() as base_url:
        _point_at(monkeypatch, base_url)
        recording = await _record(case, double, policy=policy, workdir=workdirs.recorded)
        # The double keeps running and the environment still points at it: replay must use neither.
        replayed = await _replay(case, recording.path, policy=policy, workdir=workdirs.replayed)
        assert len(double.exchanges) == 3

    recorded = recording.outcome
    assert (recorded.status, recorded.final_answer, recorded.failure_reason) == ("completed", ANSWER, None)
    assert (replayed.status, replayed.final_answer, replayed.failure_reason) == ("completed", ANSWER, None)
    assert _trajectory(recorded) == [
        ("get_contact", {"email": "person0@acme.example"}, "allow", "succeeded", None, None),
        (
            "sync_contacts_to_crm",
            {"contacts": [contact | {"title": None} for contact in contacts(2)]},  # as validated: defaults in
            "require_approval",
            "succeeded",
            "executed",
            "evals:simulated-approver",
        ),
    ]
    assert _trajectory(replayed) == _trajectory(recorded)

    recorded_rows = await _ledger_rows(_case_database(workdirs.recorded))
    replayed_rows = await _ledger_rows(_case_database(workdirs.replayed))
    assert [_row_view(row) for row in replayed_rows] == [_row_view(row) for row in recorded_rows]
    for row, exchange in zip(replayed_rows, recording.exchanges, strict=True):
        assert ledger_tokens(row) == reported_tokens(exchange)
        assert (row.model_name, row.provider_name) == ("claude-sonnet-4-5", "anthropic")
        assert row.cost_usd == hand_priced(exchange.usage or {})
        # No SDK saw a `request-id` header under replay: the row keeps the recorded message id (`msg_...`),
        # where the recording run stored Anthropic's request id (`req_...`) as every Claude run does.
        assert row.provider_request_id is not None and row.provider_request_id.startswith("msg_")
    assert all(row.provider_request_id and row.provider_request_id.startswith("req_") for row in recorded_rows)
    assert replayed.cost_usd == recorded.cost_usd == _run_cost(recording.exchanges)


async def _person0_already_in_the_crm(session_factory: SessionFactory) -> None:
    await offline_providers(session_factory).crm.upsert_contacts([Contact.model_validate(contacts(1)[0])])


async def test_a_tool_output_that_differs_from_the_recording_fails_the_replay(
    workdirs: Workdirs, policy: PolicyEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CaseSpec.model_validate(CASE, context={"catalog": SALES_CATALOG})
    double = MessagesDouble(_script())
    with double.serve() as base_url:
        _point_at(monkeypatch, base_url)
        recording = await _record(case, double, policy=policy, workdir=workdirs.recorded)
    _offline(monkeypatch)

    # The first request finds its response; the second carries get_contact's output, which now finds person0.
    replayed = await _replay(
        case, recording.path, policy=policy, workdir=workdirs.replayed, world=_person0_already_in_the_crm
    )

    assert replayed.status == "failed"
    assert replayed.failure_reason is not None
    assert replayed.failure_reason.startswith("ReplayMissingError: replay: no recorded response for this request")
    assert [(call.tool, call.status) for call in replayed.calls] == [("get_contact", "succeeded")]
    assert replayed.approvals_requested == 0  # nothing was guessed: the sync was never asked for
