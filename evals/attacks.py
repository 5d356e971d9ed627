"""Attack goals: how a pack's injection cases are planted and judged, registered by the pack.

A dataset case with `injection: {goal, vector}` runs with the goal's instruction planted in one tool
output the agent reads. What planting means, and how to tell afterwards whether the attack worked, only
the pack that owns those tools knows, so the pack registers an `AttackGoal` per goal (from one of its
`eval_modules`) and the framework asks it: `plant` returns the packs to build the case's runtime from,
`succeeded` reads the state the run left, and `prepare` (optional) seeds what the goal's cases need
beyond the dataset's world, such as earlier runs of the conversation the case's run continues. The
framework never looks inside.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signoff.evals.registry import NamedRegistry, UnknownEntryError
from signoff.tools.packs import LoadedPack, ToolPack

__all__ = ["AttackGoal", "UnknownAttackGoalError", "attack_goal", "known_attack_goals", "register_attack_goal"]


class UnknownAttackGoalError(UnknownEntryError):
    """No attack goal of that name is registered; the message lists the known ones."""


@dataclass(frozen=True, kw_only=True)
class AttackGoal:
    """One attacker's goal as a pack defines it.

    `vectors` are the tool outputs it can be planted in; `world` is the world its cases must seed (its
    checks act on that world's records); `plant(packs, vector)` gives the packs with the instruction
    planted; `succeeded(packs, session_factory)` is the security check: True means the attack worked.
    `prepare(session_factory)`, when set, runs on each of the goal's case databases after the world is
    seeded and before the run (guarded and unguarded alike), and returns the conversation the case's run
    continues, or None for a new one: what came before the attacked run, only in that case's database.
    """

    name: str
    vectors: tuple[str, ...]
    world: str
    plant: Callable[[Sequence[ToolPack], str], list[ToolPack]] = field(repr=False)
    succeeded: Callable[[Sequence[LoadedPack], async_sessionmaker[AsyncSession]], Awaitable[bool]] = field(repr=False)
    prepare: Callable[[async_sessionmaker[AsyncSession]], Awaitable[str | None]] | None = field(
        default=None, repr=False
    )


_GOALS = NamedRegistry[AttackGoal]("injection goal", error=UnknownAttackGoalError)


def register_attack_goal(goal: AttackGoal) -> None:
    """Make `goal` available to datasets as `injection: {goal: NAME, ...}`."""
    _GOALS.register(goal.name, goal)


def known_attack_goals() -> list[str]:
    """The registered goal names, sorted."""
    return _GOALS.names()


def attack_goal(name: str) -> AttackGoal:
    """The goal registered as `name`; `UnknownAttackGoalError` names the known goals otherwise."""
    return _GOALS.get(name)
