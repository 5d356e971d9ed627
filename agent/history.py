"""A run's state is its pydantic-ai message history: stored as JSON, read back, and answered on resume.

The history is the only representation of the conversation. On resume, the tool calls it holds with no
result yet are answered from their durable approvals as pydantic-ai's `DeferredToolResults`: approved
calls go back to the guard (which executes them at most once), denied and expired calls go back as
denials the model reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelResponse,
    ToolReturnPart,
)
from pydantic_ai.tools import DeferredToolResults, ToolApproved, ToolDenied

from signoff.agent.store.tables import ApprovalRow

__all__ = ["deferred_results", "dump_history", "final_answer", "load_history"]


_RESUMABLE_APPROVAL_STATES = ("approved", "executing", "executed", "failed", "unknown")


def dump_history(messages: Sequence[ModelMessage]) -> str:
    return ModelMessagesTypeAdapter.dump_json(list(messages)).decode("utf-8")


def load_history(message_history: str) -> list[ModelMessage]:
    return list(ModelMessagesTypeAdapter.validate_json(message_history))


def final_answer(history: Sequence[ModelMessage]) -> str | None:
    """The text of the last message when it is a model response that calls no tools (the run's answer)."""
    last = history[-1]
    if isinstance(last, ModelResponse) and not last.tool_calls:
        return last.text or ""
    return None


def _unanswered_tool_call_ids(history: Sequence[ModelMessage]) -> list[str]:
    """Tool calls in the history that have no result yet: the ones a resume must settle."""
    answered: set[str] = set()
    asked: list[str] = []
    for message in history:
        if isinstance(message, ModelResponse):
            asked.extend(part.tool_call_id for part in message.tool_calls)
        else:
            for part in message.parts:
                # Tool returns, and the retry prompts older histories hold for calls that failed validation.
                if isinstance(part, ToolReturnPart):
                    answered.add(part.tool_call_id)
                elif getattr(part, "part_kind", None) == "retry-prompt":
                    answered.add(str(getattr(part, "tool_call_id", "")))
    return [tool_call_id for tool_call_id in asked if tool_call_id not in answered]


def deferred_results(
    history: Sequence[ModelMessage], approvals: Sequence[ApprovalRow]
) -> tuple[DeferredToolResults, list[tuple[ApprovalRow, str]]]:
    """pydantic-ai's deferred results for the unanswered calls that have a decided approval.

    Approved calls (and calls whose execution already started) go back as `ToolApproved`, which
    routes them to the guard: the durable approval row decides what actually happens. Denied and
    expired calls go back as `ToolDenied` with a message that says which it was.
    """
    by_call = {approval.tool_call_id: approval for approval in approvals}
    results = DeferredToolResults()
    not_executed: list[tuple[ApprovalRow, str]] = []
    for tool_call_id in _unanswered_tool_call_ids(history):
        approval = by_call.get(tool_call_id)
        if approval is None:
            continue
        state: Literal["denied", "expired"] | str = approval.state
        if state in _RESUMABLE_APPROVAL_STATES:
            override = None
            if state == "approved" and approval.approved_args_json is not None:
                override = json.loads(approval.approved_args_json)
            results.approvals[tool_call_id] = ToolApproved(override_args=override)
        elif state == "denied":
            message = (
                f"A person ({approval.decided_by}) denied this call: {approval.decision_note}. "
                "It was not executed. Do not retry it; tell the user."
            )
            results.approvals[tool_call_id] = ToolDenied(message)
            not_executed.append((approval, message))
        elif state == "expired":
            message = (
                "Not executed: the approval request expired before anyone decided. This is not a denial; "
                "tell the user the call is still needed and can be requested again."
            )
            results.approvals[tool_call_id] = ToolDenied(message)
            not_executed.append((approval, message))
    return results, not_executed
