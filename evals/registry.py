"""A registry of named extensions (worlds, suites) that packages fill in when they are imported.

The evaluation framework's extension points (worlds, suites, attack goals) work the same way: a tool
pack's evaluation modules (`ToolPack.eval_modules`, imported by `evals.catalog`) register their entries
when imported. One class keeps them from drifting apart.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["NamedRegistry", "UnknownEntryError"]

T = TypeVar("T")


class UnknownEntryError(ValueError):
    """No entry of that name is registered; the message lists the known ones."""


class NamedRegistry(Generic[T]):
    """Entries by name, filled in by the modules that register them."""

    def __init__(self, kind: str, *, error: type[UnknownEntryError]) -> None:
        self.kind = kind
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
        return sorted(self._entries)

    def get(self, name: str) -> T:
        """The entry registered as `name`; the registry's error type, naming the known ones, otherwise."""
        entry = self._entries.get(name)
        if entry is None:
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise self._error(f"unknown {self.kind} {name!r}; known {self.kind}s: {known}")
        return entry
