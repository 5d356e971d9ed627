"""The per-run state pydantic-ai hands to the guard, the ledger and the tools as `RunContext.deps`.

It lives in the tools layer because tools read it (a tool taking `RunContext[RunDeps]` as its first
parameter gets the run's identity and its routed model calls); the agent layer fills it in. The routed
calls are typed by the `RoutedModelCalls` protocol, so a tool never imports the agent that serves them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol, TypeVar

__all__ = ["ModelPurpose", "PromptIdentity", "PromptRef", "RoutedModelCalls", "RunDeps"]

OutputT = TypeVar("OutputT")

ModelPurpose = Literal["planning", "summary", "classification"]
"""Kinds of work a model is routed for: `planning` is the agent's own requests; `summary` and
`classification` are short calls tools make (see agent/model_calls.py). A closed set, so that a typo in
the routing map is an error rather than a route nobody takes."""


class PromptIdentity(Protocol):
    """What the ledger records of a versioned prompt (a `signoff.prompts.PromptTemplate` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def content_hash(self) -> str: ...


@dataclass(frozen=True, kw_only=True)
class PromptRef:
    """Which prompt version a run uses: recorded on the run and on every ledger row."""

    name: str
    version: str
    content_hash: str


class RoutedModelCalls(Protocol):
    """Short model calls a tool makes for its run (a summary, a classification), charged to the run.

    The agent layer's `ModelCalls` implements it; a tool reaches it as `ctx.deps.model_calls`.
    """

    async def complete(
        self,
        purpose: ModelPurpose,
        *,
        instructions: str,
        content: str | Sequence[str],
        deps: RunDeps,
        prompt: PromptIdentity | None = None,
    ) -> str:
        """The routed model's text answer to `content` under `instructions`."""
        ...

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
        """The routed model's answer validated as `output_type`."""
        ...


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
    tool_calls: int = 0
    """Tool calls the run made before this drive (for the run-wide tool-call limit)."""
    model_calls: RoutedModelCalls | None = None

    def next_step(self) -> int:
        """The step number of the next model request (1-based, run-wide)."""
        self.model_requests += 1
        return self.model_requests
