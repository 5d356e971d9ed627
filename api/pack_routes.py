"""Mounting the enabled packs' own HTTP routes (`ToolPack.routes`) beside the core's.

A pack's router is checked before it is mounted: it must be a FastAPI `APIRouter`, and none of its
(method, path) pairs may already be served, by the core or by another pack, so no pack can shadow an
endpoint the core's security depends on (a decision, a key) or another pack's.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from signoff.tools.packs import PackLoadError, ToolPack

__all__ = ["mount_pack_routes"]


def _endpoints(routes: Sequence[BaseRoute]) -> dict[str, set[str]]:
    """Each served path and its methods (`*` for a route that answers any, such as a mount)."""
    served: dict[str, set[str]] = {}
    for route in routes:
        path = getattr(route, "path", None)
        if isinstance(path, str):
            methods = route.methods if isinstance(route, APIRoute) else None
            served.setdefault(path, set()).update(methods or {"*"})
    return served


def _clashes(ours: set[str], theirs: set[str]) -> bool:
    return "*" in ours or "*" in theirs or bool(ours & theirs)


def mount_pack_routes(app: FastAPI, packs: Sequence[ToolPack], *, core_routers: Sequence[APIRouter]) -> None:
    """Include each pack's router in `app`; `PackLoadError` naming the pack for a bad one.

    `core_routers` are the routers the app already includes (FastAPI keeps an included router as one
    opaque entry of `app.routes`, so the paths they serve are read from them)."""
    served = _endpoints(app.routes)
    for core in core_routers:
        for path, methods in _endpoints(core.routes).items():
            served.setdefault(path, set()).update(methods)
    for pack in packs:
        if pack.routes is None:
            continue
        try:
            router = pack.routes()
        except Exception as error:  # the pack's own code: its failure must name it
            raise PackLoadError(pack.name, f"its routes could not be built: {error!r}") from error
        if not isinstance(router, APIRouter):
            raise PackLoadError(pack.name, f"routes must return a fastapi.APIRouter, not {type(router).__name__}")
        ours = _endpoints(router.routes)
        taken = sorted(
            f"{'/'.join(sorted(methods))} {path}"
            for path, methods in ours.items()
            if path in served and _clashes(methods, served[path])
        )
        if taken:
            raise PackLoadError(pack.name, f"its routes are already served: {', '.join(taken)}")
        app.include_router(router)
        for path, methods in ours.items():
            served.setdefault(path, set()).update(methods)
