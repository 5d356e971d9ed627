"""JSON views of Signoff's records, with stable field names, shared by the CLI and the HTTP API."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.answers import AnswerCheck, check_answer
from signoff.agent.attention import attention_payload
from signoff.agent.effects import CallResolution
from signoff.agent.ledger import LedgerEntry
from signoff.agent.records import LedgerTotals
from signoff.agent.store import approvals as approval_store
from signoff.agent.store import audit as audit_store
from signoff.agent.store.tables import LedgerRow, RunRow, ToolCallRow
from signoff.api.schemas import ApprovalView, iso_time, money_text
from signoff.tools.registry import ToolRegistry

__all__ = [
    "answer_check_view",
    "conversation_view",
    "ledger_view",
    "resolution_view",
    "run_detail_view",
    "run_summary_view",
    "tool_call_view",
]


def run_summary_view(run: RunRow) -> dict[str, Any]:
    """One run without its conversation."""
    return {
        "run_id": run.run_id,
        "conversation_id": run.conversation_id,
        "status": run.status,
        "task": run.task_text,
        "requested_by": run.requested_by,
        "model": run.model_name,
        "prompt": {
            "name": run.prompt_name,
            "version": run.prompt_version,
            "hash": run.prompt_hash,
            "label": run.prompt_label,  # the label it was resolved through; None when the version was pinned
        },
        "policy_version": run.policy_version,
        "output": run.final_output,
        "failure_reason": run.failure_reason,
        "created_at": iso_time(run.created_at),
        "finished_at": iso_time(run.finished_at),
    }


def tool_call_view(row: ToolCallRow) -> dict[str, Any]:
    """One audited tool call."""
    return {
        "tool_call_id": row.tool_call_id,
        "tool": row.tool_name,
        "args": json.loads(row.args_json),
        "verdict": row.verdict,
        "rule": row.rule,
        "reason": row.reason,
        "status": row.status,
        "items": row.items,
        "estimated_cost_usd": money_text(row.estimated_cost_usd),
        "approval_id": row.approval_id,
        "error": row.error,
        "requested_at": iso_time(row.requested_at),
        "duration_ms": row.duration_ms,
    }


def ledger_view(row: LedgerEntry) -> dict[str, Any]:
    """One ledger entry (a model request attempt)."""
    return {
        "step": row.step,
        "model": row.model_name,
        "provider_request_id": row.provider_request_id,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "cache_read_tokens": row.cache_read_tokens,
        "cache_write_tokens": row.cache_write_tokens,
        "cache_write_5m_tokens": row.cache_write_5m_tokens,
        "cache_write_1h_tokens": row.cache_write_1h_tokens,
        "cost_usd": money_text(row.cost_usd),
        "price_data_version": row.price_data_version,
        "purpose": row.purpose,
        "attempt_status": row.attempt_status,
        "error": row.error,
        "latency_ms": row.latency_ms,
        "created_at": iso_time(row.created_at),
    }


def conversation_view(message_history: str) -> list[dict[str, Any]]:
    """The conversation as a list of entries: user text, model text, tool calls and tool results."""
    messages: Sequence[ModelMessage] = ModelMessagesTypeAdapter.validate_json(message_history)
    entries: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    content = part.content if isinstance(part.content, str) else [str(c) for c in part.content]
                    entries.append({"kind": "user", "content": content})
                elif isinstance(part, ToolReturnPart):
                    entries.append(
                        {
                            "kind": "tool_result",
                            "tool": part.tool_name,
                            "tool_call_id": part.tool_call_id,
                            "outcome": part.outcome,
                            "content": part.model_response_str(),
                        }
                    )
                elif isinstance(part, RetryPromptPart):
                    entries.append(
                        {
                            "kind": "retry",
                            "tool": part.tool_name,
                            "tool_call_id": part.tool_call_id,
                            "content": part.model_response(),
                        }
                    )
        elif isinstance(message, ModelResponse):
            for part in message.parts:
                if isinstance(part, TextPart):
                    entries.append({"kind": "assistant", "content": part.content})
                elif isinstance(part, ToolCallPart):
                    entries.append(
                        {
                            "kind": "tool_call",
                            "tool": part.tool_name,
                            "tool_call_id": part.tool_call_id,
                            "args": part.args_as_dict(),
                        }
                    )
    return entries


def resolution_view(resolution: CallResolution | None) -> dict[str, Any] | None:
    """A person's finding on an unknown call: whether it happened, who checked, when, their note."""
    if resolution is None:
        return None
    return {
        "happened": resolution.happened,
        "resolved_by": resolution.resolved_by,
        "note": resolution.note,
        "resolved_at": iso_time(resolution.resolved_at),
    }


def answer_check_view(check: AnswerCheck) -> dict[str, Any]:
    """What the run's effects came to (`outcome`), the answer's claims the audit contradicts (`claims`), and
    what about the run needs a person (`attention`: an unknown outcome, work denied by limits; empty when
    nothing does, and a run with any is not plain `completed`)."""
    return {
        "attention": attention_payload(check.attention),
        "outcome": {
            "summary": check.effects.summary,
            "counts": dict(check.effects.counts),
            "effects": [
                {
                    "tool_call_id": effect.tool_call_id,
                    "tool": effect.tool_name,
                    "summary": effect.summary,
                    "outcome": effect.outcome,
                    "detail": effect.detail,
                    "approval_id": effect.approval_id,
                    "resolution": resolution_view(effect.resolution),
                }
                for effect in check.effects.effects
            ],
        },
        "claims": [
            {
                "claim": contradiction.claim,
                "verb": contradiction.verb,
                "tool": contradiction.tool_name,
                "tool_call_id": None if contradiction.effect is None else contradiction.effect.tool_call_id,
                "run_id": None if contradiction.effect is None else contradiction.effect.run_id,
                "outcome": contradiction.outcome,
                "note": contradiction.note,
            }
            for contradiction in check.contradictions
        ],
    }


async def run_detail_view(
    session: AsyncSession, *, run: RunRow, registry: ToolRegistry | None = None
) -> dict[str, Any]:
    """A run in full: conversation, tool calls with decisions, approvals, ledger rows and cost so far, and
    the answer beside what actually happened (`outcome`, `claims`; `registry` says which tools have effects,
    None counts every call)."""
    check = await check_answer(session, run=run, registry=registry)
    calls = await audit_store.list_tool_calls(session, run_id=run.run_id)
    approvals = await approval_store.list_approvals(session, run_id=run.run_id, limit=10_000)
    rows = await session.scalars(
        select(LedgerRow).where(LedgerRow.run_id == run.run_id).order_by(LedgerRow.step, LedgerRow.ledger_id)
    )
    ledger = [LedgerEntry.from_row(row) for row in rows]
    totals = LedgerTotals.of(ledger)
    return {
        **run_summary_view(run),
        "conversation": conversation_view(run.message_history),
        "tool_calls": [tool_call_view(c) for c in calls],
        "approvals": [ApprovalView.of(a).model_dump() for a in approvals],
        "ledger": [ledger_view(r) for r in ledger],
        # The priced part when some requests are unpriced (their count says so): the run page shows both.
        "cost_usd": money_text(totals.priced_cost_usd) if totals.requests > totals.unpriced_requests else None,
        "unpriced_requests": totals.unpriced_requests,
        **answer_check_view(check),
    }
