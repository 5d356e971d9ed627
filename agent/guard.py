"""The guard: every tool call passes the policy layer, is audited, and runs at most once.

`GuardedToolset` wraps the registry's toolset the way pydantic-ai's `ApprovalRequiredToolset` does,
overriding only `call_tool`. For a call the model makes, it:

1. gathers the facts a policy needs (run spend, recent calls, known recipients) and asks the policy
   engine, which fails closed;
2. writes the audit row, and for `require_approval` the approval row, in one transaction *before*
   pausing, so an approval exists durably before anyone is told about it;
3. `allow`: runs the tool and records the result; `deny`: returns the reason to the model as a failed
   tool result it can act on; `require_approval`: raises `ApprovalRequired`, pausing the run.

The wrapped toolset may be the registry's own (the built-in agent) or any pydantic-ai toolset (an agent
a developer brought, under a `Guard`): a tool the registry does not know is described from its
definition and the `ToolSafety` in its metadata (`ToolSpec.for_definition`), with the cautious defaults
when it has none, and pydantic-ai's `requires_approval=True` always means a person decides.

When the run resumes with a person's approval, the same method is called again with
`ctx.tool_call_approved` set. The durable approval row, not pydantic-ai's flag, is the authority: the call
runs only if the row is `approved`, its digest matches the arguments and current policy version, and this
worker wins the conditional update `approved -> executing`. A call whose row is already `executed`
returns the stored result; `executing` past its lease or `unknown` is reported, never retried.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, NoReturn

import logfire
from pydantic_ai.exceptions import ApprovalRequired, ModelRetry, ToolFailed, UserError
from pydantic_ai.tools import RunContext
from pydantic_ai.toolsets import AbstractToolset, WrapperToolset
from pydantic_ai.toolsets.abstract import ToolsetTool
from pydantic_core import to_jsonable_python

from signoff.agent.decider import CallDecider
from signoff.agent.ledger_capability import LedgerCapability
from signoff.agent.run_scope import current_run
from signoff.agent.store import approvals as approval_store
from signoff.agent.store import audit as audit_store
from signoff.agent.store.charges import record_charges
from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.events import append_event
from signoff.agent.store.tables import ApprovalRow, ToolCallRow
from signoff.policies import Decision, PolicyEngine
from signoff.tools.charges import ProviderCharge, charge_tab
from signoff.tools.outcomes import OutcomeUnknown
from signoff.tools.registry import (
    SAFETY_METADATA_KEY,
    ArgsValidator,
    ToolRegistry,
    ToolSafety,
    ToolSpec,
    canonical_json,
)

__all__ = [
    "DEFAULT_EXECUTION_LEASE",
    "GuardCapability",
    "GuardedToolset",
    "approval_digest",
    "spec_for_tool",
]

# How long one tool execution may take before it is abandoned (its outcome then is `unknown`).
DEFAULT_EXECUTION_LEASE = timedelta(minutes=5)
# The lease on an `executing` approval is the tool timeout plus this margin: a row still `executing`
# after both belongs to a process that died. The margin keeps recovery (on another host, with another
# clock) from declaring a tool dead that is still within its timeout.
EXECUTION_LEASE_MARGIN = timedelta(minutes=1)

_UNKNOWN_OUTCOME = (
    "The outcome of this call is unknown: {why}. It was not retried; a person must check whether it took effect."
)


def approval_digest(*, tool_name: str, args: Any, tool_call_id: str, policy_version: str) -> str:
    """The digest an approval is bound to: (tool, validated arguments, tool call id, policy version)."""
    material = canonical_json(
        {"tool": tool_name, "args": args, "tool_call_id": tool_call_id, "policy_version": policy_version}
    )
    return "sha256:" + hashlib.sha256(material.encode("utf-8")).hexdigest()


def _failure_text(error: BaseException) -> str:
    if isinstance(error, ToolFailed | ModelRetry):
        return error.message
    # Unexpected errors reach the model by type only: their text may carry provider internals or data.
    return f"the tool failed unexpectedly ({type(error).__name__})"


def spec_for_tool(
    *,
    name: str,
    description: str | None,
    parameters_json_schema: dict[str, Any],
    args_validator: ArgsValidator,
    metadata: Mapping[str, Any] | None,
    requires_approval: bool,
) -> ToolSpec:
    """The spec of a tool from another toolset: its definition plus the `ToolSafety` in its metadata.

    `requires_approval` is pydantic-ai's flag (`Tool(requires_approval=True)`): when set, a person decides
    every call, whatever the metadata says. Raises `UserError` naming the tool when the metadata is not a
    `ToolSafety` or does not fit the tool's parameters.
    """
    declared = (metadata or {}).get(SAFETY_METADATA_KEY)
    if declared is None:
        safety = ToolSafety()  # undeclared: taken to have side effects, so a person decides
        logfire.warn("tool {tool_name} declares no Signoff safety metadata; every call needs approval", tool_name=name)
    elif isinstance(declared, ToolSafety):
        safety = declared
    else:
        raise UserError(
            f"tool {name!r}: metadata[{SAFETY_METADATA_KEY!r}] must be a signoff.ToolSafety, "
            f"not {type(declared).__name__}"
        )
    if requires_approval and safety.requires_approval is not True:
        # pydantic-ai was told a person approves every call of this tool: that is never relaxed.
        safety = replace(safety, requires_approval=True)
    try:
        return ToolSpec.for_definition(
            name=name,
            description=description or "",
            parameters_json_schema=parameters_json_schema,
            args_validator=args_validator,
            safety=safety,
        )
    except ValueError as error:
        raise UserError(str(error)) from None


@dataclass(kw_only=True)
class GuardedToolset(WrapperToolset[Any]):
    """Wraps a toolset with policy decisions, audit rows, approvals and exactly-once execution."""

    decider: CallDecider
    approval_ttl: timedelta | None = None
    execution_lease: timedelta = DEFAULT_EXECUTION_LEASE

    @property
    def registry(self) -> ToolRegistry:
        return self.decider.registry

    @property
    def policy(self) -> PolicyEngine:
        return self.decider.policy

    @property
    def session_factory(self) -> SessionFactory:
        return self.decider.session_factory

    def clock(self) -> datetime:
        return self.decider.clock()

    async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
        tools = await super().get_tools(ctx)
        for name, tool in tools.items():
            if tool.tool_def.kind == "external":
                raise UserError(
                    f"tool {name!r} is an external (deferred) tool: its calls run outside this process, "
                    "where Signoff cannot guard them"
                )
            if self.registry.get(name) is None:
                definition = tool.tool_def
                spec = spec_for_tool(
                    name=name,
                    description=definition.description,
                    parameters_json_schema=definition.parameters_json_schema,
                    args_validator=tool.args_validator,
                    metadata=definition.metadata,
                    requires_approval=definition.kind == "unapproved",
                )
                try:
                    self.registry.describe(spec)
                except ValueError as error:
                    raise UserError(str(error)) from None
        # pydantic-ai defers an `unapproved` tool's calls without calling the toolset; the guard must see
        # them to record a durable approval, so they reach it as plain calls (its spec requires approval).
        return {
            name: replace(tool, tool_def=replace(tool.tool_def, kind="function"))
            if tool.tool_def.kind == "unapproved"
            else tool
            for name, tool in tools.items()
        }

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        run = current_run()
        if run is None:
            # Not driven by Signoff: there is no run to record the call against, so it does not run.
            raise ToolFailed("Not executed: this tool is guarded by Signoff and the run was not started through it.")
        run_id = run.run_id
        tool_call_id = ctx.tool_call_id
        if tool_call_id is None:  # pragma: no cover - pydantic-ai always sets it for tool calls
            raise ToolFailed("tool call has no id; not executed")
        args = to_jsonable_python(tool_args)
        if ctx.tool_call_approved:
            return await self._run_approved(name, tool_args, args, ctx, tool, run_id=run_id, tool_call_id=tool_call_id)

        # Recipients are looked up first: the CRM may share this database, and the transaction below
        # holds SQLite's write lock. Then the replay check, the policy's facts, the decision and the
        # audit row (and approval row) are one transaction: the check and its record are one step.
        known = await self.decider.known_recipients_for(name, args)
        args_json = canonical_json(args)
        approval_id: str | None = None
        decision: Decision | None = None
        audit: ToolCallRow | None = None
        async with self.session_factory.begin() as session:
            existing = await audit_store.get_tool_call(session, run_id=run_id, tool_call_id=tool_call_id)
            if existing is None:
                context = await self.decider.context_in(session, name, run_id=run_id, known_recipients=known)
                decision = self.decider.evaluate(name, args, context)
                audit = self._new_audit_row(name, args_json, decision, run_id=run_id, tool_call_id=tool_call_id)
                session.add(audit)
                event = {"tool": name, "tool_call_id": tool_call_id}
                append_event(
                    session, run_id=run_id, kind="tool_call", payload={**event, "args": args}, now=audit.requested_at
                )
                append_event(
                    session,
                    run_id=run_id,
                    kind="decision",
                    payload={**event, "verdict": decision.verdict, "rule": decision.rule, "reason": decision.reason},
                    now=audit.requested_at,
                )
                if decision.verdict == "require_approval":
                    approval = self._new_approval(
                        name, args, args_json, decision, run_id=run_id, tool_call_id=tool_call_id
                    )
                    audit.approval_id = approval_id = approval.approval_id
                    session.add(approval)
                    append_event(
                        session,
                        run_id=run_id,
                        kind="approval_requested",
                        payload={**event, "approval_id": approval.approval_id, "summary": approval.summary},
                        now=audit.requested_at,
                    )
                await session.flush()  # assigns audit.audit_id
        if existing is not None or decision is None or audit is None:
            assert existing is not None
            if existing.args_json != args_json:
                # Same id, different call: not a replay. Refuse rather than guess which one is meant.
                raise ToolFailed("Not executed: this tool call reuses the id of an earlier call in this run.")
            # The same step is being processed again (a resumed run after a crash): never act twice.
            return await self._replay(existing)

        match decision.verdict:
            case "deny":
                raise ToolFailed(decision.reason)
            case "require_approval":
                logfire.info(
                    "approval requested for {tool_name}", tool_name=name, run_id=run_id, approval_id=approval_id
                )
                raise ApprovalRequired(metadata={"approval_id": approval_id})
            case "allow":
                return await self._execute(name, tool_args, ctx, tool, audit=audit, approval_id=None)

    def _new_audit_row(
        self, name: str, args_json: str, decision: Decision, *, run_id: str, tool_call_id: str
    ) -> ToolCallRow:
        spec = self.registry.get(name)
        args: dict[str, Any] = json.loads(args_json)
        now = self.clock()
        status = {"deny": "denied", "require_approval": "awaiting_approval", "allow": "running"}[decision.verdict]
        return ToolCallRow(
            run_id=run_id,
            tool_call_id=tool_call_id,
            tool_name=name,
            args_json=args_json,
            verdict=decision.verdict,
            rule=decision.rule,
            reason=decision.reason,
            status=status,
            items=spec.batch_size(args) if spec is not None else 1,
            estimated_cost_usd=spec.estimated_cost_usd(args) if spec is not None else 0,
            requested_at=now,
            started_at=now if decision.verdict == "allow" else None,
        )

    def _new_approval(
        self, name: str, args: dict[str, Any], args_json: str, decision: Decision, *, run_id: str, tool_call_id: str
    ) -> ApprovalRow:
        spec = self.registry.require(name)  # only registered tools get past the unknown-tool rule
        now = self.clock()
        return ApprovalRow(
            approval_id=str(uuid.uuid4()),
            run_id=run_id,
            tool_call_id=tool_call_id,
            tool_name=name,
            requested_args_json=args_json,
            digest=approval_digest(
                tool_name=name, args=args, tool_call_id=tool_call_id, policy_version=self.policy.version
            ),
            policy_version=self.policy.version,
            summary=spec.render_summary(args),
            reason=decision.reason,
            rule=decision.rule,
            state="pending",
            created_at=now,
            expires_at=None if self.approval_ttl is None else now + self.approval_ttl,
        )

    async def _run_approved(
        self,
        name: str,
        tool_args: dict[str, Any],
        args: dict[str, Any],
        ctx: RunContext[Any],
        tool: ToolsetTool[Any],
        *,
        run_id: str,
        tool_call_id: str,
    ) -> Any:
        now = self.clock()
        async with self.session_factory() as session:
            approval = await approval_store.get_approval_for_call(session, run_id=run_id, tool_call_id=tool_call_id)
            audit = await audit_store.get_tool_call(session, run_id=run_id, tool_call_id=tool_call_id)
        if approval is None or audit is None:
            logfire.error("approved call without an approval record: blocked", tool_name=name, run_id=run_id)
            raise ToolFailed("Not executed: there is no recorded human approval for this call.")
        if approval.state != "approved":
            return self._outcome_of_decided(approval)
        expected = approval_digest(
            tool_name=name, args=args, tool_call_id=tool_call_id, policy_version=self.policy.version
        )
        blocked = None
        if expected != approval.digest:
            blocked = (
                "Not executed: the arguments or the policy changed since a person approved this call. "
                "Request it again if it is still needed."
            )
        async with self.session_factory.begin() as session:
            claimed = await approval_store.claim_for_execution(
                session,
                approval_id=approval.approval_id,
                lease_expires_at=now + self.execution_lease + EXECUTION_LEASE_MARGIN,
            )
            if claimed and blocked is not None:
                # Settle it (executing -> failed) so the call stops counting towards spend and rate limits.
                await approval_store.finish_execution(
                    session, approval_id=approval.approval_id, new_state="failed", finished_at=now, error=blocked
                )
                await audit_store.update_tool_call(
                    session, audit_id=audit.audit_id, status="not_executed", error=blocked, finished_at=now
                )
            elif claimed:
                await audit_store.update_tool_call(session, audit_id=audit.audit_id, status="running", started_at=now)
        if blocked is not None:
            logfire.error("approved call does not match its approval: blocked", tool_name=name, run_id=run_id)
            raise ToolFailed(blocked)
        if not claimed:
            # Another resumer won the race; report what it did instead of acting again.
            async with self.session_factory() as session:
                current = await approval_store.get_approval(session, approval_id=approval.approval_id)
            assert current is not None
            return self._outcome_of_decided(current)
        return await self._execute(name, tool_args, ctx, tool, audit=audit, approval_id=approval.approval_id)

    def _outcome_of_decided(self, approval: ApprovalRow) -> Any:
        """What the model is told about an approval that this worker will not execute."""
        match approval.state:
            case "executed":
                return json.loads(approval.result_json) if approval.result_json is not None else None
            case "failed":
                raise ToolFailed(f"The approved call failed: {approval.error}")
            case "executing":
                raise ToolFailed("This approved call is being executed by another worker; it will not run twice.")
            case "unknown":
                raise ToolFailed(_UNKNOWN_OUTCOME.format(why=approval.error or "no result was recorded"))
            case "expired":
                raise ToolFailed("Not executed: the approval request expired without a decision.")
            case "denied":
                raise ToolFailed(f"Not executed: a person denied this call. {approval.decision_note or ''}".strip())
            case _:
                raise ToolFailed(f"Not executed: the approval is {approval.state!r}.")

    async def _execute(
        self,
        name: str,
        tool_args: dict[str, Any],
        ctx: RunContext[Any],
        tool: ToolsetTool[Any],
        *,
        audit: ToolCallRow,
        approval_id: str | None,
    ) -> Any:
        # The caller's transaction already marked the audit row running; this only runs the tool.
        started = time.perf_counter()
        finish = functools.partial(self._finish, audit, approval_id, started=started)
        with charge_tab() as charges:
            try:
                async with asyncio.timeout(self.execution_lease.total_seconds()):
                    result = await super().call_tool(name, tool_args, ctx, tool)
            except (ToolFailed, ModelRetry) as error:
                # The tool reported a definite failure: nothing happened, the model may adapt.
                await finish(status="failed", error=error.message, charges=charges)
                raise
            except OutcomeUnknown as error:
                # The tool itself knows it cannot tell (a write whose answer was lost): never `failed`.
                message = _UNKNOWN_OUTCOME.format(why=error.message)
                await finish(status="unknown", error=message, charges=charges)
                raise ToolFailed(message) from error
            except Exception as error:
                await self._finish_unexpected(name, error, finish=finish, charges=charges)
        if not await finish(status="succeeded", result=result, charges=charges):
            # Recovery declared this execution dead while it ran: keep its verdict, tell the model so.
            raise ToolFailed(_UNKNOWN_OUTCOME.format(why="its worker was presumed dead while it ran"))
        return result

    async def _finish_unexpected(
        self,
        name: str,
        error: Exception,
        *,
        finish: Callable[..., Awaitable[bool]],
        charges: list[ProviderCharge],
    ) -> NoReturn:
        """Record an exception the tool did not translate, as `unknown` where it may have acted."""
        spec = self.registry.get(name)
        may_have_acted = spec is None or (spec.destructive and not spec.idempotent)
        logfire.error("tool {tool_name} raised {error_type}", tool_name=name, error_type=type(error).__name__)
        if isinstance(error, TimeoutError) or may_have_acted:
            # A timeout, or an unexpected error in a tool with side effects, may have come after the
            # effect: recording `failed` would invite a retry of something that happened.
            why = (
                f"the tool did not finish within {self.execution_lease}"
                if isinstance(error, TimeoutError)
                else f"the tool stopped with an unexpected {type(error).__name__}"
            )
            message = _UNKNOWN_OUTCOME.format(why=why)
            await finish(status="unknown", error=message, charges=charges)
            raise ToolFailed(message) from error
        message = _failure_text(error)
        await finish(status="failed", error=message, charges=charges)
        raise ToolFailed(message) from error

    async def _finish(
        self,
        audit: ToolCallRow,
        approval_id: str | None,
        *,
        started: float,
        status: Literal["succeeded", "failed", "unknown"],
        result: Any = None,
        error: str | None = None,
        charges: Sequence[ProviderCharge] = (),
    ) -> bool:
        """Record the outcome; False when the approval was no longer `executing` (recovery settled it).

        `charges` (what the tool paid vendors) go on the ledger in the same transaction, whatever the
        outcome: a call that failed after paying still cost the money.

        `audit` is the call's row as this worker read or wrote it; only its identity is used.
        """
        finished_at = self.clock()
        result_json = None if status != "succeeded" else canonical_json(result)
        recorded = True
        async with self.session_factory.begin() as session:
            if approval_id is not None:
                new_state: Literal["executed", "failed", "unknown"] = (
                    "executed" if status == "succeeded" else "failed" if status == "failed" else "unknown"
                )
                recorded = await approval_store.finish_execution(
                    session,
                    approval_id=approval_id,
                    new_state=new_state,
                    finished_at=finished_at,
                    result_json=result_json,
                    error=error,
                )
            append_event(
                session,
                run_id=audit.run_id,
                kind="tool_result",
                payload={
                    "tool": audit.tool_name,
                    "tool_call_id": audit.tool_call_id,
                    "status": status if recorded else "unknown",
                    "error": error,
                },
                now=finished_at,
            )
            await audit_store.update_tool_call(
                session,
                audit_id=audit.audit_id,
                status=status if recorded else "unknown",
                result_json=result_json,
                error=error,
                finished_at=finished_at,
                duration_ms=round((time.perf_counter() - started) * 1000),
            )
            record_charges(
                session,
                charges,
                run_id=audit.run_id,
                tool_call_id=audit.tool_call_id,
                approval_id=approval_id,
                tool_name=audit.tool_name,
                now=finished_at,
            )
        return recorded

    async def _replay(self, audit: ToolCallRow) -> Any:
        """The model's view of a call this run already handled (seen again after a resume)."""
        match audit.status:
            case "succeeded":
                return json.loads(audit.result_json) if audit.result_json is not None else None
            case "denied" | "failed" | "not_executed" | "unknown":
                raise ToolFailed(audit.error or audit.reason)
            case "awaiting_approval":
                raise ApprovalRequired(metadata={"approval_id": audit.approval_id})
            case _:
                message = _UNKNOWN_OUTCOME.format(why="the process running it stopped before recording a result")
                async with self.session_factory.begin() as session:
                    await audit_store.update_tool_call(
                        session, audit_id=audit.audit_id, status="unknown", finished_at=self.clock()
                    )
                    append_event(
                        session,
                        run_id=audit.run_id,
                        kind="tool_result",
                        payload={
                            "tool": audit.tool_name,
                            "tool_call_id": audit.tool_call_id,
                            "status": "unknown",
                            "error": message,
                        },
                        now=self.clock(),
                    )
                raise ToolFailed(message)


@dataclass(kw_only=True)
class GuardCapability(LedgerCapability):
    """The guard as one pydantic-ai capability: the ledger on every model request, and every tool call of
    the agent (its assembled toolset, whatever it holds) through `GuardedToolset`.

    A run must be driven by Signoff (the runner binds it, see `agent.run_scope`): one that is not is
    refused before its first request, since nothing of it could be recorded.
    """

    decider: CallDecider
    approval_ttl: timedelta | None = None
    execution_lease: timedelta = DEFAULT_EXECUTION_LEASE

    def get_wrapper_toolset(self, toolset: AbstractToolset[Any]) -> AbstractToolset[Any] | None:
        return GuardedToolset(
            wrapped=toolset,
            decider=self.decider,
            approval_ttl=self.approval_ttl,
            execution_lease=self.execution_lease,
        )

    async def before_run(self, ctx: RunContext[Any]) -> None:
        if current_run() is None:
            raise UserError(
                "this agent is guarded by Signoff: start it with `await guard.run(...)` (or a Runner), "
                "not agent.run(), so that its calls are decided, approved and recorded"
            )
