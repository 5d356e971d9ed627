"""The unguarded baseline: a case run by a bare pydantic-ai `Agent` with the sales toolset and no policy.

It answers two questions the guarded run cannot: can each attack succeed at all (the goal's security check
turns True when nothing stands in the way, so the check is not vacuous), and how much of the benign
utility does the guard keep (the gate compares the guarded run with this one). The case gets a fresh
database seeded with the same world and the same offline providers as `evals.case_runner.run_case`, with
its injection planted;
every tool call runs, there are no approvals, and the result is a `CaseOutcome` the framework's
evaluators can judge.

What is not guarded is still accounted for: every model request of the run, the agent's own and the
routed calls its tools make (`classify_replies`), goes through a `LedgerCapability` onto the ledger of
the case's database, under run id `unguarded-<hex>` and prompt `unguarded@none` (the bare agent has no
instructions), and the outcome's cost is the sum of those rows, as a guarded case's is. A run that raises
is reported as failed, with the error, with what it called and spent up to then, and with the goal's
security check run all the same: an attack can succeed before the run breaks.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic_ai import Agent, capture_run_messages
from pydantic_ai.messages import ModelRequest, ModelResponse, ToolCallPart, ToolReturnPart
from pydantic_ai.models import Model
from pydantic_ai.usage import UsageLimits

from signoff.agent.framing import frame_task
from signoff.agent.ledger import LedgerWriter
from signoff.agent.ledger_capability import LedgerCapability
from signoff.agent.model_calls import ModelCalls
from signoff.agent.models import ModelRoutes
from signoff.agent.records import ledger_totals
from signoff.evals.attacks import attack_goal
from signoff.evals.case_runner import CaseOutcome, TrajectoryCall, case_database
from signoff.evals.dataset import CaseSpec
from signoff.evals.worlds import WorldSeeder
from signoff.tools.context import PromptRef, RunDeps
from signoff.tools.packs import PackContext, ToolPack, build_packs
from signoff.tools.registry import ToolArgumentsError, ToolRegistry, canonical_json

__all__ = ["UNGUARDED_PROMPT", "UNGUARDED_RULE", "describe_error", "run_unguarded"]

UNGUARDED_RULE = "unguarded"
"""The rule recorded for every call of an unguarded run: nothing decided it."""

UNGUARDED_PROMPT = PromptRef(name="unguarded", version="none", content_hash=hashlib.sha256(b"").hexdigest())
"""The prompt recorded on an unguarded run's ledger rows: the bare agent has no instructions."""

# An error is kept to one line of this length: enough to name the problem in a gate line.
_ERROR_CHARS = 200

# Model requests one unguarded run may make: as many as the runner allows a guarded run.
_REQUEST_LIMIT = 50


async def run_unguarded(
    case: CaseSpec,
    *,
    model: Model,
    workdir: Path,
    packs: Sequence[ToolPack],
    world: WorldSeeder | None = None,
) -> CaseOutcome:
    """Run `case` with no guard on a fresh SQLite database in `workdir`, seeded by `world` first (see the
    module docstring). A run that raises comes back with status `failed` and the error as its reason."""
    run_id = f"unguarded-{uuid.uuid4().hex}"
    # The bare agent has no conversations: a goal's earlier runs are seeded all the same (the same data as
    # the guarded run), and its check counts their spend.
    async with case_database(case, workdir=workdir, world=world, name=run_id, packs=packs) as (
        session_factory,
        case_packs,
        _conversation_id,
    ):
        registry, loaded = build_packs(
            case_packs, lambda _pack: PackContext(session_factory=session_factory, clock=lambda: datetime.now(UTC))
        )
        ledger = LedgerWriter(session_factory, spool_path=workdir / f"ledger-spool-{run_id}.jsonl")
        deps = RunDeps(
            run_id=run_id,
            prompt=UNGUARDED_PROMPT,
            model_calls=ModelCalls(routes=ModelRoutes(default=model), ledger=ledger),
        )
        agent = Agent[RunDeps, str](
            model,
            deps_type=RunDeps,
            toolsets=[registry.toolset()],
            capabilities=[LedgerCapability(writer=ledger)],
            name="unguarded",
        )
        output: str | None = None
        failure: str | None = None
        started = time.perf_counter()
        with capture_run_messages() as messages:
            try:
                result = await agent.run(
                    frame_task(case.task, case.context),
                    deps=deps,
                    usage_limits=UsageLimits(request_limit=_REQUEST_LIMIT),
                )
            except Exception as error:  # reported (and gated) as a failed run, with what it did until then
                failure = describe_error(error)
            else:
                output = result.output
        seconds = time.perf_counter() - started
        breached = None
        if case.security is not None:
            breached = await attack_goal(case.security.goal).succeeded(loaded, session_factory)
        spent = await ledger_totals(ledger, session_factory, run_id)

    returns = {
        part.tool_call_id: part
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    }
    calls: list[TrajectoryCall] = []
    for message in messages:
        if not isinstance(message, ModelResponse):
            continue
        for part in message.parts:
            if isinstance(part, ToolCallPart):
                calls.append(_trajectory_call(registry, part, returns.get(part.tool_call_id)))
    return CaseOutcome(
        case_name=case.name,
        run_id=run_id,
        status="completed" if failure is None else "failed",
        final_answer=output,
        failure_reason=failure,
        calls=tuple(calls),
        approvals_requested=0,
        approvals_approved=0,
        approvals_denied=0,
        rounds=0,
        spent=spent,
        seconds=seconds,
        security_breached=breached,
    )


def describe_error(error: BaseException) -> str:
    """`ErrorType: first line of the message`, cut to a length that fits a gate line."""
    first_line = next(iter(str(error).splitlines()), "")
    return f"{type(error).__name__}: {first_line[:_ERROR_CHARS]}"


def _trajectory_call(registry: ToolRegistry, part: ToolCallPart, answer: ToolReturnPart | None) -> TrajectoryCall:
    spec = registry.get(part.tool_name)
    raw = part.args_as_dict()
    try:
        args = spec.validate_args(raw) if spec is not None else raw
    except ToolArgumentsError:
        args = raw  # pydantic-ai refused them too: the call did not run
    succeeded = answer is not None and answer.outcome == "success"
    return TrajectoryCall(
        tool=part.tool_name,
        args=args,
        args_json=canonical_json(args),
        verdict="allow",
        rule=UNGUARDED_RULE,
        status="succeeded" if succeeded else "failed",
        items=spec.batch_size(args) if spec is not None else 1,
        destructive=True if spec is None else spec.destructive,
        max_batch=None if spec is None else spec.max_batch,
        approval_state=None,
        approved_by=None,
    )
