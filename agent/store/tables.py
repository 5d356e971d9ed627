"""The ORM models of Signoff's own records: runs, tool-call audit rows, approvals and ledger rows.

The schema is created by migrations (`agent.store.migrate`); a test compares these models with the live
schema on SQLite and PostgreSQL, because the seed platform's enrichment cache failed silently when code
and table disagreed.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal, get_args

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from signoff.tools.column_types import PicoUsd, UtcDateTime

__all__ = [
    "APPROVAL_STATES",
    "RUN_STATUSES",
    "ApiKeyRow",
    "ApprovalRow",
    "ApprovalState",
    "AuditChainRow",
    "Base",
    "EvalRunRow",
    "InboxSessionRow",
    "LedgerRow",
    "ProviderChargeRow",
    "RunEventRow",
    "RunRow",
    "RunStatus",
    "ToolCallRow",
    "ToolCallStatus",
    "WorkerRow",
]

RunStatus = Literal["running", "awaiting_approval", "completed", "failed", "cancelled"]
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)

ApprovalState = Literal["pending", "approved", "denied", "expired", "executing", "executed", "failed", "unknown"]
APPROVAL_STATES: tuple[ApprovalState, ...] = get_args(ApprovalState)

# Audit status of one tool call, from the guard's point of view.
ToolCallStatus = Literal["denied", "awaiting_approval", "running", "succeeded", "failed", "not_executed", "unknown"]

# Identifiers are UUID text (36 characters); 64 leaves room for provider-made ids such as tool call ids.
_ID = 64


class Base(DeclarativeBase):
    """Declarative base of Signoff's own tables."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: UtcDateTime, Decimal: PicoUsd}


class RunRow(Base):
    """One task from request to final answer. `message_history` is pydantic-ai's JSON of all messages.

    `idempotency_key`, when the requester gave one, makes a repeated request return the same run.
    """

    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("requested_by", "idempotency_key", name="uq_runs_requester_idempotency"),)

    run_id: Mapped[str] = mapped_column(String(_ID), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(_ID), index=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    task_text: Mapped[str] = mapped_column(Text)
    context_json: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    model_name: Mapped[str] = mapped_column(String(200))
    prompt_name: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str] = mapped_column(String(64))
    prompt_hash: Mapped[str] = mapped_column(String(80))
    # The label the prompt was resolved through (`production`, ...); NULL when the run pinned a version.
    prompt_label: Mapped[str | None] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(80))
    message_history: Mapped[str] = mapped_column(Text, default="[]")
    final_output: Mapped[str | None] = mapped_column(Text)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    # A run being worked on is leased by one worker; a lease that runs out marks a worker that died.
    lease_owner: Mapped[str | None] = mapped_column(String(_ID))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class WorkerRow(Base):
    """A process that drives runs: where it runs and when it last said it was alive (its heartbeat).

    A run's `lease_owner` names its worker. A worker whose heartbeat stopped, that stopped cleanly, or
    (on the same host) whose process is gone is dead, and its runs are taken over at once; a worker that
    still beats is never robbed of a run, however long the run takes.
    """

    __tablename__ = "workers"

    worker_id: Mapped[str] = mapped_column(String(_ID), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime] = mapped_column(index=True)
    stopped_at: Mapped[datetime | None]


class ToolCallRow(Base):
    """The audit row of one tool call: arguments, the decision and its rule, the result or error, timings."""

    __tablename__ = "tool_calls"
    __table_args__ = (
        UniqueConstraint("run_id", "tool_call_id", name="uq_tool_calls_run_call"),
        # Rate limits count a tool's recent calls by request time, or by start time for approved calls.
        Index("ix_tool_calls_tool_requested", "tool_name", "requested_at"),
        Index("ix_tool_calls_tool_started", "tool_name", "started_at"),
    )

    audit_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"), index=True)
    tool_call_id: Mapped[str] = mapped_column(String(_ID))
    tool_name: Mapped[str] = mapped_column(String(200))
    args_json: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(String(32))
    rule: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32))
    items: Mapped[int] = mapped_column(Integer, default=1)
    estimated_cost_usd: Mapped[Decimal]
    result_json: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    approval_id: Mapped[str | None] = mapped_column(String(_ID))
    requested_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class ApprovalRow(Base):
    """A pending or decided human approval, bound to a digest of exactly what was approved.

    `digest` covers (tool name, validated arguments, tool call id, policy version); an edit replaces
    `approved_args_json` and the digest. Every state change is a conditional update on `state`.
    """

    __tablename__ = "approvals"
    __table_args__ = (
        UniqueConstraint("run_id", "tool_call_id", name="uq_approvals_run_call"),
        Index("ix_approvals_state_created", "state", "created_at"),
        # Expiry sweeps and "what is still pending in this run" must not read every pending row: the queue
        # may hold a hundred thousand of them (bench/bench_api.py decisions).
        Index("ix_approvals_state_expires", "state", "expires_at"),
        Index("ix_approvals_run_state", "run_id", "state"),
    )

    approval_id: Mapped[str] = mapped_column(String(_ID), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"))
    tool_call_id: Mapped[str] = mapped_column(String(_ID))
    tool_name: Mapped[str] = mapped_column(String(200))
    requested_args_json: Mapped[str] = mapped_column(Text)
    approved_args_json: Mapped[str | None] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(80))
    policy_version: Mapped[str] = mapped_column(String(80))
    summary: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(32))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decision_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    execution_lease_expires_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    result_json: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class AuditChainRow(Base):
    """One link of the tamper-evident audit chain (`agent.store.chain`): the content of one tool-call or
    approval row as a transaction committed it, and a hash over it and the previous link's hash.

    Append-only: `seq` is given by the writer (the head's plus one), never by the database, because the
    hash covers it. `content_json` is NULL when the record was deleted through Signoff's own code.
    """

    __tablename__ = "audit_chain"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    record_kind: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str] = mapped_column(String(_ID))
    content_json: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(80))
    entry_hash: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]


class LedgerRow(Base):
    """One model request: who caused it, its tokens, and its price (NULL when unknown, never 0)."""

    __tablename__ = "ledger"
    __table_args__ = (Index("ix_ledger_created", "created_at"),)

    ledger_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(_ID), index=True)
    step: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str] = mapped_column(String(200))
    provider_name: Mapped[str | None] = mapped_column(String(100))
    provider_request_id: Mapped[str | None] = mapped_column(String(200))
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger)
    # `cache_write_tokens` split by cache lifetime (priced differently); their sum is `cache_write_tokens`.
    cache_write_5m_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    cache_write_1h_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    cost_usd: Mapped[Decimal | None]
    # The genai-prices data that priced this row; NULL when no price was found.
    price_data_version: Mapped[str | None] = mapped_column(String(100))
    # `succeeded`: a response came back. `failed`: an attempt that got none (429, 529, dropped stream); it
    # carries no tokens and `error` says what happened, so nothing is counted twice when a retry succeeds.
    attempt_status: Mapped[str] = mapped_column(String(16), server_default="succeeded")
    error: Mapped[str | None] = mapped_column(Text)
    prompt_name: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str] = mapped_column(String(64))
    prompt_hash: Mapped[str] = mapped_column(String(80))
    latency_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class ProviderChargeRow(Base):
    """Provider spend: one paid call of a tool (units x unit price from a dated price table), beside the
    ledger's token rows. Attributed to the run, the tool call and the approval that let it run."""

    __tablename__ = "provider_charges"
    __table_args__ = (
        Index("ix_provider_charges_created", "created_at"),
        Index("ix_provider_charges_call", "run_id", "tool_call_id"),
    )

    charge_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(_ID))
    tool_call_id: Mapped[str] = mapped_column(String(_ID))
    approval_id: Mapped[str | None] = mapped_column(String(_ID))
    tool_name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(100))
    item: Mapped[str] = mapped_column(String(100))
    units: Mapped[int] = mapped_column(BigInteger)
    unit_price_usd: Mapped[Decimal]
    cost_usd: Mapped[Decimal]
    price_version: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class RunEventRow(Base):
    """One thing that happened in a run, in order: the feed behind `GET /v1/runs/{run_id}/events`.

    `event_id` is global and increasing, so it doubles as the server-sent event id a client resumes from.
    """

    __tablename__ = "run_events"

    event_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class ApiKeyRow(Base):
    """An API key: a principal's name, its roles, and the sha256 of the key (the key itself is never stored)."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(_ID), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    roles: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class InboxSessionRow(Base):
    """A signed-in inbox session: the sha256 of its token (the browser's cookie holds the token itself), the
    key it was signed in with, and when it was last used.

    A session is live while its row exists, its key is not revoked and it was used recently; sign-out and
    revoking the key delete the row, so a copy of the cookie is worth nothing after either.
    """

    __tablename__ = "inbox_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.key_id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime] = mapped_column(index=True)


class EvalRunRow(Base):
    """One recorded evaluation run: what was evaluated (dataset, prompt and model, each with its hash or name),
    whether its gates passed, and the report. `signoff prompts promote` requires a passing row whose prompt
    name, version and hash match the version being promoted.
    """

    __tablename__ = "eval_runs"
    # Promotion asks for "the latest passing run of this exact prompt version"; list pages go newest first.
    __table_args__ = (
        Index("ix_eval_runs_prompt", "prompt_name", "prompt_version", "prompt_hash", "passed"),
        Index("ix_eval_runs_finished", "finished_at"),
    )

    eval_run_id: Mapped[str] = mapped_column(String(_ID), primary_key=True)
    dataset_name: Mapped[str] = mapped_column(String(200))
    dataset_hash: Mapped[str] = mapped_column(String(80))
    prompt_name: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str] = mapped_column(String(64))
    prompt_hash: Mapped[str] = mapped_column(String(80))
    # "name@version" of the prompt the run was compared with, or NULL when there was no baseline.
    baseline: Mapped[str | None] = mapped_column(String(300))
    model_name: Mapped[str] = mapped_column(String(200))
    settings_json: Mapped[str] = mapped_column(Text)
    repeat: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool]
    gate_failures_json: Mapped[str] = mapped_column(Text)
    report_json: Mapped[str] = mapped_column(Text)
    cost_usd: Mapped[Decimal | None]
    judge_cost_usd: Mapped[Decimal | None]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
