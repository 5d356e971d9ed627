"""Opens a runtime from `Settings`: the one place that turns configuration into engines and clients."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import logfire
from pydantic_ai.models import Model
from sqlalchemy.exc import ArgumentError

from signoff.agent.guarded import Guard
from signoff.agent.models import ModelRoutes, build_model_routes
from signoff.agent.offline_model import offline_model_for
from signoff.agent.runtime import Runtime, build_runtime, check_pack_options, default_prompt, prepare_database
from signoff.agent.store.engine import create_engine
from signoff.agent.telemetry import configure_telemetry
from signoff.agent.workers import WorkerPresence
from signoff.api.settings import Settings
from signoff.policies import build_policy_engine, load_policy_config
from signoff.tools.packs import PackContext, ToolPack, build_packs, load_packs

__all__ = ["check_configuration", "enabled_packs", "load_guard", "open_runtime", "select_model", "select_model_routes"]


def enabled_packs(settings: Settings) -> list[ToolPack]:
    """The packs SIGNOFF_PACKS names, loaded from their entry points (`PackLoadError` naming a bad one).

    None under SIGNOFF_GUARD: the guard's agent brings the tools."""
    if settings.guard is not None:
        return []
    return load_packs(settings.packs)


def load_guard(reference: str) -> Guard:
    """The `Guard` at `module:attribute`, imported as `signoff serve` would (the current directory first).

    `ValueError` with the reason when the module does not import or the attribute is not a `Guard`.
    """
    module_name, _, attribute = reference.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `uvicorn module:app` does: your project is where you stand
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise ValueError(f"SIGNOFF_GUARD {reference!r}: {module_name!r} does not import: {error}") from None
    guard = getattr(module, attribute, None)
    if not isinstance(guard, Guard):
        found = "nothing" if guard is None else f"a {type(guard).__name__}"
        raise ValueError(
            f"SIGNOFF_GUARD {reference!r}: {attribute!r} in {module_name!r} is {found}, not a signoff.Guard"
        )
    return guard


def check_configuration(settings: Settings, packs: Sequence[ToolPack]) -> None:
    """What `open_runtime` would refuse, checked without a database: the packs build, the policy file fits
    their tools, a prompt is named and loads, the pack options name enabled packs (or the guard imports,
    guards an agent, and its tools' metadata and its policy agree)."""
    if settings.guard is not None:
        load_guard(settings.guard).check()
        return
    registry, _ = build_packs(packs, lambda _pack: PackContext.unbound())
    load_policy_config(settings.policy_file).check_tools(registry)
    default_prompt(packs, label=settings.prompt_label)
    check_pack_options(settings.pack_options, packs)


def select_model_routes(settings: Settings, packs: Sequence[ToolPack] = ()) -> ModelRoutes:
    """The model for each kind of work: Claude through the official SDK when a key is configured,
    otherwise the offline scripted model (with these packs' demo scripts) for all of them."""
    return build_model_routes(
        settings.model,
        settings.model_routes,
        claude=settings.claude_options(),
        offline=lambda: offline_model_for(packs),
    )


def select_model(settings: Settings, packs: Sequence[ToolPack] = ()) -> Model:
    """The planning model: Claude when a key is configured (and SIGNOFF_MODEL is not 'offline'), else offline."""
    return select_model_routes(settings, packs).model_for("planning")


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    allow_self_approval: bool = True,
    model: Model | None = None,
    packs: Sequence[ToolPack] | None = None,
) -> AsyncIterator[Runtime]:
    """Configure telemetry, migrate the database, wire the runtime; dispose of the engine afterwards.

    The CLI allows self-approval (its operator runs and decides locally); the HTTP service passes its setting.
    `model` replaces the one the settings select, and `packs` the packs SIGNOFF_PACKS enables: the seams
    through which tests and benchmarks drive the real service with a scripted model or instrumented providers.
    """
    packs = enabled_packs(settings) if packs is None else packs
    configure_telemetry(
        logfire_token=None if settings.logfire_token is None else settings.logfire_token.get_secret_value()
    )
    if settings.guard is not None:
        guard = load_guard(settings.guard)
        try:
            async with _present(await guard.open(allow_self_approval=allow_self_approval)) as runtime:
                yield runtime
        finally:
            await guard.aclose()
        return
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    policy_config = load_policy_config(settings.policy_file)
    try:
        engine = create_engine(settings.resolved_database_url)
    except ArgumentError:
        # The URL is not echoed: it may hold a password.
        raise ValueError(
            "SIGNOFF_DATABASE_URL is not a usable database URL "
            "(e.g. sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user@host/db)"
        ) from None
    try:
        session_factory = await prepare_database(engine, packs)
        routes = select_model_routes(settings, packs) if model is None else ModelRoutes(default=model)
        policy = build_policy_engine(policy_config)
        runtime = build_runtime(
            session_factory=session_factory,
            model=routes.model_for("planning"),
            model_routes=routes,
            policy=policy,
            packs=packs,
            pack_options=settings.pack_options,
            prompt=default_prompt(packs, label=settings.prompt_label),
            runner_settings=settings.runner_settings(),
            ledger_spool_path=settings.ledger_spool_path,
            daily_cost_warning_usd=settings.daily_cost_warning_usd,
            allow_self_approval=allow_self_approval,
        )
        # Per-tool tables in the policy file must name tools some enabled pack registers.
        policy_config.check_tools(runtime.registry)
        try:
            await runtime.ledger.flush_spool()
        except Exception:  # the rows stay spooled for the next attempt; no reason to refuse to start
            logfire.exception("ledger spool could not be replayed at start-up")
        try:
            async with _present(runtime):
                yield runtime
        finally:
            await runtime.close_packs()
    finally:
        await engine.dispose()


@asynccontextmanager
async def _present(runtime: Runtime) -> AsyncIterator[Runtime]:
    """The runtime's worker registered and beating while it is open, so that if this process dies, others
    take its runs over within seconds (`agent.workers`)."""
    presence = WorkerPresence(
        session_factory=runtime.session_factory, worker_id=runtime.runner.worker_id, clock=runtime.runner.clock
    )
    await presence.start()
    try:
        yield runtime
    finally:
        await presence.stop()
