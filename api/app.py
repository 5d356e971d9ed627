"""The HTTP service: `create_app(settings)`. Nothing happens at import time; the lifespan opens the
database, wires the runtime, recovers what a previous process left, and hands runs over on shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic_ai.models import Model

from signoff.api.auth_limit import AuthFailureLimiter
from signoff.api.background import BackgroundRuns
from signoff.api.errors import install_error_handlers
from signoff.api.event_hub import RunEventHub
from signoff.api.inbox import router as inbox_router
from signoff.api.limits import BodySizeLimit
from signoff.api.openapi import install_honest_openapi
from signoff.api.pack_routes import mount_pack_routes
from signoff.api.rate_limit import RateLimiter
from signoff.api.routers import approvals, costs, events, health, metrics, prompts, runs, tasks, tools
from signoff.api.runtime import enabled_packs, open_runtime
from signoff.api.settings import Settings
from signoff.tools.packs import ToolPack

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None,
    *,
    model: Model | None = None,
    packs: Sequence[ToolPack] | None = None,
    rate_limiter: RateLimiter | None = None,
) -> FastAPI:
    """The FastAPI application for these settings (read from the environment when not given).

    `model` and `packs` replace what the settings select (see `open_runtime`); `rate_limiter`
    replaces the per-key limiter built from the settings (tests pass one with a clock they move).
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(
            settings, allow_self_approval=settings.allow_self_approval, model=model, packs=packs
        ) as runtime:
            background = BackgroundRuns(
                runtime.runner,
                grace_seconds=settings.shutdown_grace_seconds,
                sweep_interval_seconds=settings.sweep_interval_seconds,
            )
            app.state.event_hub = RunEventHub(runtime.session_factory)
            app.state.runtime = runtime
            app.state.background = background
            app.state.settings = settings
            background.recover()
            background.start_sweeping()
            try:
                yield
            finally:
                await app.state.event_hub.close()
                await background.shutdown()

    app = FastAPI(
        title="Signoff",
        version="0.1.0",
        summary="Claude plans sales-operations work; a person signs off on every side effect.",
        lifespan=lifespan,
    )
    app.state.rate_limiter = rate_limiter or RateLimiter(
        per_minute=settings.rate_limit_per_minute, burst=settings.rate_limit_burst
    )
    app.state.auth_failure_limiter = AuthFailureLimiter(
        per_minute=settings.auth_failures_per_minute, burst=settings.auth_failure_burst
    )
    install_error_handlers(app)
    install_honest_openapi(app)
    app.add_middleware(BodySizeLimit)
    core_routers = (
        *(tasks.router, runs.router, approvals.router, health.router),
        *(events.router, costs.router, tools.router, prompts.router, metrics.router),
        inbox_router,
    )
    for router in core_routers:
        app.include_router(router)
    mount_pack_routes(app, enabled_packs(settings) if packs is None else packs, core_routers=core_routers)
    return app
