"""The runner: starts runs, pauses them for approvals, resumes them once decided, recovers after crashes.

A run is driven by a pydantic-ai `Agent` whose toolset is the registry behind the guard and whose
capabilities include the ledger. Its message history is stored after every step, so a run can be
resumed by any process sharing the database. Who drives a run is settled by conditional updates and a
lease on the run row: two resumers of the same run, or two workers, never both drive it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import logfire
from pydantic_ai import Agent
from pydantic_ai.exceptions import AgentRunError, ModelAPIError, UserError
from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
)
from pydantic_ai.models import Model
from pydantic_ai.tools import DeferredToolRequests, DeferredToolResults
from pydantic_ai.usage import RunUsage, UsageLimits
from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.attention import Attention, attention_of_runs, attention_payload
from signoff.agent.budgets import spend_standings
from signoff.agent.decider import CallDecider
from signoff.agent.framing import frame_task
from signoff.agent.guard import GuardCapability
from signoff.agent.history import (
    deferred_results,
    dump_history,
    final_answer,
    load_history,
)
from signoff.agent.ledger import LedgerWriter
from signoff.agent.ledger_capability import ResponseBrokeOff, RunCostLimitExceeded
from signoff.agent.model_calls import ModelCalls
from signoff.agent.models import describe_model_failure
from signoff.agent.run_scope import bound_run
from signoff.agent.runs import (
    AGENT_PROMPT_PREFIX,
    STREAM_RESTART_DELAY_SECONDS,
    ConversationBusy,
    ConversationNotFound,
    LeaseLost,
    RunnerSettings,
    RunNotFound,
    RunOutcome,
    agent_identity,
)
from signoff.agent.store import approvals as approval_store
from signoff.agent.store import audit as audit_store
from signoff.agent.store import recovery as recovery_store
from signoff.agent.store import runs as run_store
from signoff.agent.store import workers as worker_store
from signoff.agent.store.events import append_event
from signoff.agent.store.tables import RunRow, WorkerRow
from signoff.agent.telemetry import redact_text
from signoff.agent.workers import is_dead, this_host
from signoff.prompts import PromptError, PromptTemplate
from signoff.tools.context import PromptRef, RunDeps
from signoff.tools.registry import canonical_json

__all__ = [
    "Runner",
]


def _no_prompt_loader(name: str, version: str) -> PromptTemplate:
    raise PromptError(f"this runner cannot load prompt {name}@{version}: it was given no prompt_loader")


@dataclass(kw_only=True)
class Runner:
    """Drives runs: `start`, `resume` after decisions, and `recover` what a dead process left."""

    decider: CallDecider
    model: Model | None
    """The model the built-in agent plans with; None with `agent` (a developer's agent has its own)."""
    prompt: PromptTemplate | None
    """The built-in agent's prompt version for new runs; None with `agent`."""
    ledger: LedgerWriter
    settings: RunnerSettings = field(default_factory=RunnerSettings)
    worker_id: str = field(default_factory=lambda: f"worker-{uuid.uuid4()}")
    model_calls: ModelCalls | None = None
    """Routed model calls for tools, handed to them in each run's `RunDeps` (None: tools get none)."""
    prompt_loader: Callable[[str, str], PromptTemplate] = field(default=_no_prompt_loader)
    """Loads the pinned prompt version a run began with (name, version): a pack's prompt comes from its folder."""
    agent: Agent[Any, Any] | None = None
    """A developer's own pydantic-ai agent to drive instead of the built-in one (see `signoff.Guard`)."""
    agent_has_guard: bool = False
    """Whether `agent` already carries the guard among its capabilities (else it is added to each run)."""
    deps_factory: Callable[[], Any] | None = None
    """Makes `agent`'s deps for a run resumed or recovered without deps given (None: the agent gets None)."""
    _agents: dict[str, Agent[RunDeps, str | DeferredToolRequests]] = field(
        default_factory=dict[str, "Agent[RunDeps, str | DeferredToolRequests]"], init=False
    )

    def __post_init__(self) -> None:
        if (self.agent is None) == (self.prompt is None and self.model is None):
            raise ValueError("a Runner drives either its own agent (model and prompt) or a given agent, not both")
        if self.agent is None and (self.prompt is None or self.model is None):
            raise ValueError("the built-in agent needs both a model and a prompt")

    def clock(self) -> datetime:
        """Now, from the decider's clock (one clock for the whole runtime)."""
        return self.decider.clock()

    @property
    def session_factory(self):
        return self.decider.session_factory

    # --- building the agent -------------------------------------------------------------------

    @property
    def identity(self) -> PromptRef:
        """What new runs record as their prompt: the built-in prompt version, or the developer's agent."""
        if self.agent is not None:
            return agent_identity(self.agent)
        assert self.prompt is not None
        return PromptRef(name=self.prompt.name, version=self.prompt.version, content_hash=self.prompt.content_hash)

    def drives(self, prompt_name: str) -> bool:
        """Whether runs recorded with this prompt name are this runner's to drive (a developer's agent
        drives its own runs only; the built-in agent drives every run that is not a developer's agent's)."""
        if self.agent is not None:
            return prompt_name == self.identity.name
        return not prompt_name.startswith(AGENT_PROMPT_PREFIX)

    def guard_capability(self) -> GuardCapability:
        """The guard and the ledger as one pydantic-ai capability, for this runner's settings."""
        return GuardCapability(
            writer=self.ledger,
            max_run_cost_usd=self.settings.max_run_cost_usd,
            clock=self.clock,
            decider=self.decider,
            approval_ttl=self.settings.approval_ttl,
            execution_lease=self.settings.execution_lease,
        )

    def agent_for(self, prompt: PromptTemplate) -> Agent[RunDeps, str | DeferredToolRequests]:
        """The built-in agent for one prompt version (built once, reused across runs)."""
        agent = self._agents.get(prompt.content_hash)
        if agent is None:
            assert self.model is not None
            agent = Agent[RunDeps, str | DeferredToolRequests](
                self.model,
                deps_type=RunDeps,
                output_type=[str, DeferredToolRequests],
                instructions=self.instructions(prompt),
                toolsets=[self.decider.registry.toolset()],
                capabilities=[self.guard_capability()],
                name="signoff",
            )
            self._agents[prompt.content_hash] = agent
        return agent

    @staticmethod
    def instructions(prompt: PromptTemplate) -> str:
        """The system instructions: the template rendered with no per-run values, identical for every task."""
        return prompt.render()

    # --- public operations ----------------------------------------------------------------------

    async def start(
        self,
        task_text: str,
        *,
        context: Mapping[str, Any] | None = None,
        requested_by: str = "cli",
        conversation_id: str | None = None,
        deps: Any = None,
    ) -> RunOutcome:
        """Create a run for a task and drive it until it completes, fails or waits for approval.

        `deps` are a developer's agent's own deps for this drive (see `Runner.agent`)."""
        run, _created = await self.create_run(
            task_text, context=context, requested_by=requested_by, conversation_id=conversation_id
        )
        return await self.drive_new(run.run_id, deps=deps)

    async def create_run(
        self,
        task_text: str,
        *,
        context: Mapping[str, Any] | None = None,
        requested_by: str = "cli",
        conversation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[RunRow, bool]:
        """Store a new run (durably, before anyone is told it exists) without driving it yet.

        Returns the run and whether it was created: with an `idempotency_key` this requester already
        used, the earlier run comes back instead. With `conversation_id`, the task continues that
        conversation (whose runs must all have finished). Drive it with `drive_new`.
        """
        frame_task(task_text, context)  # validates the task and context before anything is stored
        if idempotency_key is not None:
            existing = await self._run_for_idempotency_key(requested_by, idempotency_key)
            if existing is not None:
                return existing, False
        if conversation_id is not None:
            await self._conversation_history(conversation_id)  # it exists and is not busy
        now = self.clock()
        identity = self.identity
        run = RunRow(
            run_id=str(uuid.uuid4()),
            conversation_id=conversation_id or str(uuid.uuid4()),
            status="running",
            task_text=task_text.strip(),
            context_json=json.dumps(context, sort_keys=True) if context else None,
            requested_by=requested_by,
            idempotency_key=idempotency_key,
            model_name=self._model_name(),
            prompt_name=identity.name,
            prompt_version=identity.version,
            prompt_hash=identity.content_hash,
            prompt_label=None if self.prompt is None else self.prompt.label,
            policy_version=self.decider.policy.version,
            # Empty until the run starts: the conversation's history is read when it is driven.
            message_history="[]",
            lease_owner=self.worker_id,
            lease_expires_at=now + self.settings.run_lease,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.session_factory.begin() as session:
                session.add(run)
                await session.flush()  # the run row first: events refer to it
                append_event(
                    session,
                    run_id=run.run_id,
                    kind="run_started",
                    payload={"task": run.task_text, "requested_by": requested_by},
                    now=now,
                )
        except IntegrityError:
            # Two requests with the same idempotency key raced: the other one's run is the answer.
            if idempotency_key is not None:
                existing = await self._run_for_idempotency_key(requested_by, idempotency_key)
                if existing is not None:
                    return existing, False
            raise
        logfire.info("run {run_id} created", run_id=run.run_id, requested_by=requested_by)
        return run, True

    async def drive_new(self, run_id: str, *, deps: Any = None) -> RunOutcome:
        """Drive a run this worker created with `create_run` from its task to its first stop."""
        async with self.session_factory() as session:
            run = await run_store.get_run(session, run_id=run_id)
        if run is None:
            raise RunNotFound(run_id)
        return await self._continue(run_id, deps=deps)

    async def _run_for_idempotency_key(self, requested_by: str, idempotency_key: str) -> RunRow | None:
        async with self.session_factory() as session:
            result = await session.execute(
                select(RunRow).where(RunRow.requested_by == requested_by, RunRow.idempotency_key == idempotency_key)
            )
            return result.scalar_one_or_none()

    async def resume(self, run_id: str, *, deps: Any = None) -> RunOutcome:
        """Continue a run whose approvals are all decided. Safe to call twice, or from two processes:
        only one caller drives the run; the others get its current state back. A run another agent
        drives (see `drives`) is left for it.
        """
        now = self.clock()
        async with self.session_factory.begin() as session:
            await approval_store.expire_due(session, now=now, run_id=run_id)
            run = await run_store.get_run(session, run_id=run_id)
            if run is None:
                raise RunNotFound(run_id)
            if (
                not self.drives(run.prompt_name)
                or run.status != "awaiting_approval"
                or await approval_store.count_pending(session, run_id=run_id)
            ):
                claimed = False
            else:
                claimed = await run_store.claim_for_resume(
                    session,
                    run_id=run_id,
                    worker_id=self.worker_id,
                    now=now,
                    lease_expires_at=now + self.settings.run_lease,
                )
                if claimed:
                    append_event(session, run_id=run_id, kind="run_resumed", payload={}, now=now)
        if not claimed:
            return await self.outcome(run_id)
        return await self._continue(run_id, deps=deps)

    async def recover(self, *, full: bool = True) -> list[RunOutcome]:
        """Settle what dead processes left behind, then continue the runs that can continue.

        `executing` approvals past their lease become `unknown` (never re-executed). Runs left `running`
        by a dead worker (see `agent.workers.is_dead`; a run whose owner has no worker row, by its lease)
        are taken over at once: what that worker was executing becomes `unknown`, approved calls it had not
        started run once, and the run continues from its stored history. Runs whose approvals expired
        now are resumed, so the model hears of the expiry. With `full` (at start-up, and now and then),
        every run whose approvals were all decided but that was never resumed is resumed too; without it
        (the frequent sweep) that scan of the whole queue is skipped.
        """
        now = self.clock()
        async with self.session_factory.begin() as session:
            expired_runs = await recovery_store.settle_stale_calls(session, now=now)
            stranded = await recovery_store.find_stranded_runs(
                session, driven_here=self._driven_here(), with_resumable=full
            )
            owners = await worker_store.workers(session, {owner for _, owner, _ in stranded.running if owner})
        outcomes: list[RunOutcome] = []
        for run_id, owner, lease_end in stranded.running:
            if not self._abandoned(owner, lease_end, owners.get(owner) if owner else None, now):
                continue
            async with self.session_factory.begin() as session:
                claimed = await recovery_store.take_over(
                    session,
                    run_id=run_id,
                    from_owner=owner,
                    to_owner=self.worker_id,
                    now=now,
                    lease_expires_at=now + self.settings.run_lease,
                    reason="the process running this call stopped before recording its outcome",
                )
            if claimed:
                logfire.warn("run {run_id} was abandoned by worker {owner}; continuing it", run_id=run_id, owner=owner)
                outcomes.append(await self._continue(run_id))
        resumable = stranded.resumable if stranded.resumable is not None else expired_runs
        for run_id in dict.fromkeys(resumable):
            try:
                outcome = await self.resume(run_id)
            except Exception:  # one broken run must not keep the others waiting
                logfire.exception("run {run_id} could not be resumed during recovery", run_id=run_id)
                continue
            if outcome.status != "awaiting_approval":
                outcomes.append(outcome)
        return outcomes

    def _abandoned(
        self, owner: str | None, lease_end: datetime | None, worker: WorkerRow | None, now: datetime
    ) -> bool:
        """Whether a `running` run's owner is gone: a dead worker, or (no worker row) a lease run out.

        A run this worker owns is judged by its lease too: this process is alive, but the drive that held
        the run may have ended without finishing it (the lease is renewed at every step while it drives).
        """
        if worker is not None and owner != self.worker_id:
            return is_dead(
                worker, now=now, dead_after=self.settings.worker_dead_after, host=this_host(), own_id=self.worker_id
            )
        return lease_end is None or lease_end <= now

    def _driven_here(self) -> ColumnElement[bool]:
        """The SQL form of `drives`: which runs recovery may take up."""
        if self.agent is not None:
            return RunRow.prompt_name == self.identity.name
        return RunRow.prompt_name.not_like(f"{AGENT_PROMPT_PREFIX}%")

    def _model_name(self) -> str:
        if self.model is not None:
            return self.model.model_name
        model = self.agent.model if self.agent is not None else None
        return model if isinstance(model, str) else model.model_name if model is not None else "unknown"

    async def release(self, run_ids: Sequence[str]) -> None:
        """Hand runs this worker was driving (and has stopped driving) to whoever recovers next.

        Their leases end now, so another process continues them at once instead of after the lease.
        A call this worker was executing when it stopped may or may not have had its effect: it
        becomes `unknown`, never re-executed.
        """
        async with self.session_factory.begin() as session:
            released = await recovery_store.release_runs(
                session,
                run_ids=run_ids,
                worker_id=self.worker_id,
                now=self.clock(),
                reason="the server stopped while this call was running",
                harmless_tools=[spec.name for spec in self.decider.registry if not spec.destructive],
            )
        logfire.info("released {count} runs for recovery", count=released)

    async def outcome(self, run_id: str) -> RunOutcome:
        """The current state of a run, without touching it."""
        async with self.session_factory() as session:
            run = await run_store.get_run(session, run_id=run_id)
            if run is None:
                raise RunNotFound(run_id)
            pending = await approval_store.list_approvals(session, states=["pending"], run_id=run_id)
            attention = await self._attention(session, run_id, run.status)
        return RunOutcome(
            run_id=run.run_id,
            status=run.status,  # pyright: ignore[reportArgumentType]
            output=run.final_output,
            failure_reason=run.failure_reason,
            pending_approval_ids=tuple(a.approval_id for a in pending),
            attention=attention,
        )

    # --- driving ----------------------------------------------------------------------------------

    async def _continue(self, run_id: str, *, stream_restarts: int = 0, deps: Any = None) -> RunOutcome:
        """Drive a run this worker has claimed, from its stored history and decided approvals.

        `stream_restarts` counts the restarts after broken-off responses so far in this drive."""
        async with self.session_factory() as session:
            run = await run_store.get_run(session, run_id=run_id)
            assert run is not None
            approvals = await approval_store.list_approvals(session, run_id=run_id, limit=10_000)
        try:
            history = load_history(run.message_history)
            if not history:
                # Not started yet (or its worker died before storing anything): start from the task text,
                # after the conversation so far.
                context = json.loads(run.context_json) if run.context_json else None
                earlier = await self._conversation_history(run.conversation_id, excluding_run_id=run.run_id)
                return await self._drive(
                    run,
                    user_content=frame_task(run.task_text, context),
                    history=earlier,
                    deferred=None,
                    stream_restarts=stream_restarts,
                    deps=deps,
                )
            final = final_answer(history)
            if final is not None:
                # The worker died after the answer and before recording it: record it now.
                return await self._complete(run.run_id, history, final)
            deferred, not_executed = deferred_results(history, approvals)
            if not_executed:
                async with self.session_factory.begin() as session:
                    for approval, message in not_executed:
                        await audit_store.mark_call_of_approval(session, approval, status="not_executed", error=message)
        except Exception as error:
            logfire.exception("run {run_id} could not be continued", run_id=run_id)
            return await self._fail(run_id, [], f"could not continue the run ({type(error).__name__})")
        has_results = bool(deferred.approvals or deferred.calls)
        return await self._drive(
            run,
            user_content=None,
            history=history,
            deferred=deferred if has_results else None,
            stream_restarts=stream_restarts,
            deps=deps,
        )

    async def _drive(
        self,
        run: RunRow,
        *,
        user_content: Sequence[str] | None,
        history: list[ModelMessage],
        deferred: DeferredToolResults | None,
        stream_restarts: int = 0,
        deps: Any = None,
    ) -> RunOutcome:
        messages: list[ModelMessage] = history
        try:
            agent, run_deps, agent_deps, run_options = await self._agent_for_run(run, deps)
        except Exception as error:
            # A run this worker cannot drive (say, its prompt version is not deployed here) fails with
            # the reason; it must not stay `running` for recovery to trip over again and again.
            logfire.exception("run {run_id} cannot be driven by this worker", run_id=run.run_id)
            return await self._fail(run.run_id, messages, f"cannot drive this run: {redact_text(str(error))}")
        if user_content is not None and (over := await self._spent_beyond_a_limit(run)) is not None:
            # A new task in a conversation, or by a requester, already past a cumulative limit makes no model
            # request at all: model-only spend cannot be split over runs either (a paused run resumes, so
            # calls a person approved still run).
            return await self._fail(run.run_id, messages, over)
        try:
            with logfire.span("run {run_id}", run_id=run.run_id), bound_run(run_deps):
                async with agent.iter(
                    user_content,
                    message_history=history or None,
                    deferred_tool_results=deferred,
                    deps=agent_deps,
                    # pydantic-ai gives each start or resume its own run id; ours is bound and spans them.
                    conversation_id=run.conversation_id,
                    # pydantic-ai counts per call of `iter`; starting from the run's own counts makes the
                    # limits hold for the whole run, however often it paused.
                    usage=RunUsage(requests=run_deps.model_requests, tool_calls=run_deps.tool_calls),
                    usage_limits=UsageLimits(
                        request_limit=self.settings.request_limit, tool_calls_limit=self.settings.tool_call_limit
                    ),
                    **run_options,
                ) as agent_run:
                    async for node in agent_run:
                        if self.settings.stream_model_responses and Agent.is_model_request_node(node):
                            # Streaming the node makes the request; the loop then moves past the node.
                            async with node.stream(agent_run.ctx) as response_stream:
                                async for _event in response_stream:
                                    pass
                        # Checkpoint whenever the history grew: in particular a model response with tool
                        # calls is stored before those calls run, so a crash resumes at the right step.
                        current = agent_run.all_messages()
                        if len(current) != len(messages):
                            added = current[len(messages) :]
                            messages = current
                            await self._checkpoint(run.run_id, messages, new_messages=added)
                    result = agent_run.result
                    assert result is not None
                    messages = result.all_messages()
                    output = result.output
        except LeaseLost:
            logfire.warn("run {run_id} was taken over by another worker; this one stops", run_id=run.run_id)
            return await self.outcome(run.run_id)
        except ResponseBrokeOff as error:
            if stream_restarts < self.settings.stream_restarts:
                # Nothing of the broken response was stored or run: continue from the last checkpoint,
                # which asks for it again (tool calls already made are answered from the audit, not rerun).
                logfire.warn(
                    "run {run_id}: a streamed response broke off ({error}); asking again",
                    run_id=run.run_id,
                    error=error.message,
                    restart=stream_restarts + 1,
                )
                await asyncio.sleep(STREAM_RESTART_DELAY_SECONDS * (stream_restarts + 1))
                return await self._continue(run.run_id, stream_restarts=stream_restarts + 1, deps=deps)
            breaks = stream_restarts + 1
            times = "once" if breaks == 1 else f"{breaks} times"
            reason = f"{describe_model_failure(error.broken)}; the streamed response broke off {times}"
            return await self._fail(run.run_id, messages, reason)
        except ModelAPIError as error:
            # After the SDK's retries: the reason names the failure and the attempts, for the run page.
            return await self._fail(run.run_id, messages, describe_model_failure(error))
        except (AgentRunError, RunCostLimitExceeded, UserError, TimeoutError) as error:
            return await self._fail(run.run_id, messages, f"{type(error).__name__}: {redact_text(str(error))}")
        except Exception as error:
            logfire.exception("run {run_id} crashed", run_id=run.run_id)
            return await self._fail(run.run_id, messages, f"internal error ({type(error).__name__})")

        if isinstance(output, DeferredToolRequests):
            async with self.session_factory.begin() as session:
                paused = await run_store.pause_run(
                    session,
                    run_id=run.run_id,
                    worker_id=self.worker_id,
                    message_history=dump_history(messages),
                    now=self.clock(),
                )
                if paused:
                    append_event(
                        session,
                        run_id=run.run_id,
                        kind="awaiting_approval",
                        payload={"approval_ids": [m.get("approval_id") for m in output.metadata.values()]},
                        now=self.clock(),
                    )
            if not paused:
                return await self.outcome(run.run_id)  # another worker took the run over
            logfire.info("run {run_id} awaits approval", run_id=run.run_id, approvals=len(output.approvals))
            # Decisions may have raced in (or expired) while the run was being paused.
            return await self.resume(run.run_id)
        return await self._complete(run.run_id, messages, output)

    async def _spent_beyond_a_limit(self, run: RunRow) -> str | None:
        """Why the run may not start: a cumulative spend limit (conversation, requester today, everyone
        today) its scope has already reached; None when every one has room."""
        async with self.session_factory() as session:
            standings = await spend_standings(session, policy=self.decider.policy, run=run, now=self.clock())
        for standing in standings:
            if standing.scope != "run" and standing.limit_usd is not None and standing.spent_usd >= standing.limit_usd:
                return (
                    f"spend limit reached: {standing.label} has spent ${standing.spent_usd:.2f} of"
                    f" ${standing.limit_usd:.2f}; no model request was made (raise the limit in the policy,"
                    " or wait for the next day for a daily limit)"
                )
        return None

    async def _agent_for_run(self, run: RunRow, deps: Any) -> tuple[Agent[Any, Any], RunDeps, Any, dict[str, Any]]:
        """The agent that drives `run`, the run's own deps (bound for the guard and the ledger), the deps
        the agent gets, and options for its `iter` (a developer's agent gets the guard and the deferred
        output type here unless it has them)."""
        if self.agent is not None:
            identity = self.identity
            if run.prompt_name != identity.name:
                raise RuntimeError(f"run {run.run_id} belongs to {run.prompt_name!r}, not {identity.name!r}")
            run_deps = await self._deps_for(run, identity)
            agent_deps = deps if deps is not None else self.deps_factory() if self.deps_factory is not None else None
            options: dict[str, Any] = {"output_type": [self.agent.output_type, DeferredToolRequests]}
            if not self.agent_has_guard:
                options["capabilities"] = [self.guard_capability()]
            return self.agent, run_deps, agent_deps, options
        assert self.prompt is not None
        prompt = self.prompt if run.prompt_hash == self.prompt.content_hash else self._prompt_of(run)
        run_deps = await self._deps_for(
            run, PromptRef(name=prompt.name, version=prompt.version, content_hash=prompt.content_hash)
        )
        return self.agent_for(prompt), run_deps, run_deps, {}

    async def _complete(self, run_id: str, messages: list[ModelMessage], output: Any) -> RunOutcome:
        if not isinstance(output, str):
            output = canonical_json(output)  # a developer's agent may answer with structured output
        return await self._finish(run_id, messages, status="completed", output=output)

    async def _fail(self, run_id: str, messages: list[ModelMessage], reason: str) -> RunOutcome:
        logfire.warn("run {run_id} failed: {reason}", run_id=run_id, reason=reason)
        return await self._finish(run_id, messages, status="failed", reason=reason)

    async def _finish(
        self,
        run_id: str,
        messages: list[ModelMessage],
        *,
        status: Literal["completed", "failed"],
        output: str | None = None,
        reason: str | None = None,
    ) -> RunOutcome:
        """running -> completed | failed with its event, if this worker still holds the run."""
        now = self.clock()
        async with self.session_factory.begin() as session:
            finished = await run_store.finish_run(
                session,
                run_id=run_id,
                worker_id=self.worker_id,
                status=status,
                message_history=dump_history(messages),
                now=now,
                final_output=output,
                failure_reason=reason,
                keep_history_when_empty=True,
            )
            attention: tuple[Attention, ...] = ()
            if finished:
                # The final event says what about the run needs a person (an unknown outcome, limits).
                attention = await self._attention(session, run_id, status)
                payload: dict[str, Any] = {"output": output} if status == "completed" else {"reason": reason}
                payload["attention"] = attention_payload(attention)
                append_event(session, run_id=run_id, kind=status, payload=payload, now=now)
        if not finished:
            return await self.outcome(run_id)  # another worker took the run over
        logfire.info("run {run_id} {status}", run_id=run_id, status=status)
        return RunOutcome(run_id=run_id, status=status, output=output, failure_reason=reason, attention=attention)

    async def _attention(self, session: AsyncSession, run_id: str, status: str) -> tuple[Attention, ...]:
        return (await attention_of_runs(session, statuses={run_id: status}, registry=self.decider.registry))[run_id]

    async def _checkpoint(
        self, run_id: str, messages: list[ModelMessage], *, new_messages: Sequence[ModelMessage] = ()
    ) -> None:
        now = self.clock()
        async with self.session_factory.begin() as session:
            for message in new_messages:
                if isinstance(message, ModelResponse) and message.text:
                    append_event(session, run_id=run_id, kind="model_text", payload={"text": message.text}, now=now)
            still_ours = await run_store.save_history(
                session,
                run_id=run_id,
                worker_id=self.worker_id,
                message_history=dump_history(messages),
                now=now,
                lease_expires_at=now + self.settings.run_lease,
            )
        if not still_ours:
            raise LeaseLost(run_id)

    def _prompt_of(self, run: RunRow) -> PromptTemplate:
        prompt = self.prompt_loader(run.prompt_name, run.prompt_version)
        if prompt.content_hash != run.prompt_hash:
            raise RuntimeError(f"prompt {run.prompt_name}@{run.prompt_version} changed since run {run.run_id} began")
        return prompt

    async def _deps_for(self, run: RunRow, prompt: PromptRef) -> RunDeps:
        async with self.session_factory() as session:
            requests, cost, tool_calls = await run_store.progress_counts(session, run_id=run.run_id)
        return RunDeps(
            run_id=run.run_id,
            prompt=prompt,
            model_requests=requests,
            tool_calls=tool_calls,
            model_cost_usd=cost,
            model_calls=self.model_calls,
        )

    async def _conversation_history(
        self, conversation_id: str, *, excluding_run_id: str | None = None
    ) -> list[ModelMessage]:
        """The history of the conversation's latest run (other than `excluding_run_id`).

        Without `excluding_run_id` (a new follow-up being checked), the conversation must exist and
        have no run still in progress.
        """
        async with self.session_factory() as session:
            latest = await run_store.latest_in_conversation(
                session, conversation_id=conversation_id, excluding_run_id=excluding_run_id
            )
        if latest is None:
            if excluding_run_id is not None:
                return []  # the first run of its conversation
            raise ConversationNotFound(conversation_id)
        if excluding_run_id is None and latest.status not in ("completed", "failed", "cancelled"):
            raise ConversationBusy(conversation_id, latest.status)
        return load_history(latest.message_history)
