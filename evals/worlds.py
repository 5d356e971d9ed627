"""Worlds: named seeders that put a dataset's shared data into every case's fresh database before its run.

A dataset names its world (`world: injection` in the YAML); `evals.case_runner.run_case` (and the injection
suite's unguarded harness) call the seeder on each case's new, migrated database before the task starts.
So every case of the dataset, benign or attacked, guarded or not, sees the same contacts, campaigns and
replies, and nothing is created lazily by whichever provider happens to be called first.

Packages that ship a world register it with `register_world` when they are imported; `world_seeder`
imports the packages that ship the built-in worlds, so a dataset file can name one without its reader
importing anything first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from agent.store.engine import SessionFactory

__all__ = ["UnknownWorldError", "WorldSeeder", "known_worlds", "register_world", "world_seeder"]

WorldSeeder = Callable[[SessionFactory], Awaitable[None]]
"""Creates a world's records in a migrated database; run once per case, before the task starts."""

_SEEDERS: dict[str, WorldSeeder] = {}


class UnknownWorldError(ValueError):
    """No world of that name is registered; the message lists the known ones."""


def register_world(name: str, seeder: WorldSeeder) -> None:
    """Make `seeder` available to datasets as `world: NAME`. Registering another seeder under a taken name
    is an error (never a silent replacement); registering the same one again is harmless (re-imports)."""
    existing = _SEEDERS.get(name)
    if existing is not None and existing is not seeder:
        raise ValueError(f"a different world is already registered as {name!r}")
    _SEEDERS[name] = seeder


def _load_builtin_worlds() -> None:
    # The injection suite registers its world when imported; it is imported here rather than at the top
    # because it depends on the evaluation framework, which depends on this module.
    import evals.injection  # noqa: F401  # pyright: ignore[reportUnusedImport]


def known_worlds() -> list[str]:
    """The registered world names, sorted."""
    _load_builtin_worlds()
    return sorted(_SEEDERS)


def world_seeder(name: str) -> WorldSeeder:
    """The seeder registered as `name`; `UnknownWorldError` names the known worlds otherwise."""
    _load_builtin_worlds()
    seeder = _SEEDERS.get(name)
    if seeder is None:
        raise UnknownWorldError(f"unknown world {name!r}; known worlds: {', '.join(sorted(_SEEDERS)) or '(none)'}")
    return seeder
