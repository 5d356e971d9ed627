"""The stored record of evaluation runs: written by `signoff eval run`, read by `signoff prompts promote`.

A record names exactly what was evaluated (dataset and prompt, each with its content hash, and the model),
whether every gate passed, and what the run cost. Promotion looks for a passing record whose prompt name,
version and hash all match: a version whose file changed since its evaluation has no passing record.

`settings` and `report` are stored as JSON. Decimal values inside them come back as strings (JSON has no
exact decimal) and datetimes as ISO 8601 strings; any other value JSON cannot hold is refused when recording.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.tables import EvalRunRow

__all__ = ["EvalRunRecord", "latest_passing_eval", "list_eval_runs", "record_eval_run"]


@dataclass(frozen=True, kw_only=True)
class EvalRunRecord:
    """One evaluation run of a dataset against a prompt version and a model.

    `passed` is True only when no gate failed, so a record with `gate_failures` cannot claim to pass.
    `cost_usd` is the ledger cost of the agent's model requests and `judge_cost_usd` that of judge calls;
    either is None when some price was unknown (never 0 for "unknown").
    """

    eval_run_id: str
    dataset_name: str
    dataset_hash: str
    prompt_name: str
    prompt_version: str
    prompt_hash: str
    baseline: str | None
    model_name: str
    settings: dict[str, Any]
    repeat: int
    passed: bool
    gate_failures: list[str]
    report: dict[str, Any]
    cost_usd: Decimal | None
    judge_cost_usd: Decimal | None
    started_at: datetime
    finished_at: datetime
    created_by: str

    def __post_init__(self) -> None:
        # Promotion trusts `passed`; a contradictory record must not be storable at all.
        if self.passed and self.gate_failures:
            raise ValueError(f"eval run {self.eval_run_id!r} is marked passed but has gate failures")
        if self.repeat < 1:
            raise ValueError(f"eval run {self.eval_run_id!r}: repeat must be at least 1, got {self.repeat}")
        if self.finished_at < self.started_at:
            raise ValueError(f"eval run {self.eval_run_id!r} finished before it started")


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dumps(value: object, *, what: str, eval_run_id: str) -> str:
    try:
        return json.dumps(value, default=_json_default, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise ValueError(f"eval run {eval_run_id!r}: {what} cannot be stored as JSON: {error}") from error


def _to_row(record: EvalRunRecord) -> EvalRunRow:
    return EvalRunRow(
        eval_run_id=record.eval_run_id,
        dataset_name=record.dataset_name,
        dataset_hash=record.dataset_hash,
        prompt_name=record.prompt_name,
        prompt_version=record.prompt_version,
        prompt_hash=record.prompt_hash,
        baseline=record.baseline,
        model_name=record.model_name,
        settings_json=_dumps(record.settings, what="settings", eval_run_id=record.eval_run_id),
        repeat=record.repeat,
        passed=record.passed,
        gate_failures_json=_dumps(record.gate_failures, what="gate_failures", eval_run_id=record.eval_run_id),
        report_json=_dumps(record.report, what="report", eval_run_id=record.eval_run_id),
        cost_usd=record.cost_usd,
        judge_cost_usd=record.judge_cost_usd,
        started_at=record.started_at,
        finished_at=record.finished_at,
        created_by=record.created_by,
    )


def _from_row(row: EvalRunRow) -> EvalRunRecord:
    return EvalRunRecord(
        eval_run_id=row.eval_run_id,
        dataset_name=row.dataset_name,
        dataset_hash=row.dataset_hash,
        prompt_name=row.prompt_name,
        prompt_version=row.prompt_version,
        prompt_hash=row.prompt_hash,
        baseline=row.baseline,
        model_name=row.model_name,
        settings=json.loads(row.settings_json),
        repeat=row.repeat,
        passed=row.passed,
        gate_failures=json.loads(row.gate_failures_json),
        report=json.loads(row.report_json),
        cost_usd=row.cost_usd,
        judge_cost_usd=row.judge_cost_usd,
        started_at=row.started_at,
        finished_at=row.finished_at,
        created_by=row.created_by,
    )


async def record_eval_run(session_factory: SessionFactory, record: EvalRunRecord) -> None:
    """Store one evaluation run. Recording the same `eval_run_id` twice is an integrity error."""
    row = _to_row(record)  # serialise before opening a transaction, so a bad report fails without one
    async with session_factory.begin() as session:
        session.add(row)


async def latest_passing_eval(
    session_factory: SessionFactory, *, prompt_name: str, prompt_version: str, prompt_hash: str
) -> EvalRunRecord | None:
    """The most recently finished passing run of exactly this prompt version and content hash, or None."""
    query = (
        select(EvalRunRow)
        .where(
            EvalRunRow.prompt_name == prompt_name,
            EvalRunRow.prompt_version == prompt_version,
            EvalRunRow.prompt_hash == prompt_hash,
            EvalRunRow.passed.is_(True),
        )
        .order_by(EvalRunRow.finished_at.desc(), EvalRunRow.eval_run_id)
        .limit(1)
    )
    async with session_factory() as session:
        row = (await session.execute(query)).scalar_one_or_none()
    return None if row is None else _from_row(row)


async def list_eval_runs(
    session_factory: SessionFactory, *, prompt_name: str | None = None, limit: int = 20
) -> list[EvalRunRecord]:
    """Recorded runs, most recently finished first, optionally of one prompt only."""
    query = select(EvalRunRow).order_by(EvalRunRow.finished_at.desc(), EvalRunRow.eval_run_id).limit(limit)
    if prompt_name is not None:
        query = query.where(EvalRunRow.prompt_name == prompt_name)
    async with session_factory() as session:
        rows = (await session.execute(query)).scalars().all()
    return [_from_row(row) for row in rows]
