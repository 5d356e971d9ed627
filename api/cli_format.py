"""Plain-text tables for the terminal (no colours, so output can be piped and diffed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["render_table", "truncate"]


def truncate(text: str, width: int) -> str:
    """One line of at most `width` characters, with an ellipsis when cut."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str = "(none)") -> str:
    """Left-aligned columns separated by two spaces, with a header rule."""
    if not rows:
        return empty
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
