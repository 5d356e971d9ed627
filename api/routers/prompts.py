"""The prompt registry: every prompt, its immutable versions with their content hashes, and its labels."""

from __future__ import annotations

from fastapi import APIRouter

from signoff.agent.runtime import prompt_registries
from signoff.api.deps import PrincipalDep, RuntimeDep
from signoff.api.errors import error_responses
from signoff.api.schemas import PromptList, PromptVersionView, PromptView

router = APIRouter(prefix="/v1/prompts", tags=["prompts"], responses=error_responses(401, 429))


@router.get("", response_model=PromptList)
async def get_prompts(principal: PrincipalDep, runtime: RuntimeDep) -> PromptList:
    """Every prompt of the enabled packs by name, its versions oldest first, and the version each label points at."""
    listings = [
        listing
        for _pack, registry in prompt_registries([loaded.pack for loaded in runtime.packs])
        for listing in registry.list()
    ]
    return PromptList(
        prompts=[
            PromptView(
                name=listing.name,
                labels=listing.labels,
                versions=[
                    PromptVersionView(
                        version=prompt.version,
                        description=prompt.description,
                        model=prompt.model,
                        content_hash=prompt.content_hash,
                        labels=sorted(label for label, version in listing.labels.items() if version == prompt.version),
                    )
                    for prompt in listing.versions
                ],
            )
            for listing in listings
        ]
    )
