"""Request and response models of the HTTP API (pydantic at the edge)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from signoff.agent.budgets import SpendStanding
from signoff.agent.costs import CostLine
from signoff.agent.framing import MAX_TASK_CHARS
from signoff.agent.store.tables import ApprovalRow
from signoff.api.display import ApprovalDisplay, CrmStatus, DomainDisplay, DomainFlag, approval_display

__all__ = [
    "MAX_DECISION_NOTE_CHARS",
    "NOT_BLANK",
    "ApprovalDecisionRequest",
    "ApprovalPage",
    "ApprovalView",
    "AttentionCallView",
    "AttentionView",
    "ClaimView",
    "CostLineView",
    "CostReport",
    "DenyDecision",
    "DomainView",
    "EffectView",
    "MessageRequest",
    "PromptList",
    "PromptVersionView",
    "PromptView",
    "ResolutionRequest",
    "ResolutionResult",
    "ResolutionView",
    "RunAccepted",
    "RunDetail",
    "RunEffectsView",
    "SpendStandingView",
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


def _cents_at_least(value: Decimal) -> str:
    """An amount with at least two decimals ("1.00"), and every further one it has ("0.0042")."""
    cents = value.quantize(Decimal("0.01"))
    return format(cents if cents == value else value, "f")


# Text that is not only blanks: one character that is neither Python whitespace (what the server strips)
# nor ECMAScript whitespace (what a JSON Schema validator means by `\s`), spelled out because the two
# `\s` differ (U+001C..U+001F, U+0085, U+FEFF). Not anchored: JSON Schema patterns search, as pydantic's do.
NOT_BLANK = r"[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskRequest(_Strict):
    """A task for the agent. The message is the user's text; context is data that goes with it."""

    message: str = Field(min_length=1, max_length=MAX_TASK_CHARS, pattern=NOT_BLANK)
    context: dict[str, Any] | None = None
    conversation_id: str | None = Field(default=None, max_length=64)


class MessageRequest(_Strict):
    """A follow-up message in a conversation."""

    message: str = Field(min_length=1, max_length=MAX_TASK_CHARS, pattern=NOT_BLANK)
    context: dict[str, Any] | None = None


class RunAccepted(BaseModel):
    """A run that was accepted (202) or already existed for this idempotency key."""

    run_id: str
    conversation_id: str
    status: str
    created: bool
    links: dict[str, str]


class DomainView(BaseModel):
    """A domain in an approval's arguments, in the forms that expose a look-alike (see api/display.py)."""

    unicode: str
    ascii: str | None
    """The IDNA (`xn--...`) form mail and DNS use; null when the name is no valid domain."""
    flags: list[DomainFlag]
    crm: CrmStatus
    recipients: int
    """How many of the call's recipients are at this domain (0: it is only mentioned)."""
    lookalikes: list[str]

    @classmethod
    def of(cls, domain: DomainDisplay) -> DomainView:
        """The view of one domain of an approval's display."""
        return cls(
            unicode=domain.unicode,
            ascii=domain.ascii,
            flags=list(domain.flags),
            crm=domain.crm,
            recipients=domain.recipients,
            lookalikes=list(domain.lookalikes),
        )


class SpendStandingView(BaseModel):
    """Spend so far in one scope against its limit, beside an approval (see `agent.budgets`)."""

    scope: Literal["run", "conversation", "requester_today", "everyone_today"]
    label: str
    spent_usd: str
    limit_usd: str | None
    over: bool

    @classmethod
    def of(cls, standing: SpendStanding) -> SpendStandingView:
        """The view of one standing."""
        return cls(
            scope=standing.scope,
            label=standing.label,
            spent_usd=_cents_at_least(standing.spent_usd),
            limit_usd=None if standing.limit_usd is None else _cents_at_least(standing.limit_usd),
            over=standing.over,
        )


class ApprovalView(BaseModel):
    """One approval, with the summary a person decides on.

    `summary` and `requested_args` are exactly as stored, and attacker-controlled when the model is;
    show people `warnings` first, then `display_summary` and `display_args`, in which hidden characters
    are visible markers and long runs of blanks are collapsed. `domains` lists every domain of the
    arguments, with its ASCII form and flags.
    """

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
    display_summary: str
    display_args: str
    warnings: list[str]
    domains: list[DomainView]
    spend: list[SpendStandingView] = []
    """The run's standing against every spend limit, calls awaiting approval included (empty when not read)."""
    estimated_cost_usd: str | None = None
    """The call's estimated provider spend (the tool's unit price x its items); null when the tool is unknown."""
    changes: list[str] = []
    """What the waiting call would overwrite in stored data ("ana@acme.io: title 'COO' -> 'CTO'"), neutralised."""

    @classmethod
    def of(
        cls,
        row: ApprovalRow,
        *,
        display: ApprovalDisplay | None = None,
        spend: Sequence[SpendStanding] = (),
        estimated_cost_usd: Decimal | None = None,
    ) -> ApprovalView:
        """The view of a stored approval (the one shape the API, the CLI and the inbox show).

        `display` is the approval's display with the tool's recipients and the CRM's answer
        (`api.approval_views`); without it the display is made from the row alone (no recipients are
        known and the CRM is not checked).
        """
        requested_args = json.loads(row.requested_args_json)
        if display is None:
            display = approval_display(
                args=requested_args, summary=row.summary, recipients_arg=None, known_domains=None
            )
        return cls(
            approval_id=row.approval_id,
            run_id=row.run_id,
            tool_call_id=row.tool_call_id,
            tool=row.tool_name,
            state=row.state,
            summary=row.summary,
            reason=row.reason,
            rule=row.rule,
            requested_args=requested_args,
            approved_args=None if row.approved_args_json is None else json.loads(row.approved_args_json),
            decided_by=row.decided_by,
            decision_note=row.decision_note,
            created_at=iso_time(row.created_at),
            expires_at=iso_time(row.expires_at),
            decided_at=iso_time(row.decided_at),
            finished_at=iso_time(row.finished_at),
            error=row.error,
            display_summary=display.summary,
            display_args=display.arguments,
            warnings=list(display.warnings),
            domains=[DomainView.of(domain) for domain in display.domains],
            spend=[SpendStandingView.of(standing) for standing in spend],
            estimated_cost_usd=None if estimated_cost_usd is None else _cents_at_least(estimated_cost_usd),
            changes=list(display.changes),
        )


class ApprovalPage(BaseModel):
    """A page of the approval queue, oldest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[ApprovalView]
    next_cursor: str | None


# A decision note or a denial's reason: enough for a paragraph, bounded like every other input.
MAX_DECISION_NOTE_CHARS = 2000


class ApproveDecision(_Strict):
    """Approve the call, as requested or with `edited_args` (validated and checked by policy again)."""

    decision: Literal["approve"]
    edited_args: dict[str, Any] | None = None
    note: str | None = Field(default=None, max_length=MAX_DECISION_NOTE_CHARS)


class DenyDecision(_Strict):
    """Deny the call. `note` is the reason and is required: the model is told it, so it can adjust its plan."""

    decision: Literal["deny"]
    note: str = Field(min_length=1, max_length=MAX_DECISION_NOTE_CHARS, pattern=NOT_BLANK)


ApprovalDecisionRequest = Annotated[ApproveDecision | DenyDecision, Field(discriminator="decision")]
"""A person's decision on a pending call: what the schema allows is exactly what the server takes."""


class ResolutionView(BaseModel):
    """A person's finding on a call whose outcome is unknown. The call stays `unknown` in the audit."""

    happened: bool
    resolved_by: str
    note: str | None
    resolved_at: str | None


class EffectView(BaseModel):
    """One call of a destructive tool and what actually happened to it, from the audit."""

    tool_call_id: str
    tool: str
    summary: str
    outcome: str
    """executed, running, approved, awaiting_approval, denied_by_policy, denied_by_person, expired, failed,
    unknown (check the outside system) or not_executed."""
    detail: str
    approval_id: str | None
    resolution: ResolutionView | None = None
    """For an `unknown` outcome, what a person found when they checked the outside system (null: nobody has)."""


class ResolutionRequest(_Strict):
    """What a person found in the outside system about a call whose outcome is unknown."""

    happened: bool
    """true: the effect took place (the email went out); false: it did not."""
    note: str | None = Field(default=None, max_length=2000)


class AttentionCallView(BaseModel):
    """One call an attention item is about."""

    run_id: str
    tool_call_id: str
    tool: str
    summary: str
    detail: str
    rule: str
    approval_id: str | None


class AttentionView(BaseModel):
    """Something about a run that needs a person. `kind` is `unknown_outcome` (a call may or may not have
    happened: check the outside system, then record what you found) or `denied_by_limits` (calls denied
    by `rules` such as `rate_limit` were never retried with success: the work was not done)."""

    kind: Literal["unknown_outcome", "denied_by_limits"]
    message: str
    rules: list[str]
    calls: list[AttentionCallView]


class ResolutionResult(BaseModel):
    """A recorded finding, and the run's attention after it (the call no longer asks to be checked)."""

    run_id: str
    tool_call_id: str
    resolution: ResolutionView
    attention: list[AttentionView]


class RunEffectsView(BaseModel):
    """What a run's side effects came to: a one-line summary, counts by outcome, one line per effect."""

    summary: str
    counts: dict[str, int]
    effects: list[EffectView]


class ClaimView(BaseModel):
    """A clause of the final answer that claims an effect the audit says did not happen, and the truth.

    `tool_call_id` and `outcome` are null when no call of `tool` was made at all; `run_id` names the run of
    the call (an earlier run of the conversation, for a follow-up's answer)."""

    claim: str
    verb: str
    tool: str
    tool_call_id: str | None
    run_id: str | None
    outcome: str | None
    note: str


class RunDetail(BaseModel):
    """A run with its conversation, tool calls and decisions, pending approvals and cost so far, and its
    answer's honesty: `outcome` is what its effects came to, `claims` what the answer says that they contradict.

    `attention` is the run's status detail: empty when nothing needs a person; otherwise the run is not
    plain `completed` (an unknown outcome to check, work not done because limits denied it)."""

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
    outcome: RunEffectsView
    claims: list[ClaimView]
    attention: list[AttentionView] = []


class CostLineView(BaseModel):
    """Ledger totals of one group (or of the whole report). Money is a decimal string; `cost_usd` is
    null when no request of the group had a known price, and `unpriced_requests` counts those without.
    `requests` got a response; `failed_attempts` did not (a 429, a 529, a dropped connection) and carry
    no tokens. `input_tokens` is the uncached part of the prompts; the whole prompts are input plus
    cache-read plus cache-write tokens. `provider_cost_usd` is what tools paid vendors (`provider_calls`
    charged calls, never null); `total_cost_usd` is model plus provider spend, null when a model price is
    unknown."""

    group: str
    requests: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: str | None
    unpriced_requests: int
    failed_attempts: int
    provider_cost_usd: str
    provider_calls: int
    total_cost_usd: str | None

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
            provider_cost_usd=money_text(line.provider_cost_usd) or "0",
            provider_calls=line.provider_calls,
            total_cost_usd=money_text(line.total_cost_usd),
        )


class CostReport(BaseModel):
    """Model and provider spend from the ledger between `from` (inclusive) and `to` (exclusive), grouped."""

    model_config = ConfigDict(populate_by_name=True)

    group_by: Literal["day", "model", "run", "prompt", "provider"]
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
    egress: dict[str, Literal["filter", "contacts"]]
    """The arguments the tool sends to a third party, and what each may hold (the egress rule)."""
    returns_contacts: bool
    """The tool's output lists people found for the user, whom a `contacts` egress argument may then name."""
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
