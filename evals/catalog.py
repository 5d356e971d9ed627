"""What an evaluation can use: the enabled tool packs, their tools, datasets and evaluation modules.

`eval_catalog(packs)` imports each pack's `eval_modules` (which register its worlds, suites and attack
goals) and builds the packs' tools once without a database, so that datasets can be checked against
their names, schemas and metadata when loaded. Datasets are found by name in the packs' `datasets`
folders. A pack whose evaluation module does not import is a `PackLoadError` naming it.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from signoff.tools.packs import PackContext, PackLoadError, ToolPack, build_packs
from signoff.tools.registry import ToolRegistry

__all__ = ["EvalCatalog", "eval_catalog"]


@dataclass(frozen=True, kw_only=True)
class EvalCatalog:
    """The packs an evaluation runs with, and the tool registry datasets are checked against."""

    packs: tuple[ToolPack, ...]
    registry: ToolRegistry
    """The packs' tools, built on an unbound session factory: for names and metadata, never called."""

    def dataset_dirs(self) -> list[tuple[str, Path]]:
        """(pack name, folder) of every pack that ships datasets, in pack order."""
        return [(pack.name, pack.datasets) for pack in self.packs if pack.datasets is not None]


def eval_catalog(packs: Sequence[ToolPack]) -> EvalCatalog:
    """Import the packs' evaluation modules and build their tools for checking datasets."""
    for pack in packs:
        for module in pack.eval_modules:
            try:
                importlib.import_module(module)
            except Exception as error:  # the pack's module failed: say whose
                raise PackLoadError(pack.name, f"evaluation module {module!r} does not import: {error!r}") from error
    registry, _ = build_packs(packs, lambda _pack: PackContext.unbound())
    return EvalCatalog(packs=tuple(packs), registry=registry)
