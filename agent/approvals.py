"""Human decisions on pending tool calls: approve (optionally with edited arguments) or deny.

Errors, all subclasses of `ApprovalError` (each carries a message fit to show a person):

- `ApprovalNotFound`: no approval has that id.
- `ApprovalAlreadyDecided`: it is no longer pending (decided, expired, executing or done);
  `state` says which. Nothing changed.
- `ApprovalRefused`: the edited arguments fail the tool's schema (`errors` lists them), or the policy
  denies the call as decided (an edit cannot lift a hard limit). Nothing changed.

Every approval is checked against the current policy when it is decided, and its digest is bound to
the arguments approved and the policy version that checked them; the guard executes only that.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import logfire

from signoff.agent.decider import CallDecider
from signoff.agent.guard import approval_digest
from signoff.agent.store import approvals as approval_store
from signoff.agent.store import audit as audit_store
from signoff.agent.store import runs as run_store
from signoff.agent.store.engine import read_session_factory
from signoff.agent.store.events import append_event
from signoff.agent.store.tables import ApprovalRow, ApprovalState
from signoff.tools.registry import ToolArgumentsError, ToolSpec, canonical_json

# The width of the principal columns (runs.requested_by, approvals.decided_by).
MAX_DECIDER_CHARS = 200

__all__ = [
    "ApprovalAlreadyDecided",
    "ApprovalError",
    "ApprovalNotFound",
    "ApprovalRefused",
    "ApprovalService",
    "SelfApprovalRefused",
]


class ApprovalError(Exception):
    """Base of the errors a decision can meet; nothing was changed when one is raised."""


class ApprovalNotFound(ApprovalError):
    """No approval has that id."""

    def __init__(self, approval_id: str) -> None:
        self.approval_id = approval_id
        super().__init__(f"no approval with id {approval_id!r}")


class ApprovalAlreadyDecided(ApprovalError):
    """The approval is no longer pending."""

    def __init__(self, approval_id: str, state: str) -> None:
        self.approval_id = approval_id
        self.state = state
        super().__init__(f"approval {approval_id!r} is already {state}; nothing was changed")


class SelfApprovalRefused(ApprovalError):
    """The principal deciding is the one who requested the run, and self-approval is not allowed."""

    def __init__(self, approval_id: str, principal: str) -> None:
        self.approval_id = approval_id
        self.principal = principal
        super().__init__(f"{principal!r} requested this run, so someone else must decide approval {approval_id!r}")


class ApprovalRefused(ApprovalError):
    """The approval (with its edit) fails validation or policy."""

    def __init__(self, message: str, *, errors: Sequence[Mapping[str, Any]] = ()) -> None:
        self.errors = list(errors)
        super().__init__(message)


@dataclass(kw_only=True)
class ApprovalService:
    """Approve, deny and list approvals. Resuming the run afterwards is the runner's job."""

    decider: CallDecider
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    allow_self_approval: bool = True
    """The CLI (a local operator with the database at hand) allows it; the HTTP service does not by default."""

    async def list(
        self,
        *,
        states: Sequence[ApprovalState] | None = ("pending",),
        run_id: str | None = None,
        tool_name: str | None = None,
        limit: int = 100,
    ) -> list[ApprovalRow]:
        """Approvals, oldest first; expired ones are marked expired before listing."""
        await self._expire_due()
        async with read_session_factory(self.decider.session_factory)() as session:
            return await approval_store.list_approvals(
                session, states=states, run_id=run_id, tool_name=tool_name, limit=limit
            )

    async def get(self, approval_id: str) -> ApprovalRow:
        """One approval, or `ApprovalNotFound`."""
        async with self.decider.session_factory() as session:
            row = await approval_store.get_approval(session, approval_id=approval_id)
        if row is None:
            raise ApprovalNotFound(approval_id)
        return row

    async def approve(
        self,
        approval_id: str,
        *,
        decided_by: str,
        note: str | None = None,
        edited_args: Mapping[str, Any] | None = None,
    ) -> ApprovalRow:
        """Approve a pending call, optionally with edited arguments (validated and policy-checked)."""
        self._check_decider(decided_by)
        row = await self._pending(approval_id, decided_by=decided_by)
        spec = self.decider.registry.require(row.tool_name)
        if edited_args is None:
            args: dict[str, Any] = json.loads(row.requested_args_json)
        else:
            try:
                args = spec.validate_args(edited_args)
            except ToolArgumentsError as error:
                raise ApprovalRefused(f"edited arguments are invalid: {error}", errors=error.errors) from error
        decision = await self.decider.decide(
            row.tool_name, args, run_id=row.run_id, excluding_tool_call_id=row.tool_call_id
        )
        if decision.verdict == "deny":
            raise ApprovalRefused(f"the policy refuses this call ({decision.rule}): {decision.reason}")
        edited = edited_args is not None and canonical_json(args) != row.requested_args_json
        changed = await self._transition(
            row,
            new_state="approved",
            decided_by=decided_by,
            note=note,
            approved_args_json=canonical_json(args) if edited else None,
            audited_call=(args, spec) if edited else None,
            digest=approval_digest(
                tool_name=row.tool_name,
                args=args,
                tool_call_id=row.tool_call_id,
                policy_version=self.decider.policy.version,
            ),
        )
        logfire.info("approval {approval_id} approved", approval_id=approval_id, decided_by=decided_by, edited=edited)
        return changed

    async def deny(self, approval_id: str, *, decided_by: str, reason: str) -> ApprovalRow:
        """Deny a pending call; `reason` reaches the model."""
        if not reason.strip():
            raise ApprovalRefused("a denial needs a reason: the model is told why")
        self._check_decider(decided_by)
        row = await self._pending(approval_id, decided_by=decided_by)
        changed = await self._transition(row, new_state="denied", decided_by=decided_by, note=reason.strip())
        logfire.info("approval {approval_id} denied", approval_id=approval_id, decided_by=decided_by)
        return changed

    @staticmethod
    def _check_decider(decided_by: str) -> None:
        if not decided_by.strip():
            raise ApprovalRefused("who decides must be named")
        if len(decided_by) > MAX_DECIDER_CHARS:
            raise ApprovalRefused(
                f"the decider's name is {len(decided_by)} characters; the limit is {MAX_DECIDER_CHARS}"
            )

    async def _expire_due(self) -> None:
        # Most calls find nothing due; checking first without the write lock keeps queue reads from
        # queueing behind writers (and each other) on SQLite.
        now = self.clock()
        async with read_session_factory(self.decider.session_factory)() as session:
            if not await approval_store.any_due(session, now=now):
                return
        async with self.decider.session_factory.begin() as session:
            await approval_store.expire_due(session, now=now)

    async def _pending(self, approval_id: str, *, decided_by: str | None = None) -> ApprovalRow:
        await self._expire_due()
        row = await self.get(approval_id)
        if row.state != "pending":
            raise ApprovalAlreadyDecided(approval_id, row.state)
        if not self.allow_self_approval and decided_by is not None:
            async with self.decider.session_factory() as session:
                run = await run_store.get_run(session, run_id=row.run_id)
            if run is not None and run.requested_by == decided_by:
                raise SelfApprovalRefused(approval_id, decided_by)
        return row

    async def _transition(
        self,
        row: ApprovalRow,
        *,
        new_state: ApprovalState,
        decided_by: str,
        note: str | None,
        approved_args_json: str | None = None,
        audited_call: tuple[dict[str, Any], ToolSpec] | None = None,
        digest: str | None = None,
    ) -> ApprovalRow:
        async with self.decider.session_factory.begin() as session:
            won = await approval_store.decide(
                session,
                approval_id=row.approval_id,
                new_state=new_state,
                decided_by=decided_by,
                decided_at=self.clock(),
                note=note,
                approved_args_json=approved_args_json,
                digest=digest,
                policy_version=self.decider.policy.version if digest is not None else None,
                # An edited approval describes what will run: "Create 3 contacts", not the 5 first asked.
                summary=None if audited_call is None else audited_call[1].render_summary(audited_call[0]),
            )
            if won:
                append_event(
                    session,
                    run_id=row.run_id,
                    kind="approval_decided",
                    payload={
                        "approval_id": row.approval_id,
                        "tool_call_id": row.tool_call_id,
                        "decision": new_state,
                        "decided_by": decided_by,
                        "note": note,
                        "edited": approved_args_json is not None,
                    },
                    now=self.clock(),
                )
            if won and audited_call is not None:
                # The audit trail, spend and rate limits follow what will run: the edited arguments.
                args, spec = audited_call
                await audit_store.record_edited_args(
                    session,
                    run_id=row.run_id,
                    tool_call_id=row.tool_call_id,
                    args_json=canonical_json(args),
                    items=spec.batch_size(args),
                    estimated_cost_usd=spec.estimated_cost_usd(args),
                )
        if not won:
            # Someone decided first, or it expired in between: report the state that won.
            current = await self.get(row.approval_id)
            raise ApprovalAlreadyDecided(row.approval_id, current.state)
        return await self.get(row.approval_id)
