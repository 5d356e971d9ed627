"""The per-run state pydantic-ai hands to the guard, the ledger and the tools as `RunContext.deps`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Type-only: agent.model_calls builds agents with these deps, so a runtime import would be circular.
    from signoff.agent.model_calls import ModelCalls

__all__ = ["PromptRef", "RunDeps"]


@dataclass(frozen=True, kw_only=True)
class PromptRef:
    """Which prompt version a run uses: recorded on the run and on every ledger row."""

    name: str
    version: str
    content_hash: str


@dataclass(kw_only=True)
class RunDeps:
    """Identity of the run being driven, and counters that carry over when it is resumed.

    `model_requests` counts the run's model requests so far (the ledger's step numbers continue across
    pauses and processes); `model_cost_usd` is what the ledger priced so far, for the optional hard limit.
    `model_calls` lets a tool (taking `RunContext[RunDeps]` as its first argument) make a short routed
    model call, e.g. a classification, charged to this run on the ledger; None where the runtime
    offers none, and a tool that needs it then fails with a reason.
    """

    run_id: str
    prompt: PromptRef
    model_requests: int = 0
    model_cost_usd: Decimal = Decimal("0")
    model_calls: ModelCalls | None = None

    def next_step(self) -> int:
        """The step number of the next model request (1-based, run-wide)."""
        self.model_requests += 1
        return self.model_requests
