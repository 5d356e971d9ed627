"""A pack's own HTTP routes (`ToolPack.routes`): mounted beside the core's, with its runtime, never over them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter

from signoff.api.app import create_app
from signoff.api.deps import RequesterDep, RuntimeDep
from signoff.tools.packs import PackContext, PackLoadError, PackTools, ToolPack
from signoff.tools.registry import ToolSpec
from tests.api.http_support import api_settings, running_api
from tests.support.cli import Signoff

PROMPTS = Path(__file__).parents[2] / "examples" / "prompts"  # any pack prompt will do


async def _note(text: str) -> str:
    return text


def _notes_router() -> APIRouter:
    router = APIRouter(prefix="/v1/notes", tags=["notes"])

    @router.get("/count")
    async def count(principal: RequesterDep, runtime: RuntimeDep) -> dict[str, Any]:  # pyright: ignore[reportUnusedFunction]
        notes: list[str] = runtime.pack_tools("notes").resources
        return {"count": len(notes), "asked_by": principal.name}

    return router


def _pack(routes: Any) -> ToolPack:
    def build(context: PackContext) -> PackTools:
        spec = ToolSpec(
            name="note", function=_note, description="Keep a note.", destructive=False, requires_approval=False
        )
        return PackTools(tools=[spec], resources=["first", "second"])

    return ToolPack(
        name="notes", description="Notes.", build=build, routes=routes, prompt="refund_agent", prompt_dir=PROMPTS
    )


async def test_a_packs_routes_are_served_with_its_runtime_and_the_cores_roles(
    database_url: str, tmp_path: Path
) -> None:
    settings = api_settings(database_url, tmp_path)
    async with running_api(settings, packs=[_pack(_notes_router)]) as api:
        response = await api["alice"].get("/v1/notes/count")
        assert response.status_code == 200, response.text
        assert response.json() == {"count": 2, "asked_by": "alice"}
        assert (await api["anonymous"].get("/v1/notes/count")).status_code == 401
        assert (await api["bob"].get("/v1/notes/count")).status_code == 403  # an approver is no requester
        schema = (await api["alice"].get("/openapi.json")).json()
        assert "/v1/notes/count" in schema["paths"]


def _shadowing_router() -> APIRouter:
    router = APIRouter()

    @router.post("/v1/tasks")
    async def create_task() -> dict[str, str]:  # pyright: ignore[reportUnusedFunction]
        return {"run_id": "not yours"}

    return router


def test_a_pack_route_over_a_core_route_is_refused_naming_the_pack(tmp_path: Path) -> None:
    settings = api_settings(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", tmp_path)
    with pytest.raises(PackLoadError, match=r"tool pack 'notes': its routes are already served: POST /v1/tasks"):
        create_app(settings, packs=[_pack(_shadowing_router)])
    with pytest.raises(PackLoadError, match=r"routes must return a fastapi\.APIRouter, not dict"):
        create_app(settings, packs=[_pack(lambda: {})])
    with pytest.raises(PackLoadError, match="its routes could not be built"):
        create_app(settings, packs=[_pack(lambda: 1 / 0)])


def test_signoff_packs_lists_the_routes_of_the_sales_pack(signoff: Signoff) -> None:
    [view] = signoff.json("packs")
    assert view["routes"] == []  # the sales pack serves none yet (its webhooks will)
