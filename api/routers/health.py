"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from signoff.agent.store.migrate import head_revision
from signoff.api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(runtime: RuntimeDep) -> dict[str, str] | JSONResponse:
    """The database answers and its schema is at the newest migration."""
    try:
        async with runtime.session_factory() as session:
            revision = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar_one_or_none()
    except Exception as error:  # readiness reports, it does not raise
        return JSONResponse({"status": "unavailable", "reason": f"database: {type(error).__name__}"}, status_code=503)
    if revision != head_revision():
        return JSONResponse(
            {"status": "unavailable", "reason": f"schema at {revision}, code expects {head_revision()}"},
            status_code=503,
        )
    return {"status": "ready", "schema": str(revision)}
