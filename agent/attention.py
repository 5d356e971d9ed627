"""A run's status detail: what a person must know before reading `completed` as "the work was done".

A run's status says where it stands (`completed`, `failed`, ...); its `attention` says what about it
still needs a person, from the audit rather than from the model's answer:

- `unknown_outcome`: a call with a side effect may or may not have happened (its process stopped, or
  it timed out, while it ran). A person must check the outside system and record what they found
  (`agent.resolutions`); until then the run carries the call here.
- `denied_by_limits`: the run finished while calls denied by a limit (a rate limit, a batch limit, the
  cap on waiting approvals) were never retried with success: the work they were for was not done.

A run with any attention is never plain `completed`: every front end shows it beside the status and
the answer, the `completed` event carries it, and `RunOutcome.attention` holds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.effects import ApprovalOutcome, RunEffects, run_effects
from signoff.agent.records import ToolCallRecord
from signoff.agent.store.resolutions import list_resolutions
from signoff.agent.store.tables import ApprovalRow, RunRow, ToolCallRow
from signoff.tools.registry import ToolRegistry, canonical_json

__all__ = [
    "FINISHED_STATUSES",
    "LIMIT_RULES",
    "Attention",
    "AttentionCall",
    "AttentionKind",
    "attention_of_runs",
    "attention_payload",
    "run_attention",
    "run_statuses",
]

AttentionKind = Literal["unknown_outcome", "denied_by_limits"]

LIMIT_RULES = frozenset({"rate_limit", "batch_limit", "approval_cap"})
"""Rules that deny a call for how much is asked (how often, how many at once, how many waiting), not for
what it does: the model may try again later or smaller, and until it does the work is not done."""

FINISHED_STATUSES = frozenset({"completed", "failed", "cancelled"})
"""Statuses after which the model retries nothing: limit denials left then are final."""

# Summaries named in a message; the calls themselves are all listed beside it.
_NAMED_IN_MESSAGE = 3
# A call of a tool without a summary is shown as its name and arguments, cut to this length.
_MAX_FALLBACK_SUMMARY_CHARS = 120


@dataclass(frozen=True, kw_only=True)
class AttentionCall:
    """One call an attention item is about: its tool's summary of it and what the audit says."""

    run_id: str
    tool_call_id: str
    tool_name: str
    summary: str
    detail: str
    rule: str
    approval_id: str | None


@dataclass(frozen=True, kw_only=True)
class Attention:
    """One thing about a run that needs a person, in a sentence, with the calls it is about."""

    kind: AttentionKind
    message: str
    calls: tuple[AttentionCall, ...]

    @property
    def rules(self) -> tuple[str, ...]:
        """The rules that denied the calls (for `denied_by_limits`), each once, in order."""
        return tuple(dict.fromkeys(call.rule for call in self.calls if call.rule in LIMIT_RULES))


def run_attention(records: Sequence[ToolCallRecord], effects: RunEffects, *, status: str) -> tuple[Attention, ...]:
    """What about one run needs a person: its audited calls (`records`, in order), their `effects` (with
    people's findings on unknown calls) and the run's `status`. Empty when nothing does."""
    attention: list[Attention] = []
    unchecked = [effect for effect in effects.effects if effect.needs_check]
    if unchecked:
        count = len(unchecked)
        named = "; ".join(effect.summary for effect in unchecked[:_NAMED_IN_MESSAGE])
        more = f"; and {count - _NAMED_IN_MESSAGE} more" if count > _NAMED_IN_MESSAGE else ""
        calls = "1 call" if count == 1 else f"{count} calls"
        attention.append(
            Attention(
                kind="unknown_outcome",
                message=(
                    f"the outcome of {calls} is unknown ({named}{more}): a person must check the outside "
                    f"system and record whether {'it' if count == 1 else 'each'} happened"
                ),
                calls=tuple(
                    AttentionCall(
                        run_id=effect.run_id,
                        tool_call_id=effect.tool_call_id,
                        tool_name=effect.tool_name,
                        summary=effect.summary,
                        detail=effect.detail,
                        rule=effect.rule,
                        approval_id=effect.approval_id,
                    )
                    for effect in unchecked
                ),
            )
        )
    if status in FINISHED_STATUSES:
        limited = _unretried_limit_denials(records)
        if limited:
            summaries = {effect.tool_call_id: effect.summary for effect in effects.effects}
            calls = tuple(
                AttentionCall(
                    run_id=record.run_id,
                    tool_call_id=record.tool_call_id,
                    tool_name=record.tool_name,
                    summary=summaries.get(record.tool_call_id) or _fallback_summary(record),
                    detail=f"denied by policy (rule {record.rule}): {record.reason}",
                    rule=record.rule,
                    approval_id=record.approval_id,
                )
                for record in limited
            )
            rules = ", ".join(dict.fromkeys(record.rule for record in limited))
            count = "1 call was" if len(limited) == 1 else f"{len(limited)} calls were"
            if any(effect.happened for effect in effects.effects):
                message = f"the run did not do all the work: {count} denied by limits ({rules}) and not retried"
            else:
                message = (
                    f"the run did not do the work: {count} denied by limits ({rules}), and no side effect happened"
                )
            attention.append(Attention(kind="denied_by_limits", message=message, calls=calls))
    return tuple(attention)


def attention_payload(attention: Iterable[Attention]) -> list[dict[str, Any]]:
    """The JSON form of a run's attention (stable field names): the API, the CLI and the run's events."""
    return [
        {
            "kind": item.kind,
            "message": item.message,
            "rules": list(item.rules),
            "calls": [
                {
                    "run_id": call.run_id,
                    "tool_call_id": call.tool_call_id,
                    "tool": call.tool_name,
                    "summary": call.summary,
                    "detail": call.detail,
                    "rule": call.rule,
                    "approval_id": call.approval_id,
                }
                for call in item.calls
            ],
        }
        for item in attention
    ]


def run_statuses(runs: Iterable[RunRow]) -> dict[str, str]:
    """Run id to status, as `attention_of_runs` takes them."""
    return {run.run_id: run.status for run in runs}


async def attention_of_runs(
    session: AsyncSession, *, statuses: Mapping[str, str], registry: ToolRegistry | None
) -> dict[str, tuple[Attention, ...]]:
    """The attention of each run (run id to its status), read in three queries whatever their number.

    `registry` says which tools have effects; None counts every call as one."""
    if not statuses:
        return {}
    rows = (
        await session.scalars(
            select(ToolCallRow).where(ToolCallRow.run_id.in_(list(statuses))).order_by(ToolCallRow.audit_id)
        )
    ).all()
    approval_ids = [row.approval_id for row in rows if row.approval_id is not None]
    approvals: Sequence[ApprovalRow] = []
    if approval_ids:
        approvals = (await session.scalars(select(ApprovalRow).where(ApprovalRow.approval_id.in_(approval_ids)))).all()
    outcomes = [ApprovalOutcome.of(row) for row in approvals]
    resolutions = await list_resolutions(session, run_ids=list(statuses))
    by_run: dict[str, list[ToolCallRecord]] = {run_id: [] for run_id in statuses}
    for row in rows:
        by_run[row.run_id].append(ToolCallRecord.from_row(row))
    return {
        run_id: run_attention(
            records,
            run_effects(records, approvals=outcomes, resolutions=resolutions, registry=registry),
            status=statuses[run_id],
        )
        for run_id, records in by_run.items()
    }


def _unretried_limit_denials(records: Sequence[ToolCallRecord]) -> list[ToolCallRecord]:
    """Calls denied by a limit with no later call of the same tool that succeeded (a split batch, a retry)."""
    left: list[ToolCallRecord] = []
    for index, record in enumerate(records):
        if record.status != "denied" or record.rule not in LIMIT_RULES:
            continue
        later = records[index + 1 :]
        if not any(other.tool_name == record.tool_name and other.status == "succeeded" for other in later):
            left.append(record)
    return left


def _fallback_summary(record: ToolCallRecord) -> str:
    text = f"{record.tool_name}({canonical_json(record.args)})"
    return text if len(text) <= _MAX_FALLBACK_SUMMARY_CHARS else text[: _MAX_FALLBACK_SUMMARY_CHARS - 1] + "…"
