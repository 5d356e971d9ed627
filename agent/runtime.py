"""Assembles one Signoff runtime from explicit parts: store, tools, policy, model, prompt, runner.

Nothing here reads the environment: `api/` maps settings onto these arguments, and tests pass their
own. Providers default to the offline sales pack, which persists its effects in the same database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from pydantic_ai.models import Model
from sqlalchemy.ext.asyncio import AsyncEngine

from signoff.agent.approvals import ApprovalService
from signoff.agent.decider import CallDecider
from signoff.agent.ledger import LedgerWriter
from signoff.agent.model_calls import ModelCalls
from signoff.agent.models import ModelRoutes
from signoff.agent.runner import Runner, RunnerSettings
from signoff.agent.store.engine import SessionFactory, create_session_factory
from signoff.agent.store.migrate import upgrade_database
from signoff.policies import PolicyEngine
from signoff.prompts import PromptTemplate, load_prompt
from signoff.tools.registry import ToolRegistry
from signoff.tools.sales import SalesProviders, build_sales_tools, offline_providers

__all__ = ["DEFAULT_PROMPT_NAME", "Runtime", "build_runtime", "prepare_database"]

DEFAULT_PROMPT_NAME = "sales_agent"


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """Everything a front end (CLI, API, evals, tests) needs to drive runs and decide approvals."""

    session_factory: SessionFactory
    registry: ToolRegistry
    providers: SalesProviders
    decider: CallDecider
    approvals: ApprovalService
    ledger: LedgerWriter
    runner: Runner
    model_calls: ModelCalls
    """Routed one-shot calls (summaries, classifications) for tools, charged to the run in the ledger."""


async def prepare_database(engine: AsyncEngine) -> SessionFactory:
    """Migrate the database to the current schema and return a session factory for it."""
    await upgrade_database(engine)
    return create_session_factory(engine)


def build_runtime(
    *,
    session_factory: SessionFactory,
    model: Model,
    policy: PolicyEngine,
    model_routes: ModelRoutes | None = None,
    prompt: PromptTemplate | None = None,
    runner_settings: RunnerSettings | None = None,
    providers: SalesProviders | None = None,
    ledger_spool_path: Path,
    daily_cost_warning_usd: Decimal | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    worker_id: str | None = None,
    allow_self_approval: bool = True,
) -> Runtime:
    """Wire a runtime. The database must already be migrated (see `prepare_database`).

    `model` plans; `model_routes` picks the models for tools' short calls (default: `model` for all).
    """
    providers = providers or offline_providers(session_factory, clock=clock)
    registry = ToolRegistry(build_sales_tools(providers))
    decider = CallDecider(
        registry=registry,
        policy=policy,
        session_factory=session_factory,
        known_recipients=providers.crm.known_emails,
        clock=clock,
    )
    ledger = LedgerWriter(
        session_factory, spool_path=ledger_spool_path, daily_warning_usd=daily_cost_warning_usd, clock=clock
    )
    settings = runner_settings or RunnerSettings()
    model_calls = ModelCalls(
        routes=model_routes or ModelRoutes(default=model),
        ledger=ledger,
        max_run_cost_usd=settings.max_run_cost_usd,
        clock=clock,
    )
    runner_kwargs = {} if worker_id is None else {"worker_id": worker_id}
    runner = Runner(
        decider=decider,
        model=model,
        prompt=prompt or load_prompt(DEFAULT_PROMPT_NAME),
        ledger=ledger,
        settings=settings,
        model_calls=model_calls,
        **runner_kwargs,
    )
    return Runtime(
        session_factory=session_factory,
        registry=registry,
        providers=providers,
        decider=decider,
        approvals=ApprovalService(decider=decider, clock=clock, allow_self_approval=allow_self_approval),
        ledger=ledger,
        runner=runner,
        model_calls=model_calls,
    )
