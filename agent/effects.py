"""What a run's side effects actually came to, from its audit trail and its approvals (not from the model).

The model's final answer is its own account of the run; the audit is what happened. `run_effects` turns
a run's audited tool calls into one `Effect` per call of a destructive tool (the tool specs say which),
each with a human summary and its real outcome: executed, denied by policy or by a person, expired,
failed, waiting, or unknown (the process stopped while it ran: only the outside system can tell).
An unknown call stays unknown, but once a person has checked the outside system its `resolution`
says what they found (`signoff.agent.resolutions`), and the effect counts as happened or not by it.
It is a pure function of the records, so the API, the CLI and the inbox all show the same lines, and
`signoff.agent.claims` compares the answer with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast, get_args

from signoff.agent.records import ToolCallRecord
from signoff.agent.store.tables import ApprovalRow
from signoff.tools.registry import ToolRegistry, ToolSpec, canonical_json

__all__ = [
    "EFFECT_OUTCOMES",
    "OUTCOME_LABELS",
    "ApprovalOutcome",
    "CallResolution",
    "Effect",
    "EffectOutcome",
    "RunEffects",
    "run_effects",
]

EffectOutcome = Literal[
    "executed",
    "running",
    "approved",
    "awaiting_approval",
    "denied_by_policy",
    "denied_by_person",
    "expired",
    "failed",
    "unknown",
    "not_executed",
]
EFFECT_OUTCOMES: tuple[EffectOutcome, ...] = get_args(EffectOutcome)

OUTCOME_LABELS: Mapping[EffectOutcome, str] = {
    "executed": "executed",
    "running": "still running",
    "approved": "approved, not executed yet",
    "awaiting_approval": "awaiting approval",
    "denied_by_policy": "denied by policy",
    "denied_by_person": "denied by a person",
    "expired": "expired",
    "failed": "failed",
    "unknown": "outcome unknown",
    "not_executed": "not executed",
}
"""How each outcome reads in a sentence ("2 effects: 1 executed, 1 denied by a person")."""

# Argument values shorter than this name nothing in particular ("a", "hi"); longer than the other, they
# are text (an email body) rather than a name an answer would repeat to say which call it means.
_MIN_VALUE_CHARS = 3
_MAX_VALUE_CHARS = 80


@dataclass(frozen=True, kw_only=True)
class ApprovalOutcome:
    """What became of one approval: its state and, once decided, who decided and why."""

    approval_id: str
    state: str
    decided_by: str | None = None
    decision_note: str | None = None
    error: str | None = None

    @classmethod
    def of(cls, row: ApprovalRow) -> ApprovalOutcome:
        """The outcome of a stored approval."""
        return cls(
            approval_id=row.approval_id,
            state=row.state,
            decided_by=row.decided_by,
            decision_note=row.decision_note,
            error=row.error,
        )


@dataclass(frozen=True, kw_only=True)
class CallResolution:
    """What a person found when they checked the outside system for a call whose outcome is unknown.

    The call stays `unknown` in the audit; this is the person's word on it, kept with who and when.
    """

    run_id: str
    tool_call_id: str
    happened: bool
    resolved_by: str
    note: str | None
    resolved_at: datetime

    @property
    def label(self) -> str:
        """In a sentence: "checked by bob: it happened (seen in the CRM)"."""
        found = "it happened" if self.happened else "it did not happen"
        note = f" ({self.note})" if self.note else ""
        return f"checked by {self.resolved_by}: {found}{note}"


@dataclass(frozen=True, kw_only=True)
class Effect:
    """One call of a destructive tool and what actually happened to it.

    `summary` is the tool's human summary of the call; `detail` says what happened in words
    ("denied by a person (bob): wrong list"); `values` are the call's recipients and short argument
    values, lower-cased, by which an answer names the call ("the email to ana@acme.example").
    """

    run_id: str
    tool_call_id: str
    tool_name: str
    summary: str
    outcome: EffectOutcome
    detail: str
    approval_id: str | None
    rule: str
    values: tuple[str, ...]
    resolution: CallResolution | None = None
    """For an `unknown` outcome, what a person found in the outside system (None: nobody checked yet)."""

    @property
    def happened(self) -> bool:
        """Whether the effect is known to be done: executed, or unknown and a person found it happened."""
        return self.outcome == "executed" or (self.resolution is not None and self.resolution.happened)

    @property
    def needs_check(self) -> bool:
        """Whether a person must still check the outside system for this effect (unknown, not resolved)."""
        return self.outcome == "unknown" and self.resolution is None


@dataclass(frozen=True, kw_only=True)
class RunEffects:
    """A run's effects, in the order the model asked for them, and their counts by outcome."""

    effects: tuple[Effect, ...]

    @property
    def counts(self) -> dict[EffectOutcome, int]:
        """How many effects came to each outcome (every outcome listed, zeros included)."""
        counts = dict.fromkeys(EFFECT_OUTCOMES, 0)
        for effect in self.effects:
            counts[effect.outcome] += 1
        return counts

    @property
    def summary(self) -> str:
        """One line: "no side effects", or "2 effects: 1 executed, 1 denied by a person"."""
        if not self.effects:
            return "no side effects"
        total = len(self.effects)
        parts = [f"{count} {OUTCOME_LABELS[outcome]}" for outcome, count in self.counts.items() if count]
        return f"{total} {'effect' if total == 1 else 'effects'}: {', '.join(parts)}"


def run_effects(
    records: Iterable[ToolCallRecord],
    *,
    approvals: Iterable[ApprovalOutcome] = (),
    resolutions: Iterable[CallResolution] = (),
    registry: ToolRegistry | None,
) -> RunEffects:
    """The effects of these audited calls: each call of a destructive tool, with what happened to it.

    `approvals` are the states of the calls' approvals (a call the audit still shows as awaiting
    approval may have been denied or have expired since). `resolutions` are people's findings on
    unknown calls (the latest per call counts). A tool `registry` does not know, or every tool when it
    is None, counts as destructive: the cautious default of `ToolSafety`.
    """
    by_id = {approval.approval_id: approval for approval in approvals}
    # In the order they were given (oldest first): a later finding on the same call replaces an earlier one.
    found = {(resolution.run_id, resolution.tool_call_id): resolution for resolution in resolutions}
    effects: list[Effect] = []
    for record in records:
        spec = registry.get(record.tool_name) if registry is not None else None
        if spec is not None and not spec.destructive:
            continue
        approval = by_id.get(record.approval_id) if record.approval_id is not None else None
        outcome, detail = _outcome(record, approval)
        resolution = found.get((record.run_id, record.tool_call_id)) if outcome == "unknown" else None
        if resolution is not None:
            detail = f"{detail}; {resolution.label}"
        effects.append(
            Effect(
                run_id=record.run_id,
                tool_call_id=record.tool_call_id,
                tool_name=record.tool_name,
                summary=_summary(spec, record),
                outcome=outcome,
                detail=detail,
                approval_id=record.approval_id,
                rule=record.rule,
                values=_values(spec, record.args),
                resolution=resolution,
            )
        )
    return RunEffects(effects=tuple(effects))


def _outcome(record: ToolCallRecord, approval: ApprovalOutcome | None) -> tuple[EffectOutcome, str]:
    """The outcome of one call and its words, from the audit status, or the approval while it says more."""
    match record.status:
        case "succeeded":
            return "executed", "executed"
        case "failed":
            return "failed", f"failed: {record.error}" if record.error else "failed"
        case "unknown":
            return "unknown", "outcome unknown (the process stopped while it ran): check the outside system"
        case "running":
            return "running", "still running"
        case "denied":
            return "denied_by_policy", f"denied by policy (rule {record.rule}): {record.reason}"
        case _:
            pass
    # Awaiting approval or not executed: the approval says why (the audit row lags a decision until resume).
    state = approval.state if approval is not None else None
    match state:
        case "denied":
            assert approval is not None
            who = f" ({approval.decided_by})" if approval.decided_by else ""
            why = f": {approval.decision_note}" if approval.decision_note else ""
            return "denied_by_person", f"denied by a person{who}{why}"
        case "expired":
            return "expired", "expired: nobody decided in time, so it was not executed"
        case "pending":
            return "awaiting_approval", "awaiting approval: not executed"
        case "approved":
            return "approved", "approved, not executed yet"
        case "executing":
            return "running", "still running"
        case _ if record.status == "awaiting_approval":
            return "awaiting_approval", "awaiting approval: not executed"
        case _ if record.status == "not_executed":
            return "not_executed", f"not executed: {record.error}" if record.error else "not executed"
        case _:
            # A status this version does not know: say so, rather than guess that it happened or not.
            return "unknown", f"outcome unknown (audit status {record.status!r}): check the outside system"


def _summary(spec: ToolSpec | None, record: ToolCallRecord) -> str:
    """The first line of the tool's summary of the call (an email summary goes on with the body)."""
    fallback = f"{record.tool_name}({canonical_json(record.args)})"
    if spec is None:
        return fallback
    try:
        rendered = spec.render_summary(record.args)
    except Exception:  # a summary template that breaks on these arguments must not hide the effect
        return fallback
    first_line = rendered.splitlines()[0].rstrip(": ") if rendered else ""
    return first_line or fallback


def _values(spec: ToolSpec | None, args: Mapping[str, Any]) -> tuple[str, ...]:
    """The call's recipients first, then its other short text values, lower-cased and once each."""
    found: list[str] = list(spec.recipients(args)) if spec is not None else []
    found += _text_leaves(args)
    unique = dict.fromkeys(
        value.strip().lower() for value in found if _MIN_VALUE_CHARS <= len(value.strip()) <= _MAX_VALUE_CHARS
    )
    return tuple(unique)


def _text_leaves(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [leaf for item in cast(Mapping[str, object], value).values() for leaf in _text_leaves(item)]
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return [leaf for item in cast(Sequence[object], value) for leaf in _text_leaves(item)]
    return []
