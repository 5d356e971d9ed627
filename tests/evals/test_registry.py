"""The named registry behind datasets' `world:` and `suite:` settings."""

from __future__ import annotations

import pytest

from signoff.evals.registry import NamedRegistry, UnknownEntryError
from signoff.evals.suites import UnknownSuiteError, eval_suite, known_suites
from signoff.evals.worlds import UnknownWorldError, known_worlds, world_seeder


class UnknownThing(UnknownEntryError):
    pass


def test_entries_register_once_and_unknown_names_list_the_known_ones() -> None:
    registry = NamedRegistry[str]("thing", builtin_modules=["json"], error=UnknownThing)
    registry.register("a", "first")
    registry.register("a", "first")  # a module imported twice registers the same entry again
    with pytest.raises(ValueError, match="a different thing is already registered as 'a'"):
        registry.register("a", "second")
    assert registry.get("a") == "first" and registry.names() == ["a"]
    with pytest.raises(UnknownThing, match=r"unknown thing 'b'; known things: a"):
        registry.get("b")


def test_the_builtin_world_and_suite_are_found_without_importing_their_package_first() -> None:
    assert "injection" in known_worlds() and "injection" in known_suites()
    assert eval_suite("injection").name == "injection"
    assert callable(world_seeder("injection"))
    with pytest.raises(UnknownWorldError, match="known worlds: injection"):
        world_seeder("nowhere")
    with pytest.raises(UnknownSuiteError, match="known suites: injection"):
        eval_suite("nothing")
