"""Request and response models of the HTTP API (pydantic at the edge)."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from signoff.agent.costs import CostLine
from signoff.agent.framing import MAX_TASK_CHARS
from signoff.agent.store.tables import ApprovalRow

__all__ = [
    "ApprovalDecisionRequest",
    "ApprovalPage",
    "ApprovalView",
    "CostLineView",
    "CostReport",
    "MessageRequest",
    "PromptList",
    "PromptVersionView",
    "PromptView",
    "RunAccepted",
    "RunDetail",
    "TaskRequest",
    "ToolList",
    "ToolView",
    "iso_time",
    "money_text",
]


def iso_time(value: datetime | None) -> str | None:
    """A timestamp as the API shows it: ISO 8601, or None."""
    return None if value is None else value.isoformat()


def money_text(value: Decimal | None) -> str | None:
    """An amount as the API shows it: a plain decimal string (never an exponent), or None when unknown."""
    return None if value is None else format(value, "f")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskRequest(_Strict):
    """A task for the agent. The message is the user's text; context is data that goes with it."""

    message: str = Field(min_length=1, max_length=MAX_TASK_CHARS)
    context: dict[str, Any] | None = None
    conversation_id: str | None = Field(default=None, max_length=64)


class MessageRequest(_Strict):
    """A follow-up message in a conversation."""

    message: str = Field(min_length=1, max_length=MAX_TASK_CHARS)
    context: dict[str, Any] | None = None


class RunAccepted(BaseModel):
    """A run that was accepted (202) or already existed for this idempotency key."""

    run_id: str
    conversation_id: str
    status: str
    created: bool
    links: dict[str, str]


class ApprovalView(BaseModel):
    """One approval, with the summary a person decides on."""

    approval_id: str
    run_id: str
    tool_call_id: str
    tool: str
    state: str
    summary: str
    reason: str
    rule: str
    requested_args: dict[str, Any]
    approved_args: dict[str, Any] | None
    decided_by: str | None
    decision_note: str | None
    created_at: str | None
    expires_at: str | None
    decided_at: str | None
    finished_at: str | None
    error: str | None

    @classmethod
    def of(cls, row: ApprovalRow) -> ApprovalView:
        """The view of a stored approval (the one shape the API, the CLI and the inbox show)."""
        return cls(
            approval_id=row.approval_id,
            run_id=row.run_id,
            tool_call_id=row.tool_call_id,
            tool=row.tool_name,
            state=row.state,
            summary=row.summary,
            reason=row.reason,
            rule=row.rule,
            requested_args=json.loads(row.requested_args_json),
            approved_args=None if row.approved_args_json is None else json.loads(row.approved_args_json),
            decided_by=row.decided_by,
            decision_note=row.decision_note,
            created_at=iso_time(row.created_at),
            expires_at=iso_time(row.expires_at),
            decided_at=iso_time(row.decided_at),
            finished_at=iso_time(row.finished_at),
            error=row.error,
        )


class ApprovalPage(BaseModel):
    """A page of the approval queue, oldest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[ApprovalView]
    next_cursor: str | None


class ApprovalDecisionRequest(_Strict):
    """A person's decision on a pending call."""

    decision: Literal["approve", "deny"]
    edited_args: dict[str, Any] | None = None
    note: str | None = Field(default=None, max_length=2000)


class RunDetail(BaseModel):
    """A run with its conversation, tool calls and decisions, pending approvals and cost so far."""

    run_id: str
    conversation_id: str
    status: str
    task: str
    requested_by: str
    model: str
    prompt: dict[str, str | None]
    policy_version: str
    output: str | None
    failure_reason: str | None
    created_at: str | None
    finished_at: str | None
    conversation: list[dict[str, Any]]
    tool_calls: list[dict[str, Any]]
    pending_approvals: list[ApprovalView]
    cost_usd: str | None
    unpriced_requests: int
    model_requests: int


class CostLineView(BaseModel):
    """Ledger totals of one group (or of the whole report). Money is a decimal string; `cost_usd` is
    null when no request of the group had a known price, and `unpriced_requests` counts those without.
    `requests` got a response; `failed_attempts` did not (a 429, a 529, a dropped connection) and carry
    no tokens. `input_tokens` is the uncached part of the prompts; the whole prompts are input plus
    cache-read plus cache-write tokens."""

    group: str
    requests: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: str | None
    unpriced_requests: int
    failed_attempts: int

    @classmethod
    def of(cls, line: CostLine) -> CostLineView:
        """The view of one group of a cost report."""
        return cls(
            group=line.group,
            requests=line.requests,
            input_tokens=line.input_tokens,
            output_tokens=line.output_tokens,
            cache_read_tokens=line.cache_read_tokens,
            cache_write_tokens=line.cache_write_tokens,
            cost_usd=money_text(line.cost_usd),
            unpriced_requests=line.unpriced_requests,
            failed_attempts=line.failed_attempts,
        )


class CostReport(BaseModel):
    """Model spend from the ledger between `from` (inclusive) and `to` (exclusive), grouped."""

    model_config = ConfigDict(populate_by_name=True)

    group_by: Literal["day", "model", "run", "prompt"]
    from_: str | None = Field(alias="from")
    to: str | None
    lines: list[CostLineView]
    total: CostLineView


class ToolView(BaseModel):
    """One registered tool and the safety metadata the model never sees."""

    name: str
    description: str
    destructive: bool
    requires_approval: bool | Literal["conditional"]
    max_batch: int | None
    batch_arg: str | None
    unit_cost_usd: str
    idempotent: bool
    untrusted_output: bool
    """The tool returns outside data (a lead's bio, a CRM note, an email reply): values the agent reads in it
    need a person's approval before a destructive call uses them (the provenance rule)."""
    parameters: dict[str, Any]


class ToolList(BaseModel):
    """The tools runs may use, by name."""

    tools: list[ToolView]


class PromptVersionView(BaseModel):
    """One immutable prompt version: `content_hash` is the sha256 of its file; `labels` point at it."""

    version: str
    description: str
    model: str
    content_hash: str
    labels: list[str]


class PromptView(BaseModel):
    """One prompt: its versions, oldest first, and the version each label points at."""

    name: str
    labels: dict[str, str]
    versions: list[PromptVersionView]


class PromptList(BaseModel):
    """Every prompt, by name."""

    prompts: list[PromptView]
