"""`Guard`: Signoff's guard, durable approvals, audit and ledger on a pydantic-ai agent you already have.

A `Guard` is a pydantic-ai capability. Put it on the agent (`Agent(..., capabilities=[guard])`), or hand
it an agent built elsewhere (`guard.bind(agent)`), and drive the agent through the guard:

    outcome = await guard.run("Refund order A-1002", deps=my_deps)       # a run, stored durably
    await guard.approvals.approve(outcome.pending_approval_ids[0], decided_by="sam")  # or in the inbox
    outcome = await guard.resume(outcome.run_id, deps=my_deps)

Every tool call the model makes passes the policy engine (allow, deny with a reason the model reads, or
wait for a person); each decision, approval, result and model request is stored before it is acted on;
an approved call runs at most once, even across double clicks, two processes and a crash. A tool's
safety metadata is a `ToolSafety` in its pydantic-ai metadata; a tool without one is treated as having
side effects (every call waits for a person), and pydantic-ai's `requires_approval=True` always waits.

The guard opens its database lazily (migrating it on first use), so it can be built at import time, next
to the agent. `SIGNOFF_GUARD=module:attribute signoff serve` serves the inbox for it and resumes its runs
there as soon as a person decides.
"""

from __future__ import annotations

import asyncio
import hashlib
import warnings
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic_ai import Agent, Tool
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.capabilities.abstract import WrapModelRequestHandler
from pydantic_ai.messages import ModelResponse
from pydantic_ai.models import ModelRequestContext
from pydantic_ai.run import AgentRunResult
from pydantic_ai.tools import RunContext
from pydantic_ai.toolsets import AbstractToolset, FunctionToolset

from signoff.agent.answers import AnswerCheck
from signoff.agent.approvals import ApprovalService
from signoff.agent.decider import CallDecider
from signoff.agent.effects import CallResolution
from signoff.agent.guard import GuardCapability, spec_for_tool
from signoff.agent.ledger import LedgerEntry, LedgerWriter
from signoff.agent.records import LedgerTotals, ToolCallRecord
from signoff.agent.runner import Runner
from signoff.agent.runs import RunnerSettings, RunOutcome
from signoff.agent.runtime import Runtime
from signoff.agent.store.engine import create_engine, create_session_factory
from signoff.agent.store.migrate import upgrade_database
from signoff.policies import PolicyConfig, PolicyEngine, build_policy_engine
from signoff.tools.registry import ToolRegistry

__all__ = ["DEFAULT_GUARD_DATABASE_URL", "Guard"]

DEFAULT_GUARD_DATABASE_URL = "sqlite+aiosqlite:///signoff.db"
"""Where a `Guard` keeps its runs, approvals, audit and ledger unless told otherwise: a file beside you."""


class Guard(AbstractCapability[Any]):
    """Signoff's guard for one pydantic-ai agent: policy on every tool call, durable approvals, audit, ledger.

    `database_url` is any SQLAlchemy async URL (SQLite by default, PostgreSQL via asyncpg). `policy` is a
    `PolicyConfig` (or a built `PolicyEngine`); the default applies the default rules. `deps` makes the
    agent's deps when a run is resumed where none are given (by `signoff serve`, or `recover`).
    """

    def __init__(
        self,
        database_url: str = DEFAULT_GUARD_DATABASE_URL,
        *,
        policy: PolicyConfig | PolicyEngine | None = None,
        settings: RunnerSettings | None = None,
        deps: Callable[[], Any] | None = None,
        ledger_spool_path: Path | None = None,
        daily_cost_warning_usd: Decimal | None = None,
        allow_self_approval: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # Signoff logs through logfire, which in your process is yours to configure (`logfire.configure()`);
        # until then its records are no-ops, as pydantic-ai's are, and the warning it gives says nothing new.
        warnings.filterwarnings("ignore", message="No logs or spans will be created", category=UserWarning)
        self._database_url = database_url
        self._policy_config = policy if isinstance(policy, PolicyConfig) else None
        engine_policy = policy if isinstance(policy, PolicyEngine) else build_policy_engine(policy or PolicyConfig())
        self._engine = create_engine(database_url)
        session_factory = create_session_factory(self._engine)
        self._decider = CallDecider(
            registry=ToolRegistry(), policy=engine_policy, session_factory=session_factory, clock=clock
        )
        # One spool per database, stable across processes: a row spooled here is replayed into its own database.
        url_digest = hashlib.sha256(database_url.encode()).hexdigest()[:12]
        spool = ledger_spool_path or Path(f".signoff-ledger-spool-{url_digest}.jsonl")
        self._ledger = LedgerWriter(
            session_factory, spool_path=spool, daily_warning_usd=daily_cost_warning_usd, clock=clock
        )
        self._settings = settings or RunnerSettings()
        self._deps_factory = deps
        self._approvals = ApprovalService(decider=self._decider, clock=clock, allow_self_approval=allow_self_approval)
        self._runner: Runner | None = None
        self._capability: GuardCapability | None = None  # the runner's, once the guard guards an agent
        self._migrated = False
        self._migrating = asyncio.Lock()

    # --- binding to the agent -------------------------------------------------------------------

    def for_agent(self, agent: Any) -> AbstractCapability[Any]:
        """pydantic-ai calls this when the guard is among an agent's capabilities: that agent is guarded."""
        if isinstance(agent, Agent):
            self._bind(agent, has_guard=True)  # pyright: ignore[reportUnknownArgumentType]
        return self

    def bind(self, agent: Agent[Any, Any]) -> Agent[Any, Any]:
        """Guard an agent built elsewhere (the guard is added to each of its runs); returns the agent."""
        self._bind(agent, has_guard=False)
        return agent

    def _bind(self, agent: Agent[Any, Any], *, has_guard: bool) -> None:
        if self._runner is not None:
            if self._runner.agent is agent:
                return
            raise ValueError("this Guard already guards another agent; make one Guard per agent")
        self._runner = Runner(
            decider=self._decider,
            model=None,
            prompt=None,
            ledger=self._ledger,
            settings=self._settings,
            agent=agent,
            agent_has_guard=has_guard,
            deps_factory=self._deps_factory,
        )
        self._capability = self._runner.guard_capability()

    def _describe_agent_tools(self, agent: Agent[Any, Any]) -> None:
        """Describe the agent's own function tools before its first run, so that bad metadata fails
        there, naming the tool, and a policy file naming a tool the agent lacks is caught before any run.
        (Tools of other toolsets, such as MCP servers, are described when a run first lists them.)"""
        registry = self._decider.registry
        for toolset in agent.toolsets:
            if not isinstance(toolset, FunctionToolset):
                continue
            tools: dict[str, Tool[Any]] = toolset.tools  # pyright: ignore[reportUnknownMemberType]
            for tool in tools.values():
                if registry.get(tool.name) is None:
                    registry.describe(
                        spec_for_tool(
                            name=tool.name,
                            description=tool.description,
                            parameters_json_schema=tool.function_schema.json_schema,
                            args_validator=tool.function_schema.validator,
                            metadata=tool.metadata,
                            requires_approval=tool.requires_approval,
                        )
                    )
        if self._policy_config is not None:
            self._policy_config.check_tools(registry)

    # --- the capability: delegated to the runner's, the one the built-in agent carries too -------------

    def _guard_capability(self) -> GuardCapability:
        if self._capability is None:  # pydantic-ai binds a constructor capability before any run
            raise RuntimeError("this Guard guards no agent yet")
        return self._capability

    def get_wrapper_toolset(self, toolset: AbstractToolset[Any]) -> AbstractToolset[Any] | None:
        return self._guard_capability().get_wrapper_toolset(toolset)

    async def before_run(self, ctx: RunContext[Any]) -> None:
        await self._guard_capability().before_run(ctx)

    async def before_model_request(
        self, ctx: RunContext[Any], request_context: ModelRequestContext
    ) -> ModelRequestContext:
        return await self._guard_capability().before_model_request(ctx, request_context)

    async def wrap_model_request(
        self, ctx: RunContext[Any], *, request_context: ModelRequestContext, handler: WrapModelRequestHandler
    ) -> ModelResponse:
        return await self._guard_capability().wrap_model_request(ctx, request_context=request_context, handler=handler)

    async def on_run_error(self, ctx: RunContext[Any], *, error: BaseException) -> AgentRunResult[Any]:
        return await self._guard_capability().on_run_error(ctx, error=error)

    # --- driving runs ---------------------------------------------------------------------------

    @property
    def approvals(self) -> ApprovalService:
        """Approve (optionally with edited arguments), deny and list this guard's pending calls."""
        return self._approvals

    @property
    def database_url(self) -> str:
        """Where this guard keeps its runs, approvals, audit and ledger."""
        return self._database_url

    def check(self) -> None:
        """Check, without a database, what the first run would refuse: the guard guards an agent, its
        tools' safety metadata fits them, and the policy names only tools it has (errors name the tool)."""
        runner = self._require_runner()
        assert runner.agent is not None
        self._describe_agent_tools(runner.agent)

    async def open(self, *, allow_self_approval: bool | None = None) -> Runtime:
        """Migrate the database (once) and return the runtime behind this guard (for `signoff serve`).

        `allow_self_approval` overrides the guard's own setting for the runtime's approvals (the HTTP
        service passes its own)."""
        runner = self._require_runner()
        async with self._migrating:
            if not self._migrated:
                self.check()
                await upgrade_database(self._engine, ())
                self._migrated = True
        approvals = self._approvals
        if allow_self_approval is not None and allow_self_approval != approvals.allow_self_approval:
            approvals = ApprovalService(
                decider=self._decider, clock=self._decider.clock, allow_self_approval=allow_self_approval
            )
        return Runtime(
            session_factory=self._decider.session_factory,
            registry=self._decider.registry,
            packs=(),
            decider=self._decider,
            approvals=approvals,
            ledger=self._ledger,
            runner=runner,
            model_calls=None,
        )

    async def run(
        self,
        task: str,
        *,
        deps: Any = None,
        requested_by: str = "developer",
        context: Mapping[str, Any] | None = None,
        conversation_id: str | None = None,
    ) -> RunOutcome:
        """Start a run of the agent on `task` and drive it until it completes, fails or waits for a person.

        The run is stored before the model is asked anything; `deps` are the agent's deps for this drive.
        `context` is structured data for the task (framed as data, never as instructions);
        `conversation_id` continues an earlier run's conversation.
        """
        runtime = await self.open()
        return await runtime.runner.start(
            task, context=context, requested_by=requested_by, conversation_id=conversation_id, deps=deps
        )

    async def resume(self, run_id: str, *, deps: Any = None) -> RunOutcome:
        """Continue a run once its approvals are decided (safe to call twice or from two processes)."""
        runtime = await self.open()
        return await runtime.runner.resume(run_id, deps=deps)

    async def outcome(self, run_id: str) -> RunOutcome:
        """Where a run stands, without touching it."""
        runtime = await self.open()
        return await runtime.runner.outcome(run_id)

    async def recover(self) -> list[RunOutcome]:
        """Settle what a crashed process left of this agent's runs and continue the ones that can go on."""
        runtime = await self.open()
        return await runtime.runner.recover()

    async def audit_trail(self, run_id: str) -> list[ToolCallRecord]:
        """Every tool call of the run: arguments, the policy's decision, the approval, the outcome."""
        return await (await self.open()).audit_trail(run_id)

    async def answer_check(self, run_id: str) -> AnswerCheck:
        """The run's effects as the audit holds them, and where its final answer claims one that did not happen."""
        return await (await self.open()).answer_check(run_id)

    async def resolve_unknown_call(
        self, *, run_id: str, tool_call_id: str, happened: bool, resolved_by: str, note: str | None = None
    ) -> CallResolution:
        """Record what a person found in the outside system about a call whose outcome is unknown."""
        return await (await self.open()).resolve_unknown_call(
            run_id=run_id, tool_call_id=tool_call_id, happened=happened, resolved_by=resolved_by, note=note
        )

    async def ledger_entries(self, run_id: str) -> list[LedgerEntry]:
        """Every model request attempt of the run: tokens, price (None when unknown), latency."""
        return await (await self.open()).ledger_entries(run_id)

    async def ledger_totals(self, run_id: str) -> LedgerTotals:
        """The run's answered requests and their cost (None when any price is unknown)."""
        return await (await self.open()).ledger_totals(run_id)

    async def aclose(self) -> None:
        """Close the database connections (the guard opens them again if used afterwards)."""
        await self._engine.dispose()

    def _require_runner(self) -> Runner:
        if self._runner is None:
            raise RuntimeError(
                "this Guard guards no agent yet: add it to one (Agent(..., capabilities=[guard])) "
                "or call guard.bind(agent)"
            )
        return self._runner
