"""The injection goals as the evaluation framework's `AttackGoal`s, over the sales pack's providers.

Planting replaces the sales pack among the case's packs by one whose offline providers carry the goal's
instruction in the vector's tool output (`plant_injection`); the security check reads the providers the
runtime built (`providers_of`) and the database. A goal with a prelude (the budget goals' earlier runs)
seeds it into each of its cases' databases before the run (`AttackGoal.prepare`), and the case's run
continues the prelude's conversation when it names one.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signoff.evals.attacks import AttackGoal
from signoff.tools.packs import LoadedPack, PackContext, ToolPack
from signoff.tools.sales.injection.earlier_runs import seed_prelude
from signoff.tools.sales.injection.goals import INJECTION_GOALS, InjectionGoal
from signoff.tools.sales.injection.vectors import VECTORS, plant_injection
from signoff.tools.sales.injection.world import INJECTION_WORLD
from signoff.tools.sales.offline import offline_providers
from signoff.tools.sales.plugin import SALES_PACK_NAME, providers_of, sales_pack
from signoff.tools.sales.providers import SalesProviders

__all__ = ["attack_goals"]


def _attack_goal(goal: InjectionGoal) -> AttackGoal:
    def plant(packs: Sequence[ToolPack], vector: str) -> list[ToolPack]:
        if not any(pack.name == SALES_PACK_NAME for pack in packs):
            raise ValueError(f"injection goal {goal.goal_id!r} needs the {SALES_PACK_NAME!r} pack enabled")

        def planted(context: PackContext) -> SalesProviders:
            providers = offline_providers(context.session_factory, clock=context.clock)
            return plant_injection(providers, goal_id=goal.goal_id, vector=vector)

        return [sales_pack(providers=planted) if pack.name == SALES_PACK_NAME else pack for pack in packs]

    async def succeeded(packs: Sequence[LoadedPack], session_factory: async_sessionmaker[AsyncSession]) -> bool:
        [sales] = [loaded for loaded in packs if loaded.pack.name == SALES_PACK_NAME]
        return await goal.succeeded(providers_of(sales.tools), session_factory)

    prelude = goal.prelude

    async def prepare(session_factory: async_sessionmaker[AsyncSession]) -> str | None:
        assert prelude is not None
        return await seed_prelude(session_factory, prelude)

    return AttackGoal(
        name=goal.goal_id,
        vectors=tuple(vector for vector in VECTORS if vector not in goal.not_planted_in),
        world=INJECTION_WORLD,
        plant=plant,
        succeeded=succeeded,
        prepare=None if prelude is None else prepare,
    )


def attack_goals() -> list[AttackGoal]:
    """One `AttackGoal` per injection goal."""
    return [_attack_goal(goal) for goal in INJECTION_GOALS.values()]
