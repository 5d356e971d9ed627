"""Opens a runtime from `Settings`: the one place that turns configuration into engines and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import logfire
from pydantic_ai.models import Model
from sqlalchemy.exc import ArgumentError

from signoff.agent.models import ModelRoutes, build_model_routes
from signoff.agent.offline_model import offline_model
from signoff.agent.runtime import Runtime, build_runtime, prepare_database
from signoff.agent.store.engine import SessionFactory, create_engine
from signoff.agent.telemetry import configure_telemetry
from signoff.api.settings import Settings
from signoff.policies import build_policy_engine, load_policy_config
from signoff.prompts import load_prompt
from signoff.tools.sales import SalesProviders

__all__ = ["ProvidersFactory", "open_runtime", "select_model", "select_model_routes"]

ProvidersFactory = Callable[[SessionFactory], SalesProviders]
"""Builds the sales providers once the database is open (they may store their effects in it)."""


def select_model_routes(settings: Settings) -> ModelRoutes:
    """The model for each kind of work: Claude through the official SDK when a key is configured,
    otherwise the offline scripted model for all of them."""
    return build_model_routes(
        settings.model, settings.model_routes, claude=settings.claude_options(), offline=offline_model
    )


def select_model(settings: Settings) -> Model:
    """The planning model: Claude when a key is configured (and SIGNOFF_MODEL is not 'offline'), else offline."""
    return select_model_routes(settings).model_for("planning")


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    allow_self_approval: bool = True,
    model: Model | None = None,
    providers_factory: ProvidersFactory | None = None,
) -> AsyncIterator[Runtime]:
    """Configure telemetry, migrate the database, wire the runtime; dispose of the engine afterwards.

    The CLI allows self-approval (its operator runs and decides locally); the HTTP service passes its setting.
    `model` replaces the one the settings select, and `providers_factory` the offline providers: the seams
    through which tests and benchmarks drive the real service with a scripted model or instrumented providers.
    """
    configure_telemetry(
        logfire_token=None if settings.logfire_token is None else settings.logfire_token.get_secret_value()
    )
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    policy = build_policy_engine(load_policy_config(settings.policy_file))
    try:
        engine = create_engine(settings.resolved_database_url)
    except ArgumentError:
        # The URL is not echoed: it may hold a password.
        raise ValueError(
            "SIGNOFF_DATABASE_URL is not a usable database URL "
            "(e.g. sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user@host/db)"
        ) from None
    try:
        session_factory = await prepare_database(engine)
        routes = select_model_routes(settings) if model is None else ModelRoutes(default=model)
        runtime = build_runtime(
            session_factory=session_factory,
            model=routes.model_for("planning"),
            model_routes=routes,
            policy=policy,
            providers=None if providers_factory is None else providers_factory(session_factory),
            prompt=load_prompt("sales_agent", label=settings.prompt_label),
            runner_settings=settings.runner_settings(),
            ledger_spool_path=settings.ledger_spool_path,
            daily_cost_warning_usd=settings.daily_cost_warning_usd,
            allow_self_approval=allow_self_approval,
        )
        try:
            await runtime.ledger.flush_spool()
        except Exception:  # the rows stay spooled for the next attempt; no reason to refuse to start
            logfire.exception("ledger spool could not be replayed at start-up")
        yield runtime
    finally:
        await engine.dispose()
