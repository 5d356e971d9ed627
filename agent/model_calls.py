"""Short model calls tools make for a run (a summary, a classification), on the model routed for them.

A call is a one-shot pydantic-ai `Agent` with the routed model and a `LedgerCapability` whose purpose is
the kind of work, sharing the run's `RunDeps`: its tokens land in the ledger on the run that caused them,
numbered in the run's sequence of steps, with the model that answered. A planning model stays on
planning; a cheap model does the summaries.

The text to summarise or classify is the user message of the call; `instructions` come from the
calling tool's code, never from that text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from pydantic_ai import Agent

from agent.deps import RunDeps
from agent.ledger import LedgerCapability, LedgerWriter
from agent.models import ModelPurpose, ModelRoutes

__all__ = ["ModelCalls"]


@dataclass(kw_only=True)
class ModelCalls:
    """Makes routed one-shot model calls on behalf of a run."""

    routes: ModelRoutes
    ledger: LedgerWriter
    max_run_cost_usd: Decimal | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def complete(self, purpose: ModelPurpose, *, instructions: str, content: str, deps: RunDeps) -> str:
        """The routed model's text answer to `content` under `instructions`, charged to `deps.run_id`."""
        agent = Agent[RunDeps, str](
            self.routes.model_for(purpose),
            deps_type=RunDeps,
            output_type=str,
            instructions=instructions,
            capabilities=[
                LedgerCapability(
                    writer=self.ledger, purpose=purpose, max_run_cost_usd=self.max_run_cost_usd, clock=self.clock
                )
            ],
            name=f"signoff-{purpose}",
        )
        result = await agent.run(content, deps=deps)
        return result.output
