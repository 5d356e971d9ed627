"""Short model calls tools make for a run (a summary, a classification), on the model routed for them.

A call is a one-shot pydantic-ai `Agent` with the routed model and a `LedgerCapability` whose purpose is
the kind of work, sharing the run's `RunDeps`: its tokens land in the ledger on the run that caused them,
numbered in the run's sequence of steps, with the model that answered. A planning model stays on
planning; a cheap model does the summaries and classifications.

Tools reach this through `RunContext[RunDeps]`: `ctx.deps.model_calls` (set by the runner). The text to
summarise or classify is the user content of the call; `instructions` come from the calling tool
(rendered from its versioned prompt, with no values from that text), so they are the same bytes
whatever the data says. A call made with a `prompt` records that prompt's name, version and hash on its
ledger rows, so spend by prompt tells the classifier's requests from the run's planning; without one,
the rows carry the run's prompt.

A call that cannot be completed (the API failed after its retries, or the answer never passed
validation) raises `ToolFailed` with a one-line reason: the calling tool's model is told what failed
and adapts, and the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelAPIError, ToolFailed, UnexpectedModelBehavior, UsageLimitExceeded

from signoff.agent.ledger import LedgerWriter
from signoff.agent.ledger_capability import LedgerCapability
from signoff.agent.models import ModelPurpose, ModelRoutes, describe_model_failure
from signoff.tools.context import PromptIdentity, PromptRef, RunDeps

__all__ = ["ROUTED_CALL_OUTPUT_RETRIES", "ModelCalls"]

OutputT = TypeVar("OutputT")

# One more request when the answer fails validation (a missing label, an unknown id): enough for a
# model that slipped once, and it bounds what a confused model can spend on one call to two requests.
ROUTED_CALL_OUTPUT_RETRIES = 1


@dataclass(kw_only=True)
class ModelCalls:
    """Makes routed one-shot model calls on behalf of a run."""

    routes: ModelRoutes
    ledger: LedgerWriter
    max_run_cost_usd: Decimal | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def complete(
        self,
        purpose: ModelPurpose,
        *,
        instructions: str,
        content: str | Sequence[str],
        deps: RunDeps,
        prompt: PromptIdentity | None = None,
    ) -> str:
        """The routed model's text answer to `content` under `instructions`, charged to `deps.run_id`."""
        return await self.complete_as(
            purpose, str, instructions=instructions, content=content, deps=deps, prompt=prompt
        )

    async def complete_as(
        self,
        purpose: ModelPurpose,
        output_type: type[OutputT],
        *,
        instructions: str,
        content: str | Sequence[str],
        deps: RunDeps,
        output_validator: Callable[[OutputT], OutputT] | None = None,
        prompt: PromptIdentity | None = None,
    ) -> OutputT:
        """The routed model's answer as an `output_type` (validated by pydantic), charged to `deps.run_id`.

        `output_validator` checks what the schema cannot (say, that every input got a label) and raises
        `ModelRetry` to send the model back once. `prompt` is the versioned prompt `instructions` were
        rendered from, recorded on the call's ledger rows (None: the run's prompt is recorded). Failures
        raise `ToolFailed` (see the module docstring).
        """
        recorded_prompt = (
            None
            if prompt is None
            else PromptRef(name=prompt.name, version=prompt.version, content_hash=prompt.content_hash)
        )
        agent = Agent[RunDeps, OutputT](
            self.routes.model_for(purpose),
            deps_type=RunDeps,
            output_type=output_type,
            instructions=instructions,
            retries={"output": ROUTED_CALL_OUTPUT_RETRIES},
            capabilities=[
                LedgerCapability(
                    writer=self.ledger,
                    purpose=purpose,
                    max_run_cost_usd=self.max_run_cost_usd,
                    clock=self.clock,
                    prompt=recorded_prompt,
                )
            ],
            name=f"signoff-{purpose}",
        )
        if output_validator is not None:
            agent.output_validator(output_validator)
        try:
            result = await agent.run(content, deps=deps)
        except ModelAPIError as error:
            raise ToolFailed(f"the {purpose} model call failed: {describe_model_failure(error)}") from error
        except (UnexpectedModelBehavior, UsageLimitExceeded) as error:
            # The model's own words stay out of the reason: they were shaped by the data it read.
            raise ToolFailed(
                f"the {purpose} model gave no valid answer after {ROUTED_CALL_OUTPUT_RETRIES + 1} attempts"
            ) from error
        return result.output
