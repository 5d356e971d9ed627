"""Helpers for the evaluation tests: datasets written to a temporary file, models named for a run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic_ai.models import Model

from evals.dataset import LoadedDataset, load_dataset
from evals.models import ModelChoice


def write_dataset(directory: Path, cases: Sequence[dict[str, Any]], *, name: str = "test-dataset") -> Path:
    """A dataset file holding these cases."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "description": "written by a test", "cases": list(cases)}))
    return path


def dataset_of(directory: Path, cases: Sequence[dict[str, Any]], *, name: str = "test-dataset") -> LoadedDataset:
    """A loaded dataset holding these cases."""
    return load_dataset(write_dataset(directory, cases, name=name))


def choice(build: Callable[[], Model], name: str = "scripted") -> ModelChoice:
    """A model choice over a test model (a fresh one per case when `build` makes one)."""
    return ModelChoice(name=name, build=build)
