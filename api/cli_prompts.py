"""`signoff prompts`: list, show and diff prompt versions, see label history, promote a version to a label.

Every command takes `--json`. `--dir` points the commands at another prompts directory (one with
`templates/`, `labels.toml` and `released.toml`); by default they use the prompts directory of the enabled
pack that ships prompts (SIGNOFF_PACKS), which is the one runs load their prompt from. `promote` reads
evaluation runs from the configured database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from signoff.agent.runtime import prompt_registries
from signoff.api.cli import _async_command, _default_principal, _emit, _runtime, _settings, cli, json_option
from signoff.api.cli_format import render_table
from signoff.api.runtime import enabled_packs
from signoff.evals.promotion import promote_prompt
from signoff.prompts import PromptError, PromptRegistry, PromptTemplate, parse_prompt_ref
from signoff.prompts.diffing import SAMPLE_CONTEXT, diff_prompts
from signoff.prompts.labels import LabelMove
from signoff.tools.packs import PackLoadError

__all__ = ["prompts_group"]

# Hashes are 71 characters; the table shows enough of one to tell versions apart (--json has all of it).
_SHORT_HASH_CHARS = 19


@cli.group("prompts")
@click.option(
    "--dir",
    "prompts_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A prompts directory (templates/, labels.toml, released.toml); default: the enabled pack's.",
)
@click.pass_context
def prompts_group(ctx: click.Context, prompts_dir: Path | None) -> None:
    """Versioned prompts: versions, labels and their history, diffs, promotion."""
    if prompts_dir is not None:
        ctx.obj = PromptRegistry(root=prompts_dir)
        return
    try:
        shipping = prompt_registries(enabled_packs(_settings()))
    except (PackLoadError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    if len(shipping) != 1:
        found = ", ".join(f"{name} ({registry.root})" for name, registry in shipping) or "none"
        raise click.ClickException(
            f"choose a prompts directory with --dir: the enabled packs that ship prompts are {found}"
        )
    [(_name, ctx.obj)] = shipping


@contextmanager
def _prompt_files() -> Iterator[None]:
    """Unreadable or unwritable prompt files are a one-line error naming the file, not a traceback."""
    try:
        yield
    except OSError as error:
        raise PromptError(f"cannot use prompt file {error.filename}: {error.strerror}") from None


def _short(content_hash: str) -> str:
    return content_hash[:_SHORT_HASH_CHARS] + "…"


def _move_view(move: LabelMove) -> dict[str, Any]:
    return {
        "prompt": move.prompt,
        "label": move.label,
        "from_version": move.from_version,
        "to_version": move.to_version,
        "moved_by": move.moved_by,
        "moved_at": move.moved_at.isoformat(),
        "forced": move.forced,
        "eval_run_id": move.eval_run_id,
        "note": move.note,
    }


def _version_view(prompt: PromptTemplate, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "version": prompt.version,
        "description": prompt.description,
        "model": prompt.model,
        "content_hash": prompt.content_hash,
        "released": prompt.released,
        "labels": sorted(label for label, version in labels.items() if version == prompt.version),
    }


@prompts_group.command("list")
@json_option
@click.pass_obj
@_async_command
async def list_command(registry: PromptRegistry, as_json: bool) -> None:
    """List prompts: each version with its hash and release pin, and the labels pointing at it."""
    with _prompt_files():
        listings = registry.list()
    views = [
        {
            "name": listing.name,
            "labels": listing.labels,
            "versions": [_version_view(prompt, listing.labels) for prompt in listing.versions],
        }
        for listing in listings
    ]
    _emit(
        as_json,
        views,
        lambda: render_table(
            ["prompt", "version", "labels", "released", "hash", "model"],
            [
                [
                    view["name"],
                    version["version"],
                    ",".join(version["labels"]),
                    "yes" if version["released"] else "no",
                    _short(version["content_hash"]),
                    version["model"],
                ]
                for view in views
                for version in view["versions"]
            ],
            empty="no prompts",
        ),
    )


@prompts_group.command("show")
@click.argument("ref", metavar="NAME[@VERSION|@LABEL]")
@json_option
@click.pass_obj
@_async_command
async def show_command(registry: PromptRegistry, ref: str, as_json: bool) -> None:
    """Show one version's front matter and template (bare NAME: the production label)."""
    with _prompt_files():
        prompt = registry.resolve(ref)
        labels = registry.labels().labels_of(prompt.name)
    payload = {
        "name": prompt.name,
        **_version_view(prompt, labels),
        "resolved_label": prompt.label,
        "template": prompt.template_source,
    }
    _emit(
        as_json,
        payload,
        lambda: "\n".join(
            [
                f"name:        {prompt.name}",
                f"version:     {prompt.version}"
                + (f"   (resolved through label {prompt.label!r})" if prompt.label else ""),
                f"description: {prompt.description}",
                f"model:       {prompt.model}",
                f"hash:        {prompt.content_hash}   released: {'yes' if prompt.released else 'no'}",
                f"labels:      {', '.join(payload['labels']) or '(none)'}",
                "",
                prompt.template_source.rstrip("\n"),
            ]
        ),
    )


@prompts_group.command("diff")
@click.argument("old_ref", metavar="NAME@A")
@click.argument("new_ref", metavar="NAME@B")
@json_option
@click.pass_obj
@_async_command
async def diff_command(registry: PromptRegistry, old_ref: str, new_ref: str, as_json: bool) -> None:
    """Unified diffs of two versions: their template files, and their rendered instructions.

    Both are rendered with the fixed sample context of `prompts.diffing` (no values: the instructions take
    none), so the rendered diff is exactly what changes for the model.
    """
    with _prompt_files():
        diff = diff_prompts(registry, registry.resolve(old_ref), registry.resolve(new_ref))
    payload = {
        "old": diff.old,
        "new": diff.new,
        "old_hash": diff.old_hash,
        "new_hash": diff.new_hash,
        "sample_context": dict(SAMPLE_CONTEXT),
        "template_diff": diff.template_diff,
        "rendered_diff": diff.rendered_diff,
    }
    _emit(
        as_json,
        payload,
        lambda: "\n".join(
            [
                f"old: {diff.old}  {diff.old_hash}",
                f"new: {diff.new}  {diff.new_hash}",
                "",
                "Template diff:",
                diff.template_diff.rstrip("\n") or "(no difference)",
                "",
                "Rendered difference (sample context: none; the instructions take no per-run values):",
                diff.rendered_diff.rstrip("\n") or "(no difference)",
            ]
        ),
    )


@prompts_group.command("history")
@click.argument("name", required=False)
@json_option
@click.pass_obj
@_async_command
async def history_command(registry: PromptRegistry, name: str | None, as_json: bool) -> None:
    """Every recorded label move (of one prompt, with NAME), oldest first: who, when, from, to, forced."""
    with _prompt_files():
        book = registry.labels()
    moves = list(book.history) if name is None else book.history_of(parse_prompt_ref(name).name)
    views = [_move_view(move) for move in moves]
    _emit(
        as_json,
        views,
        lambda: render_table(
            ["moved at", "prompt", "label", "from", "to", "by", "forced", "eval run"],
            [
                [
                    view["moved_at"][:19],
                    view["prompt"],
                    view["label"],
                    view["from_version"] or "-",
                    view["to_version"],
                    view["moved_by"],
                    "FORCED" if view["forced"] else "",
                    view["eval_run_id"] or "",
                ]
                for view in views
            ],
            empty="no label moves recorded",
        ),
    )


@prompts_group.command("promote")
@click.argument("ref", metavar="NAME@VERSION")
@click.option("--label", required=True, help="The label to move (production, staging, or a name of your own).")
@click.option("--force", is_flag=True, help="Move it without a passing evaluation run; recorded as forced.")
@click.option("--as", "moved_by", default=_default_principal, help="Who is moving it (default: cli:<user>).")
@click.option("--note", help="Why, kept in the label history.")
@json_option
@click.pass_obj
@_async_command
async def promote_command(
    registry: PromptRegistry, ref: str, label: str, force: bool, moved_by: str, note: str | None, as_json: bool
) -> None:
    """Point LABEL at a version; refused unless a passing evaluation run of that exact version is recorded."""
    parsed = parse_prompt_ref(ref)
    if parsed.version is None and parsed.label is None:
        raise PromptError(f"name the version to promote: {parsed.name}@VERSION (or {parsed.name}@LABEL)")
    with _prompt_files():
        prompt = registry.resolve(parsed)
    async with _runtime() as runtime:
        with _prompt_files():
            promotion = await promote_prompt(
                registry,
                prompt,
                label=label,
                moved_by=moved_by,
                now=datetime.now(UTC),
                force=force,
                session_factory=runtime.session_factory,
                note=note,
            )
    move = promotion.move
    payload = {**_move_view(move), "content_hash": prompt.content_hash, "pinned_now": promotion.pinned_now}
    evidence = (
        f"FORCED: no passing evaluation run of {prompt.ref} is recorded"
        if promotion.eval_run is None
        else f"allowed by passing evaluation run {promotion.eval_run.eval_run_id} "
        f"({promotion.eval_run.dataset_name}, {promotion.eval_run.model_name})"
    )
    _emit(
        as_json,
        payload,
        lambda: "\n".join(
            [
                f"{move.prompt}: {move.label} {move.from_version or '(new)'} -> {move.to_version}"
                f"  by {move.moved_by} at {move.moved_at.isoformat()}",
                evidence,
            ]
            + ([f"pinned {prompt.ref} as released ({prompt.content_hash})"] if promotion.pinned_now else [])
        ),
    )
