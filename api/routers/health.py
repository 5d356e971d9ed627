"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from signoff.agent.store.migrate import applied_revision, head_revision, pack_head_revision
from signoff.api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(runtime: RuntimeDep) -> dict[str, object] | JSONResponse:
    """The database answers and its schema, the core's and every enabled pack's, is at the newest migration."""
    try:
        revision = await applied_revision(runtime.session_factory)
        packs = {
            loaded.pack.name: (await applied_revision(runtime.session_factory, loaded.pack), head)
            for loaded in runtime.packs
            if (head := pack_head_revision(loaded.pack)) is not None
        }
    except Exception as error:  # readiness reports, it does not raise
        return JSONResponse({"status": "unavailable", "reason": f"database: {type(error).__name__}"}, status_code=503)
    behind = [f"schema at {revision}, code expects {head_revision()}"] if revision != head_revision() else []
    behind += [
        f"pack {name!r} at {applied}, code expects {head}" for name, (applied, head) in packs.items() if applied != head
    ]
    if behind:
        return JSONResponse({"status": "unavailable", "reason": "; ".join(behind)}, status_code=503)
    # An outside vendor's outage does not make this process unready (taking replicas out of the load
    # balancer would not bring the vendor back): it is reported, and the breaker keeps calls from piling up.
    services = await runtime.service_health()
    return {
        "status": "ready",
        "schema": str(revision),
        "packs": {name: applied for name, (applied, _) in packs.items()},
        "services": {
            service.service: {"breaker": service.breaker, "waiting": service.waiting, "in_flight": service.in_flight}
            for service in services
        },
        "degraded": sorted(service.service for service in services if service.breaker != "closed"),
    }
