"""The tool registry: every tool a run may use, with the safety metadata the model never sees."""

from __future__ import annotations

from fastapi import APIRouter

from signoff.api.deps import PrincipalDep, RuntimeDep
from signoff.api.errors import error_responses
from signoff.api.schemas import ToolList, ToolView

router = APIRouter(prefix="/v1/tools", tags=["tools"], responses=error_responses(401, 429))


@router.get("", response_model=ToolList)
async def list_tools(principal: PrincipalDep, runtime: RuntimeDep) -> ToolList:
    """Every registered tool by name: description, argument schema, whether it is destructive or needs
    approval (`conditional` when that depends on the arguments), batch limit and unit cost."""
    return ToolList(tools=[ToolView(**spec.metadata()) for spec in runtime.registry])
