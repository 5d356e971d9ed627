"""Request and response models of the HTTP API (pydantic at the edge)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.framing import MAX_TASK_CHARS

__all__ = [
    "ApprovalDecisionRequest",
    "ApprovalPage",
    "ApprovalView",
    "MessageRequest",
    "RunAccepted",
    "RunDetail",
    "TaskRequest",
]


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
    prompt: dict[str, str]
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
