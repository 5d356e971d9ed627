"""Worlds: named seeders that put a dataset's shared data into every case's fresh database before its run.

A dataset names its world (`world: injection` in the YAML); `evals.case_runner.run_case` (and the injection
suite's unguarded harness) call the seeder on each case's new, migrated database before the task starts.
So every case of the dataset, benign or attacked, guarded or not, sees the same contacts, campaigns and
replies, and nothing is created lazily by whichever provider happens to be called first.

A tool pack's evaluation modules (`ToolPack.eval_modules`) register its worlds with `register_world`
when `evals.catalog` imports them, before any dataset is read.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from signoff.agent.store.engine import SessionFactory
from signoff.evals.registry import NamedRegistry, UnknownEntryError

__all__ = ["UnknownWorldError", "WorldSeeder", "known_worlds", "register_world", "world_seeder"]


class WorldSeeder(Protocol):
    """Creates a world's records in a migrated database; run once per case, before the task starts.

    Any `async def seed(session_factory) -> None` is one."""

    def __call__(self, session_factory: SessionFactory, /) -> Awaitable[None]: ...


class UnknownWorldError(UnknownEntryError):
    """No world of that name is registered; the message lists the known ones."""


_WORLDS = NamedRegistry[WorldSeeder]("world", error=UnknownWorldError)


def register_world(name: str, seeder: WorldSeeder) -> None:
    """Make `seeder` available to datasets as `world: NAME` (see `NamedRegistry.register`)."""
    _WORLDS.register(name, seeder)


def known_worlds() -> list[str]:
    """The registered world names, sorted."""
    return _WORLDS.names()


def world_seeder(name: str) -> WorldSeeder:
    """The seeder registered as `name`; `UnknownWorldError` names the known worlds otherwise."""
    return _WORLDS.get(name)
