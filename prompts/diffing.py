"""Comparing two prompt versions: the template diff, and the difference in what the model would read.

The template diff is what a reviewer edits (front matter, jinja comments and tags included). The rendered
diff is what changes for the model: both versions are rendered with `SAMPLE_CONTEXT` and compared.

`SAMPLE_CONTEXT` is the fixed set of values the comparison renders with. It is exactly what the runner
renders the instructions with: nothing, because the instructions carry no per-run values (task text,
context and tool output travel in messages, never in the system instructions; DESIGN.md invariant 5).
So the rendered diff shows the very bytes the model would get from each version. A template that needs
a value it is not given fails to render here, as it would in a run.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from signoff.prompts.registry import PromptRegistry, PromptTemplate

__all__ = ["SAMPLE_CONTEXT", "PromptDiff", "diff_prompts"]

SAMPLE_CONTEXT: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class PromptDiff:
    """Unified diffs between two versions: of their files' templates and of their rendered instructions.

    Each diff is empty when that side did not change.
    """

    old: str
    new: str
    old_hash: str
    new_hash: str
    template_diff: str
    rendered_diff: str


def _unified(old: str, new: str, *, old_name: str, new_name: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=old_name, tofile=new_name
    )
    # A last line without a newline would run into the next hunk header; give every line its own.
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def diff_prompts(registry: PromptRegistry, old: PromptTemplate, new: PromptTemplate) -> PromptDiff:
    """Compare two versions of `registry`; rendering errors (`PromptError`) propagate.

    The template diff covers the whole files, front matter included: it is part of each file's hash.
    """
    return PromptDiff(
        old=old.ref,
        new=new.ref,
        old_hash=old.content_hash,
        new_hash=new.content_hash,
        template_diff=_unified(
            registry.file_text(old),
            registry.file_text(new),
            old_name=f"{old.ref} template",
            new_name=f"{new.ref} template",
        ),
        rendered_diff=_unified(
            old.render(**SAMPLE_CONTEXT) + "\n",
            new.render(**SAMPLE_CONTEXT) + "\n",
            old_name=f"{old.ref} rendered",
            new_name=f"{new.ref} rendered",
        ),
    )
