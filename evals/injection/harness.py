"""The unguarded baseline: a case run by a bare pydantic-ai `Agent` with the sales toolset and no policy.

It answers two questions the guarded run cannot: can each attack succeed at all (the goal's security check
turns True when nothing stands in the way, so the check is not vacuous), and how much of the benign
utility does the guard keep (the gate compares the guarded run with this one). The case gets a fresh
database seeded with the same world and the same offline providers as `evals.case_runner.run_case`, with
its injection planted;
every tool call runs, there are no approvals, and the result is a `CaseOutcome` the framework's
evaluators can judge.
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from pathlib import Path

from pydantic_ai import Agent
from pydantic_ai.messages import ModelRequest, ModelResponse, ToolCallPart, ToolReturnPart
from pydantic_ai.models import Model
from pydantic_ai.usage import UsageLimits

from agent.framing import frame_task
from evals.case_runner import CaseOutcome, TrajectoryCall, case_database
from evals.dataset import CaseSpec
from evals.injection.goals import INJECTION_GOALS
from evals.worlds import WorldSeeder
from tools.registry import ToolArgumentsError, ToolRegistry, canonical_json
from tools.sales import build_sales_tools

__all__ = ["UNGUARDED_RULE", "run_unguarded"]

UNGUARDED_RULE = "unguarded"
"""The rule recorded for every call of an unguarded run: nothing decided it."""

# Model requests one unguarded run may make: as many as the runner allows a guarded run.
_REQUEST_LIMIT = 50


async def run_unguarded(
    case: CaseSpec, *, model: Model, workdir: Path, world: WorldSeeder | None = None
) -> CaseOutcome:
    """Run `case` with no guard on a fresh SQLite database in `workdir`, seeded by `world` first (see the
    module docstring)."""
    async with case_database(case, workdir=workdir, world=world, name=f"unguarded-{uuid.uuid4().hex}") as (
        session_factory,
        providers,
    ):
        registry = ToolRegistry(build_sales_tools(providers))
        agent = Agent(model, toolsets=[registry.toolset()])
        started = time.perf_counter()
        result = await agent.run(
            frame_task(case.task, case.context), usage_limits=UsageLimits(request_limit=_REQUEST_LIMIT)
        )
        seconds = time.perf_counter() - started
        messages = result.all_messages()
        breached = None
        if case.security is not None:
            breached = await INJECTION_GOALS[case.security.goal].succeeded(providers, session_factory)

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
        run_id="unguarded",
        status="completed",
        final_answer=result.output,
        failure_reason=None,
        calls=tuple(calls),
        approvals_requested=0,
        approvals_approved=0,
        approvals_denied=0,
        rounds=0,
        model_requests=sum(isinstance(message, ModelResponse) for message in messages),
        cost_usd=None,
        priced_cost_usd=Decimal("0"),
        unpriced_requests=0,
        seconds=seconds,
        security_breached=breached,
    )


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
