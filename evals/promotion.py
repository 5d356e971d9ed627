"""Promotion: moving a label onto a version, allowed only by a passing evaluation run of that exact version.

A promotion looks up the latest passing evaluation run recorded for the version's name, version and
content hash (`evals.records`). Without one it is refused, unless forced; a forced move is recorded as
such in the label history, next to who made it and when. The version is pinned in `released.toml` if it
was not yet (a version a label points at is immutable), and then the label moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from signoff.agent.store.engine import SessionFactory
from signoff.evals.records import EvalRunRecord, latest_passing_eval
from signoff.prompts.errors import PromotionRefused
from signoff.prompts.labels import LabelMove, check_label_name, move_label
from signoff.prompts.pins import pin_release
from signoff.prompts.registry import PromptRegistry, PromptTemplate

__all__ = ["Promotion", "promote_prompt"]


@dataclass(frozen=True, kw_only=True)
class Promotion:
    """A label move that happened: the recorded move, the evaluation run that allowed it (None when
    forced), and whether the version was pinned as released by this promotion."""

    move: LabelMove
    prompt: PromptTemplate
    eval_run: EvalRunRecord | None
    pinned_now: bool


async def promote_prompt(
    registry: PromptRegistry,
    prompt: PromptTemplate,
    *,
    label: str,
    moved_by: str,
    now: datetime,
    force: bool,
    session_factory: SessionFactory,
    note: str | None = None,
) -> Promotion:
    """Point `label` at `prompt`'s version, if a passing evaluation run of it is recorded (or `force`).

    `forced` is recorded only when `force` actually overrode the rule: with a passing run on record, the
    move is an ordinary one and names that run.
    """
    check_label_name(label)
    if registry.labels().version_of(prompt.name, label) == prompt.version:
        raise PromotionRefused(f"label {label!r} of {prompt.name!r} already points at {prompt.ref}")
    passing = await latest_passing_eval(
        session_factory, prompt_name=prompt.name, prompt_version=prompt.version, prompt_hash=prompt.content_hash
    )
    if passing is None and not force:
        raise PromotionRefused(
            f"refused to move {label!r} to {prompt.ref}: no passing evaluation run is recorded for it "
            f"(hash {prompt.content_hash}); run `signoff eval run DATASET --prompt {prompt.ref}` until it "
            "passes, or pass --force (the move is then recorded as forced)"
        )
    pinned_now = pin_release(
        registry.released_file, name=prompt.name, version=prompt.version, content_hash=prompt.content_hash
    )
    move = move_label(
        registry.labels_file,
        prompt=prompt.name,
        label=label,
        to_version=prompt.version,
        moved_by=moved_by,
        moved_at=now,
        forced=passing is None,
        eval_run_id=None if passing is None else passing.eval_run_id,
        note=note,
    )
    return Promotion(move=move, prompt=prompt, eval_run=passing, pinned_now=pinned_now)
