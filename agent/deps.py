"""The per-run state pydantic-ai hands to the guard and the ledger as `RunContext.deps`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

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
    """

    run_id: str
    prompt: PromptRef
    model_requests: int = 0
    model_cost_usd: Decimal = Decimal("0")

    def next_step(self) -> int:
        """The step number of the next model request (1-based, run-wide)."""
        self.model_requests += 1
        return self.model_requests
