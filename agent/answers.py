"""A run's final answer paired with what actually happened: its effects and the claims the audit contradicts.

`check_answer` reads the run's audit trail and approvals (and those of the earlier runs of its
conversation, which a follow-up answer may recount) and applies `signoff.agent.effects` and
`signoff.agent.claims`, with people's findings on unknown calls, and says what about the run still
needs a person (`signoff.agent.attention`). Every front end shows its result beside the answer, so an
answer saying "sent" about a denied send, or a run that did not do the work, is never shown alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.attention import Attention, run_attention
from signoff.agent.claims import Contradiction, check_claims
from signoff.agent.effects import ApprovalOutcome, RunEffects, run_effects
from signoff.agent.records import ToolCallRecord
from signoff.agent.runs import RunNotFound
from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.resolutions import list_resolutions
from signoff.agent.store.tables import ApprovalRow, RunRow, ToolCallRow
from signoff.tools.registry import ToolRegistry

__all__ = ["AnswerCheck", "check_answer", "check_run_answer"]


@dataclass(frozen=True, kw_only=True)
class AnswerCheck:
    """A run's answer (None until it has one), its effects, where the answer contradicts them, and what
    about the run needs a person (`attention`: empty when nothing does)."""

    run_id: str
    answer: str | None
    effects: RunEffects
    contradictions: tuple[Contradiction, ...]
    attention: tuple[Attention, ...] = ()


async def check_answer(session: AsyncSession, *, run: RunRow, registry: ToolRegistry | None) -> AnswerCheck:
    """The effects of `run` and the contradictions of its final answer (see the module docstring).

    `registry` says which tools are destructive; None counts every call as an effect.
    """
    earlier_runs = (
        await session.scalars(
            select(RunRow.run_id).where(
                RunRow.conversation_id == run.conversation_id,
                RunRow.run_id != run.run_id,
                RunRow.created_at <= run.created_at,
            )
        )
    ).all()
    in_scope = [run.run_id, *earlier_runs]
    rows = (
        await session.scalars(
            select(ToolCallRow).where(ToolCallRow.run_id.in_(in_scope)).order_by(ToolCallRow.audit_id)
        )
    ).all()
    approval_ids = [row.approval_id for row in rows if row.approval_id is not None]
    approvals: Sequence[ApprovalRow] = []
    if approval_ids:
        approvals = (await session.scalars(select(ApprovalRow).where(ApprovalRow.approval_id.in_(approval_ids)))).all()
    records = [ToolCallRecord.from_row(row) for row in rows]
    everything = run_effects(
        records,
        approvals=[ApprovalOutcome.of(row) for row in approvals],
        resolutions=await list_resolutions(session, run_ids=in_scope),
        registry=registry,
    )
    own = RunEffects(effects=tuple(effect for effect in everything.effects if effect.run_id == run.run_id))
    return AnswerCheck(
        run_id=run.run_id,
        answer=run.final_output,
        effects=own,
        contradictions=check_claims(run.final_output, everything.effects, registry=registry),
        attention=run_attention([record for record in records if record.run_id == run.run_id], own, status=run.status),
    )


async def check_run_answer(
    session_factory: SessionFactory, run_id: str, *, registry: ToolRegistry | None
) -> AnswerCheck:
    """`check_answer` for the run of that id; `RunNotFound` when there is none."""
    async with session_factory() as session:
        run = await session.get(RunRow, run_id)
        if run is None:
            raise RunNotFound(run_id)
        return await check_answer(session, run=run, registry=registry)
