"""Runs one evaluation case end to end, on a database of its own, and collects what happened.

A case gets a fresh SQLite file, seeded with the dataset's world when it names one (`evals.worlds`), a
runtime built exactly as production builds one (guard, policy, approvals, ledger, the dataset's tool
packs, with the case's injection planted by its attack goal when it has one, `evals.attacks`), and its
task. While the run waits for
approval, the `SimulatedApprover` decides every pending call: it approves a call only when its tool and
exact validated arguments match a call the case expects, and denies every other one (counted). The run is
then resumed, for at most `max_rounds` rounds.

The result, `CaseOutcome`, is the trajectory as the guard recorded it (every call with its arguments,
verdict, rule, status and approval), the final answer, approvals requested and denied, the ledger cost of
the run and its latency. The evaluators in `evals.evaluators` judge it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic_ai.models import Model

from signoff.agent.approvals import ApprovalAlreadyDecided, ApprovalRefused, ApprovalService
from signoff.agent.ledger import LedgerWriter
from signoff.agent.records import LedgerTotals, ledger_totals
from signoff.agent.runs import RunOutcome
from signoff.agent.runtime import build_runtime, prepare_database
from signoff.agent.store import approvals as approval_store
from signoff.agent.store import audit as audit_store
from signoff.agent.store.engine import SessionFactory, create_engine
from signoff.agent.store.tables import ApprovalRow
from signoff.evals.attacks import attack_goal
from signoff.evals.dataset import CaseSpec, ExpectedCall
from signoff.evals.worlds import WorldSeeder
from signoff.policies import PolicyEngine
from signoff.prompts import PromptTemplate
from signoff.tools.packs import ToolPack
from signoff.tools.registry import ToolRegistry

__all__ = [
    "DEFAULT_MAX_ROUNDS",
    "DENIAL_REASON",
    "EVAL_REQUESTER",
    "SIMULATED_APPROVER",
    "CaseOutcome",
    "SimulatedApprover",
    "TrajectoryCall",
    "run_case",
]

# Approve-and-resume rounds before a case is stopped: a task in the sales domain pauses once per write
# step (sync, campaign, enrollment, email), so a handful is plenty; more means the model loops on approvals.
DEFAULT_MAX_ROUNDS = 10
DENIAL_REASON = "not expected by the evaluation case"
SIMULATED_APPROVER = "evals:simulated-approver"
EVAL_REQUESTER = "evals"

# Audit statuses of a call whose tool ran (or may have run): anything but denied / waiting / not executed.
_EXECUTED_STATUSES = frozenset({"running", "succeeded", "failed", "unknown"})
_APPROVED_STATES = frozenset({"approved", "executing", "executed", "failed", "unknown"})


@dataclass(frozen=True, kw_only=True)
class TrajectoryCall:
    """One tool call as the guard recorded it, with the tool's metadata the evaluators need."""

    tool: str
    args: dict[str, Any]
    args_json: str
    verdict: str
    rule: str
    status: str
    items: int
    destructive: bool
    max_batch: int | None
    approval_state: str | None
    approved_by: str | None

    @property
    def executed(self) -> bool:
        """The tool ran (or may have run: failed and unknown calls count, to fail closed)."""
        return self.status in _EXECUTED_STATUSES

    @property
    def approval_requested(self) -> bool:
        return self.verdict == "require_approval"


@dataclass(frozen=True, kw_only=True)
class CaseOutcome:
    """What one run of a case did (the task output pydantic-evals hands to the evaluators)."""

    case_name: str
    run_id: str
    status: str
    final_answer: str | None
    failure_reason: str | None
    calls: tuple[TrajectoryCall, ...]
    approvals_requested: int
    approvals_approved: int
    approvals_denied: int
    rounds: int
    spent: LedgerTotals | None
    """The run's ledger totals; None when the run raised before its ledger could be read (cost unknown)."""
    seconds: float
    security_breached: bool | None = None
    """Injection cases: the goal's security check after the run (None for benign cases)."""

    @property
    def model_requests(self) -> int:
        return 0 if self.spent is None else self.spent.requests

    @property
    def cost_usd(self) -> Decimal | None:
        """Sum of the run's ledger rows; None when some request had no known price (never 0 for unknown),
        or when the ledger could not be read."""
        return None if self.spent is None else self.spent.cost_usd

    @property
    def priced_cost_usd(self) -> Decimal:
        """The part of the cost whose price is known (a lower bound when `cost_usd` is None)."""
        return Decimal(0) if self.spent is None else self.spent.priced_cost_usd

    @property
    def unpriced_requests(self) -> int:
        return 0 if self.spent is None else self.spent.unpriced_requests


@dataclass(kw_only=True)
class SimulatedApprover:
    """Approves a pending call only when its tool and exact arguments match an expected call; denies the rest.

    Each expected call approves at most one pending call, so a repeated call is not approved twice.
    """

    expected: Sequence[ExpectedCall]
    approved: int = 0
    denied: int = 0
    _unused: list[tuple[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        self._unused = [(call.tool, args_json) for call in self.expected if (args_json := call.args_json()) is not None]

    async def decide(self, approvals: ApprovalService, approval: ApprovalRow) -> Literal["approved", "denied"]:
        """Decide one pending approval through the approval service, exactly as a person would."""
        key = (approval.tool_name, approval.requested_args_json)
        reason = DENIAL_REASON
        if key in self._unused:
            try:
                await approvals.approve(
                    approval.approval_id, decided_by=SIMULATED_APPROVER, note="matches a call the case expects"
                )
            except ApprovalRefused as error:
                # The policy refuses the call at decision time; it cannot be approved, so it is denied.
                reason = f"{DENIAL_REASON} (the policy refuses it: {error})"
            else:
                self._unused.remove(key)
                self.approved += 1
                return "approved"
        await approvals.deny(approval.approval_id, decided_by=SIMULATED_APPROVER, reason=reason)
        self.denied += 1
        return "denied"


@asynccontextmanager
async def case_database(
    case: CaseSpec, *, workdir: Path, world: WorldSeeder | None, name: str, packs: Sequence[ToolPack]
) -> AsyncIterator[tuple[SessionFactory, list[ToolPack], str | None]]:
    """A fresh SQLite database `<name>.db` in `workdir`, migrated for `packs` and seeded by `world`, the
    packs to build the case's tools from (with the case's injection planted by its goal, if it has one),
    and the conversation the case's run continues (None: a new one); the engine is disposed afterwards.

    An injection goal with a `prepare` step seeds what came before the attacked run (earlier runs, their
    spend) after the world, and names their conversation; benign cases never get it. Guarded runs
    (`run_case`) and a suite's unguarded runs both start here, so the two see the same world and the same
    planted data.
    """
    engine = create_engine(f"sqlite+aiosqlite:///{workdir / f'{name}.db'}")
    try:
        session_factory = await prepare_database(engine, packs)
        if world is not None:
            await world(session_factory)
        planted = list(packs)
        conversation_id: str | None = None
        if case.injection is not None:
            goal = attack_goal(case.injection.goal)
            if goal.prepare is not None:
                conversation_id = await goal.prepare(session_factory)
            planted = goal.plant(planted, case.injection.vector)
        yield session_factory, planted, conversation_id
    finally:
        await engine.dispose()


async def run_case(
    case: CaseSpec,
    *,
    model: Model,
    prompt: PromptTemplate,
    policy: PolicyEngine,
    workdir: Path,
    packs: Sequence[ToolPack],
    world: WorldSeeder | None = None,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
) -> CaseOutcome:
    """Run `case` with these packs on a fresh SQLite database in `workdir`, seeded by `world` (the dataset's,
    `LoadedDataset.world`) first, and collect its outcome (see the module docstring)."""
    case_id = uuid.uuid4().hex
    async with case_database(case, workdir=workdir, world=world, name=f"case-{case_id}", packs=packs) as (
        session_factory,
        case_packs,
        conversation_id,
    ):
        runtime = build_runtime(
            session_factory=session_factory,
            model=model,
            policy=policy,
            prompt=prompt,
            packs=case_packs,
            ledger_spool_path=workdir / f"ledger-spool-{case_id}.jsonl",
        )
        approver = SimulatedApprover(expected=case.expect.must_call)
        started = time.perf_counter()
        outcome = await runtime.runner.start(
            case.task, context=case.context, requested_by=EVAL_REQUESTER, conversation_id=conversation_id
        )
        rounds = 0
        while outcome.status == "awaiting_approval" and rounds < max_rounds:
            rounds += 1
            outcome = await _decide_and_resume(runtime.approvals, runtime.runner.resume, outcome, approver)
        seconds = time.perf_counter() - started

        breached: bool | None = None
        if case.security is not None:
            breached = await attack_goal(case.security.goal).succeeded(runtime.packs, session_factory)
        return await _collect(
            case,
            outcome,
            session_factory=session_factory,
            ledger=runtime.ledger,
            registry=runtime.registry,
            approver=approver,
            rounds=rounds,
            seconds=seconds,
            breached=breached,
            max_rounds=max_rounds,
        )


async def _decide_and_resume(
    approvals: ApprovalService,
    resume: Callable[[str], Any],
    outcome: RunOutcome,
    approver: SimulatedApprover,
) -> RunOutcome:
    for approval_id in outcome.pending_approval_ids:
        approval = await approvals.get(approval_id)
        if approval.state != "pending":
            continue
        try:
            await approver.decide(approvals, approval)
        except ApprovalAlreadyDecided:
            continue  # expired meanwhile: the run goes on and the model is told
    resumed: RunOutcome = await resume(outcome.run_id)
    return resumed


async def _collect(
    case: CaseSpec,
    outcome: RunOutcome,
    *,
    session_factory: SessionFactory,
    ledger: LedgerWriter,
    registry: ToolRegistry,
    approver: SimulatedApprover,
    rounds: int,
    seconds: float,
    breached: bool | None,
    max_rounds: int,
) -> CaseOutcome:
    async with session_factory() as session:
        audit_rows = await audit_store.list_tool_calls(session, run_id=outcome.run_id)
        approvals = await approval_store.list_approvals(session, run_id=outcome.run_id, limit=10_000)
    spent = await ledger_totals(ledger, session_factory, outcome.run_id)
    by_call = {approval.tool_call_id: approval for approval in approvals}
    calls: list[TrajectoryCall] = []
    for row in audit_rows:
        spec = registry.get(row.tool_name)
        approval = by_call.get(row.tool_call_id)
        state = None if approval is None else approval.state
        calls.append(
            TrajectoryCall(
                tool=row.tool_name,
                args=json.loads(row.args_json),
                args_json=row.args_json,
                verdict=row.verdict,
                rule=row.rule,
                status=row.status,
                items=row.items,
                destructive=True if spec is None else spec.destructive,  # unknown tools: assume the worst
                max_batch=None if spec is None else spec.max_batch,
                approval_state=state,
                approved_by=approval.decided_by if approval is not None and state in _APPROVED_STATES else None,
            )
        )
    failure_reason = outcome.failure_reason
    if outcome.status == "awaiting_approval":
        failure_reason = f"still awaiting approval after {max_rounds} approval rounds"
    return CaseOutcome(
        case_name=case.name,
        run_id=outcome.run_id,
        status=outcome.status,
        final_answer=outcome.output,
        failure_reason=failure_reason,
        calls=tuple(calls),
        approvals_requested=len(approvals),
        approvals_approved=approver.approved,
        approvals_denied=approver.denied,
        rounds=rounds,
        spent=spent,
        seconds=seconds,
        security_breached=breached,
    )
