"""The named registries behind datasets' `world:`, `suite:` and `injection:` settings, filled in by packs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from signoff.evals.attacks import attack_goal, known_attack_goals
from signoff.evals.catalog import eval_catalog
from signoff.evals.registry import NamedRegistry, UnknownEntryError
from signoff.evals.suites import UnknownSuiteError, eval_suite, known_suites
from signoff.evals.worlds import UnknownWorldError, known_worlds, world_seeder
from signoff.tools.packs import PackLoadError
from signoff.tools.sales import sales_pack


class UnknownThing(UnknownEntryError):
    pass


def test_entries_register_once_and_unknown_names_list_the_known_ones() -> None:
    registry = NamedRegistry[str]("thing", error=UnknownThing)
    registry.register("a", "first")
    registry.register("a", "first")  # a module imported twice registers the same entry again
    with pytest.raises(ValueError, match="a different thing is already registered as 'a'"):
        registry.register("a", "second")
    assert registry.get("a") == "first" and registry.names() == ["a"]
    with pytest.raises(UnknownThing, match=r"unknown thing 'b'; known things: a"):
        registry.get("b")


def test_the_sales_packs_world_suite_and_goals_are_registered_by_its_evaluation_module() -> None:
    # tests/evals/conftest.py built the sales catalog, which imports the pack's `eval_modules`.
    assert "change_owner" in known_attack_goals()
    assert attack_goal("change_owner").world == "injection"
    assert "injection" in known_worlds() and "injection" in known_suites()
    assert eval_suite("injection").name == "injection"
    assert callable(world_seeder("injection"))
    with pytest.raises(UnknownWorldError, match="known worlds: injection"):
        world_seeder("nowhere")
    with pytest.raises(UnknownSuiteError, match="known suites: injection"):
        eval_suite("nothing")


def test_a_pack_whose_evaluation_module_does_not_import_fails_naming_it() -> None:
    broken = replace(
        sales_pack(),
        name="broken",
        metadata=None,
        migrations=None,
        eval_modules=("signoff.tools.sales.no_such_module",),
    )
    with pytest.raises(
        PackLoadError, match=r"tool pack 'broken': evaluation module 'signoff.tools.sales.no_such_module'"
    ):
        eval_catalog([broken])
