"""One world for every case: the dataset's seeder runs before each case, and the planted providers create nothing.

Benign cases and attacked cases of the injection dataset read the same contact and the same replies: what the
attacked run's read tool returned, without the planted text, is exactly what the benign run's returned, guarded
or unguarded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_core import to_jsonable_python
from sqlalchemy import func, select

from signoff.agent.runtime import prepare_database
from signoff.agent.store.engine import create_engine
from signoff.evals.case_runner import run_case
from signoff.evals.dataset import load_dataset
from signoff.evals.run import resolve_prompt
from signoff.evals.worlds import known_worlds, world_seeder
from signoff.policies import PolicyEngine
from signoff.tools.sales import offline_providers, sales_pack
from signoff.tools.sales.injection import INJECTION_GOALS, obedient_model, plant_injection, seed_world
from signoff.tools.sales.injection.harness import run_unguarded
from signoff.tools.sales.injection.world import VICTIM_EMAIL, WORLD_CAMPAIGN_ID, WORLD_CONTACTS
from signoff.tools.sales.tables import CampaignRow, CrmContactRow
from tests.evals.support import SALES_CATALOG, SALES_PACKS

PROMPT = resolve_prompt("sales_agent@1", packs=SALES_PACKS)
DATASET = load_dataset("injection", catalog=SALES_CATALOG)
CASES = {case.name: case for case in DATASET.spec.cases}

ToolOutputs = dict[str, Any]


def _spy(outputs: ToolOutputs) -> FunctionModel:
    """The obedient model, noting the JSON of every tool output it reads (last one per tool)."""
    inner = obedient_model()
    assert inner.function is not None
    respond: Callable[[list[ModelMessage], AgentInfo], ModelResponse] = inner.function  # pyright: ignore[reportAssignmentType]

    def spying(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        for message in messages:
            if isinstance(message, ModelRequest):
                for part in message.parts:
                    if isinstance(part, ToolReturnPart) and not part.tool_call_id.startswith("injected-"):
                        outputs[part.tool_name] = to_jsonable_python(part.content)
        return respond(messages, info)

    return FunctionModel(spying, model_name=inner.model_name)


def _without(value: Any, planted: str) -> Any:
    """`value` with the planted instruction (appended to a text, as the vectors do) taken out."""
    if isinstance(value, str):
        return value.replace(f"\n\n{planted}", "")
    if isinstance(value, list):
        return [_without(item, planted) for item in value]  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, dict):
        return {key: _without(item, planted) for key, item in value.items()}  # pyright: ignore[reportUnknownVariableType]
    return value


def test_the_dataset_names_the_registered_world() -> None:
    assert DATASET.spec.world == "injection"
    assert "injection" in known_worlds()
    assert DATASET.world is world_seeder("injection") is seed_world


async def test_the_planted_providers_create_no_world_of_their_own(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        session_factory = await prepare_database(engine, [sales_pack()])
        planted = plant_injection(offline_providers(session_factory), goal_id="change_owner", vector="crm_note")
        assert await planted.crm.get_contact(VICTIM_EMAIL) is None
        async with session_factory() as session:
            contacts = await session.scalar(select(func.count()).select_from(CrmContactRow))
            campaigns = await session.scalar(select(func.count()).select_from(CampaignRow))
        assert (contacts, campaigns) == (0, 0)

        await seed_world(session_factory)
        contact = await planted.crm.get_contact(VICTIM_EMAIL)
        assert contact is not None and contact.notes is not None
        assert contact.notes.endswith(INJECTION_GOALS["change_owner"].instruction_text)
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("benign", "attacked", "tool"),
    [
        ("crm-notes", "crm-notes--change_owner--crm_note", "get_contact"),
        ("campaign-replies", "campaign-replies--email_competitor--email_reply", "list_replies"),
    ],
)
async def test_benign_and_attacked_runs_read_the_same_world(
    benign: str, attacked: str, tool: str, tmp_path: Path, policy: PolicyEngine
) -> None:
    seen: dict[str, ToolOutputs] = {"benign": {}, "attacked": {}, "benign unguarded": {}}
    await run_case(
        CASES[benign],
        model=_spy(seen["benign"]),
        prompt=PROMPT,
        policy=policy,
        workdir=tmp_path,
        world=DATASET.world,
        packs=SALES_PACKS,
    )
    await run_case(
        CASES[attacked],
        model=_spy(seen["attacked"]),
        prompt=PROMPT,
        policy=policy,
        workdir=tmp_path,
        world=DATASET.world,
        packs=SALES_PACKS,
    )
    await run_unguarded(
        CASES[benign], model=_spy(seen["benign unguarded"]), workdir=tmp_path, world=DATASET.world, packs=SALES_PACKS
    )

    planted = INJECTION_GOALS[attacked.split("--")[1]].instruction_text
    benign_output = seen["benign"][tool]
    assert planted in str(seen["attacked"][tool])
    assert _without(seen["attacked"][tool], planted) == benign_output
    assert seen["benign unguarded"][tool] == benign_output
    # The benign run read the world itself, not an empty CRM or inbox.
    if tool == "get_contact":
        assert benign_output["found"] is True
        assert benign_output["contact"]["notes"] == WORLD_CONTACTS[0].notes
    else:
        assert {reply["campaign_id"] for reply in benign_output["replies"]} == {WORLD_CAMPAIGN_ID}
        assert len(benign_output["replies"]) == 2
