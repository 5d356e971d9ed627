"""What the runner is configured with and reports: its settings and limits, a run's outcome, its errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from pydantic_ai import Agent

from signoff.agent.attention import Attention
from signoff.agent.guard import DEFAULT_EXECUTION_LEASE
from signoff.agent.store.tables import RunStatus
from signoff.agent.workers import DEFAULT_DEAD_AFTER
from signoff.tools.context import PromptRef

__all__ = [
    "AGENT_PROMPT_PREFIX",
    "DEFAULT_MAX_RUN_COST_USD",
    "DEFAULT_REQUEST_LIMIT",
    "DEFAULT_RUN_LEASE",
    "DEFAULT_STREAM_RESTARTS",
    "DEFAULT_TOOL_CALL_LIMIT",
    "STREAM_RESTART_DELAY_SECONDS",
    "ConversationBusy",
    "ConversationNotFound",
    "LeaseLost",
    "RunNotFound",
    "RunOutcome",
    "RunnerSettings",
    "agent_identity",
]


# A sales task on Claude costs cents to a dollar; a run that has spent five dollars on tokens alone is
# looping or reading far more than it should (a few huge requests once cost $31 in one run).
DEFAULT_MAX_RUN_COST_USD = Decimal("5.00")
# Requests one run may make before it is stopped: generous for real work (a 25-contact task needs
# about ten), small enough that a model stuck in a loop stops within minutes and cents.
DEFAULT_REQUEST_LIMIT = 50


# Tool calls one run may make: a 25-contact task makes about thirty, so this only stops a model that
# calls tools in a loop (each call is also bounded by the policy's rate limits).
DEFAULT_TOOL_CALL_LIMIT = 200


# How long a worker may hold a run without renewing its lease (it renews at every step). A step is
# one model request plus its tool calls, each bounded by its own timeout, so this is their sum and more.
DEFAULT_RUN_LEASE = timedelta(minutes=15)


# A streamed response cut off mid-way is asked for again this many times before the run fails: a dropped
# connection is usually brief, and the run restarts from a checkpoint where nothing of that response ran.
DEFAULT_STREAM_RESTARTS = 2


# Seconds before the first restart; each further one waits this much longer.
STREAM_RESTART_DELAY_SECONDS = 0.5


AGENT_PROMPT_PREFIX = "agent:"
"""Runs of a developer's own agent record `agent:<its name>` as their prompt: it has no versioned template."""


def agent_identity(agent: Agent[Any, Any]) -> PromptRef:
    """What a developer's agent's runs and ledger rows record as their prompt."""
    return PromptRef(name=f"{AGENT_PROMPT_PREFIX}{agent.name or 'agent'}", version="unversioned", content_hash="")


class LeaseLost(Exception):
    """Another worker took this run over (this one was presumed dead); stop driving it."""


class ConversationNotFound(LookupError):
    """No run belongs to that conversation id."""

    def __init__(self, conversation_id: str) -> None:
        self.conversation_id = conversation_id
        super().__init__(f"no conversation with id {conversation_id!r}")


class ConversationBusy(ValueError):
    """A follow-up was sent while a run of the conversation is still in progress."""

    def __init__(self, conversation_id: str, status: str) -> None:
        self.conversation_id = conversation_id
        self.status = status
        super().__init__(
            f"conversation {conversation_id!r} has a run that is still {status}; "
            "wait for it to finish before sending a follow-up"
        )


class RunNotFound(LookupError):
    """No run has that id."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"no run with id {run_id!r}")


@dataclass(frozen=True, kw_only=True)
class RunnerSettings:
    """Limits and timeouts of the runner; every field has a safe default."""

    approval_ttl: timedelta | None = None
    execution_lease: timedelta = DEFAULT_EXECUTION_LEASE
    run_lease: timedelta = DEFAULT_RUN_LEASE
    request_limit: int = DEFAULT_REQUEST_LIMIT
    """Model requests one run may make, across all its pauses and resumes (the tools' routed calls included)."""
    tool_call_limit: int = DEFAULT_TOOL_CALL_LIMIT
    """Tool calls one run may make, across all its pauses and resumes."""
    worker_dead_after: timedelta = DEFAULT_DEAD_AFTER
    """A worker whose heartbeat is older than this is dead, and its runs are taken over."""
    max_run_cost_usd: Decimal | None = DEFAULT_MAX_RUN_COST_USD
    """Model spend at which a run stops (its next request is not made); None: no cap."""
    # Receive model responses as streams (server-sent events) rather than whole. The ledger records the
    # same figures either way; streaming keeps a long response from running into a read timeout.
    stream_model_responses: bool = False
    # How many times a streamed response that broke off after its 200 is asked for again (see
    # `agent.ledger_capability.ResponseBrokeOff`); 0 fails the run at the first break.
    stream_restarts: int = DEFAULT_STREAM_RESTARTS

    def __post_init__(self) -> None:
        # A run's lease is renewed at every step, and a step may include a tool running for the whole
        # execution lease: a shorter run lease would let another worker take over a live run.
        if self.execution_lease >= self.run_lease:
            raise ValueError("execution_lease must be shorter than run_lease")
        if self.stream_restarts < 0:
            raise ValueError("stream_restarts must be 0 or more")
        if self.request_limit < 1 or self.tool_call_limit < 1:
            raise ValueError("request_limit and tool_call_limit must be at least 1")


@dataclass(frozen=True, kw_only=True)
class RunOutcome:
    """Where a run stands after the runner touched it. A run with `attention` (an unknown outcome, work
    denied by limits: see `agent.attention`) is never plain `completed`: the attention says what a person
    must know or do."""

    run_id: str
    status: RunStatus
    output: str | None = None
    failure_reason: str | None = None
    pending_approval_ids: tuple[str, ...] = ()
    note: str | None = None
    attention: tuple[Attention, ...] = ()

    @property
    def needs_attention(self) -> bool:
        """Whether something about the run needs a person (see `attention`)."""
        return bool(self.attention)
