"""Labels: named pointers (`production`, `staging`, any custom name) at prompt versions, with their history.

`labels.toml` is tracked in git and holds both the current pointers and an append-only `[[history]]` of
every move: which prompt and label, from and to which version, who moved it and when, whether the move was
forced past the promotion rules, and the evaluation run that allowed it. Reading the file replays the
history and refuses a file whose pointers disagree with it, so a pointer edited by hand (a move nobody
recorded) cannot take effect. Moves are written under a directory lock, atomically.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from signoff.prompts.errors import LabelError
from signoff.prompts.files import atomic_write_text, directory_lock

__all__ = [
    "LABELS_FILE_NAME",
    "LABEL_PATTERN",
    "LabelBook",
    "LabelMove",
    "check_label_name",
    "move_label",
    "read_labels",
]

LABELS_FILE_NAME = "labels.toml"

# Labels start with a letter, so `name@staging` never reads as a version; 64 characters is the width of
# `runs.prompt_label`, where every run records the label it resolved.
LABEL_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,63}")

_HEADER = """\
# Which version of each prompt a label points at, and every move of every label (append-only history).
# Runs resolve a label (default: production) or pin a version. Move labels with
#   signoff prompts promote NAME@VERSION --label LABEL
# which records who moved it and when; a pointer that disagrees with the history is refused.
"""


def check_label_name(label: str) -> str:
    """`label` if it is a valid label name; `LabelError` otherwise."""
    if not LABEL_PATTERN.fullmatch(label):
        raise LabelError(
            f"label {label!r} is not a valid label name: lower case letters, digits, '-' and '_', "
            "starting with a letter, at most 64 characters"
        )
    return label


@dataclass(frozen=True, kw_only=True)
class LabelMove:
    """One recorded move of a label. `from_version` is None when the label was created by this move."""

    prompt: str
    label: str
    from_version: str | None
    to_version: str
    moved_by: str
    moved_at: datetime
    forced: bool
    eval_run_id: str | None
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class LabelBook:
    """The labels file read and checked: current pointers by prompt, and the history, oldest first."""

    pointers: dict[str, dict[str, str]]
    history: tuple[LabelMove, ...]

    def version_of(self, prompt: str, label: str) -> str | None:
        """The version `label` points at for `prompt`, or None."""
        return self.pointers.get(prompt, {}).get(label)

    def labels_of(self, prompt: str) -> dict[str, str]:
        """`{label: version}` for one prompt."""
        return dict(self.pointers.get(prompt, {}))

    def history_of(self, prompt: str) -> list[LabelMove]:
        """The moves of one prompt's labels, oldest first."""
        return [move for move in self.history if move.prompt == prompt]


def _text(entry: dict[str, Any], key: str, *, where: str, optional: bool = False) -> str | None:
    value = entry.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise LabelError(f"{where}: {key!r} must be a non-empty string, got {value!r}")
    return value


def _move(entry: object, *, where: str) -> LabelMove:
    if not isinstance(entry, dict):
        raise LabelError(f"{where}: must be a table")
    fields: dict[str, Any] = entry  # pyright: ignore[reportUnknownVariableType]
    moved_at = fields.get("moved_at")
    if not isinstance(moved_at, datetime) or moved_at.tzinfo is None:
        raise LabelError(f"{where}: 'moved_at' must be a date-time with a UTC offset, got {moved_at!r}")
    forced = fields.get("forced")
    if not isinstance(forced, bool):
        raise LabelError(f"{where}: 'forced' must be true or false, got {forced!r}")
    return LabelMove(
        prompt=str(_text(fields, "prompt", where=where)),
        label=check_label_name(str(_text(fields, "label", where=where))),
        from_version=_text(fields, "from_version", where=where, optional=True),
        to_version=str(_text(fields, "to_version", where=where)),
        moved_by=str(_text(fields, "moved_by", where=where)),
        moved_at=moved_at.astimezone(UTC),
        forced=forced,
        eval_run_id=_text(fields, "eval_run_id", where=where, optional=True),
        note=_text(fields, "note", where=where, optional=True),
    )


def read_labels(path: Path) -> LabelBook:
    """The labels file, checked: every move continues from the previous pointer, and replaying the
    history gives exactly the current pointers. A missing file means no labels yet."""
    if not path.exists():
        return LabelBook(pointers={}, history=())
    try:
        loaded = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise LabelError(f"{path}: not valid TOML: {error}") from None
    unknown = sorted(set(loaded) - {"labels", "history"})
    if unknown:
        raise LabelError(f"{path}: unknown top-level key(s) {', '.join(unknown)}; expected [labels.*] and [[history]]")
    pointers: dict[str, dict[str, str]] = {}
    for prompt, labels in dict(loaded.get("labels", {})).items():
        if not isinstance(labels, dict):
            raise LabelError(f'{path}: [labels.{prompt}] must be a table of label = "version"')
        table: dict[str, Any] = labels  # pyright: ignore[reportUnknownVariableType]
        for label, version in table.items():
            check_label_name(label)
            if not isinstance(version, str):
                raise LabelError(f"{path}: labels.{prompt}.{label} must be a version string, got {version!r}")
        pointers[prompt] = {label: str(version) for label, version in table.items()}
    history = tuple(
        _move(entry, where=f"{path}: history entry {index + 1}")
        for index, entry in enumerate(loaded.get("history", []))
    )
    replayed: dict[str, dict[str, str]] = {}
    for index, move in enumerate(history):
        before = replayed.get(move.prompt, {}).get(move.label)
        if before != move.from_version:
            raise LabelError(
                f"{path}: history entry {index + 1} moves {move.prompt}:{move.label} from {move.from_version!r}, "
                f"but the history before it left it at {before!r}"
            )
        replayed.setdefault(move.prompt, {})[move.label] = move.to_version
    if replayed != pointers:
        raise LabelError(
            f"{path}: the current labels {pointers} disagree with their history, which gives {replayed}; "
            "a label was changed without a recorded move (use signoff prompts promote)"
        )
    return LabelBook(pointers=pointers, history=history)


def _toml_string(value: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes, and json.dumps escapes every control character.
    return json.dumps(value, ensure_ascii=False)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def render_labels(book: LabelBook) -> str:
    """The labels file's text for `book` (what `read_labels` reads back)."""
    parts = [_HEADER]
    for prompt in sorted(book.pointers):
        parts.append(f"\n[labels.{_toml_key(prompt)}]\n")
        for label in sorted(book.pointers[prompt]):
            parts.append(f"{_toml_key(label)} = {_toml_string(book.pointers[prompt][label])}\n")
    for move in book.history:
        parts.append("\n[[history]]\n")
        parts.append(f"prompt = {_toml_string(move.prompt)}\n")
        parts.append(f"label = {_toml_string(move.label)}\n")
        if move.from_version is not None:  # TOML has no null: an absent key is "none"
            parts.append(f"from_version = {_toml_string(move.from_version)}\n")
        parts.append(f"to_version = {_toml_string(move.to_version)}\n")
        parts.append(f"moved_by = {_toml_string(move.moved_by)}\n")
        parts.append(f"moved_at = {move.moved_at.astimezone(UTC).isoformat()}\n")
        parts.append(f"forced = {'true' if move.forced else 'false'}\n")
        if move.eval_run_id is not None:
            parts.append(f"eval_run_id = {_toml_string(move.eval_run_id)}\n")
        if move.note is not None:
            parts.append(f"note = {_toml_string(move.note)}\n")
    return "".join(parts)


def move_label(
    path: Path,
    *,
    prompt: str,
    label: str,
    to_version: str,
    moved_by: str,
    moved_at: datetime,
    forced: bool,
    eval_run_id: str | None,
    note: str | None = None,
) -> LabelMove:
    """Point `label` of `prompt` at `to_version` and append the move to the history, in one atomic write.

    The file is re-read under the lock, so concurrent moves are serialised and none is lost. Moving a
    label onto the version it already points at is refused (it would record a move that changed nothing).
    """
    check_label_name(label)
    if not moved_by.strip():
        raise LabelError("a label move must say who moved it")
    if moved_at.tzinfo is None:
        raise LabelError("a label move's time must be timezone-aware")
    with directory_lock(path.parent):
        book = read_labels(path)
        current = book.version_of(prompt, label)
        if current == to_version:
            raise LabelError(f"label {label!r} of prompt {prompt!r} already points at version {to_version}")
        move = LabelMove(
            prompt=prompt,
            label=label,
            from_version=current,
            to_version=to_version,
            moved_by=moved_by.strip(),
            moved_at=moved_at.astimezone(UTC),
            forced=forced,
            eval_run_id=eval_run_id,
            note=note,
        )
        pointers = {name: dict(labels) for name, labels in book.pointers.items()}
        pointers.setdefault(prompt, {})[label] = to_version
        updated = LabelBook(pointers=pointers, history=(*book.history, move))
        atomic_write_text(path, render_labels(updated))
    return move
