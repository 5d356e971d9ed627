"""Helpers for the evaluation tests: datasets written to a temporary file, models named for a run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic_ai.models import Model

from signoff.evals.catalog import eval_catalog
from signoff.evals.dataset import LoadedDataset, load_dataset
from signoff.evals.models import ModelChoice
from signoff.tools.sales import sales_pack

SALES_PACKS = (sales_pack(),)
"""The packs the evaluation tests run with: the sales pack, as `SIGNOFF_PACKS` enables it by default."""
SALES_CATALOG = eval_catalog(SALES_PACKS)
"""Its catalog; building it imports the injection suite, which registers its world, suite, goals and model."""
SALES_DATASETS = SALES_PACKS[0].datasets
assert SALES_DATASETS is not None


def write_dataset(
    directory: Path,
    cases: Sequence[dict[str, Any]],
    *,
    name: str = "test-dataset",
    world: str | None = None,
    suite: str | None = None,
) -> Path:
    """A dataset file holding these cases (with a world and a suite when given)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    document: dict[str, Any] = {"name": name, "description": "written by a test"}
    document |= {key: value for key, value in (("world", world), ("suite", suite)) if value is not None}
    path.write_text(yaml.safe_dump({**document, "cases": list(cases)}))
    return path


def dataset_of(
    directory: Path,
    cases: Sequence[dict[str, Any]],
    *,
    name: str = "test-dataset",
    world: str | None = None,
    suite: str | None = None,
) -> LoadedDataset:
    """A loaded dataset holding these cases."""
    return load_dataset(write_dataset(directory, cases, name=name, world=world, suite=suite), catalog=SALES_CATALOG)


def choice(build: Callable[[], Model], name: str = "scripted") -> ModelChoice:
    """A model choice over a test model (a fresh one per case when `build` makes one)."""
    return ModelChoice(name=name, build=build)


async def injection_subset(directory: Path, names: Sequence[str]) -> Path:
    """A dataset file with these cases of the injection dataset, its world and its suite (a quicker run)."""
    from signoff.tools.sales.injection.tasks import injection_dataset

    cases = [case for case in (await injection_dataset())["cases"] if case["name"] in names]
    assert [case["name"] for case in cases] == list(names), "name the cases in dataset order"
    return write_dataset(directory, cases, name="injection-subset", world="injection", suite="injection")
