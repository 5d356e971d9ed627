"""A registry of named extensions (worlds, suites) that packages fill in when they are imported.

Both of the evaluation framework's extension points work the same way: a package registers its entries
when imported, and a lookup first imports the packages that ship the built-in ones, so a dataset file can
name an entry without its reader importing anything. One class keeps the two from drifting apart.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Generic, TypeVar

__all__ = ["NamedRegistry", "UnknownEntryError"]

T = TypeVar("T")


class UnknownEntryError(ValueError):
    """No entry of that name is registered; the message lists the known ones."""


class NamedRegistry(Generic[T]):
    """Entries by name. `builtin_modules` are imported before any lookup (they register themselves)."""

    def __init__(self, kind: str, *, builtin_modules: Sequence[str], error: type[UnknownEntryError]) -> None:
        self.kind = kind
        self._builtin_modules = tuple(builtin_modules)
        self._error = error
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> None:
        """Add `entry` as `name`. Another entry under a taken name is an error (never a silent
        replacement); the same one again is harmless (a module imported twice)."""
        existing = self._entries.get(name)
        if existing is not None and existing is not entry and existing != entry:
            raise ValueError(f"a different {self.kind} is already registered as {name!r}")
        self._entries[name] = entry

    def names(self) -> list[str]:
        """The registered names, sorted."""
        self._load_builtins()
        return sorted(self._entries)

    def get(self, name: str) -> T:
        """The entry registered as `name`; the registry's error type, naming the known ones, otherwise."""
        self._load_builtins()
        entry = self._entries.get(name)
        if entry is None:
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise self._error(f"unknown {self.kind} {name!r}; known {self.kind}s: {known}")
        return entry

    def _load_builtins(self) -> None:
        # Imported on first use, not at the top: the built-in packages build on the framework that
        # imports the registry's module.
        for module in self._builtin_modules:
            importlib.import_module(module)
