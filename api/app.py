"""The HTTP service: `create_app(settings)`. Nothing happens at import time; the lifespan opens the
database, wires the runtime, recovers what a previous process left, and hands runs over on shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.background import BackgroundRuns
from api.errors import install_error_handlers
from api.limits import BodySizeLimit
from api.routers import approvals, health, runs, tasks
from api.runtime import open_runtime
from api.settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI application for these settings (read from the environment when not given)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings, allow_self_approval=settings.allow_self_approval) as runtime:
            background = BackgroundRuns(runtime.runner)
            app.state.runtime = runtime
            app.state.background = background
            app.state.settings = settings
            background.recover()
            try:
                yield
            finally:
                await background.shutdown()

    app = FastAPI(
        title="Signoff",
        version="0.1.0",
        summary="Claude plans sales-operations work; a person signs off on every side effect.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit)
    for router in (tasks.router, runs.router, approvals.router, health.router):
        app.include_router(router)
    return app
