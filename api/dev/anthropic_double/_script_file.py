"""Reading a script of replies from a JSON file (for `signoff dev fake-anthropic --script`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ._script import Reply, StopReason, ToolUse

__all__ = ["ScriptFileError", "load_script"]


class ScriptFileError(ValueError):
    """The script file cannot be read or is not a list of replies; the message says why on one line."""


class _ToolUseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    input: dict[str, Any] = Field(default_factory=dict[str, Any])


class _ReplyModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = ""
    tool_uses: list[_ToolUseModel] = Field(default_factory=list[_ToolUseModel])
    stop_reason: StopReason | None = None


_SCRIPT = TypeAdapter(list[_ReplyModel])


def load_script(path: Path) -> list[Reply]:
    """Read `[{"text": ..., "tool_uses": [{"name": ..., "input": {...}}]}, ...]` from `path`."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScriptFileError(f"cannot read the script {str(path)!r}: {error.strerror}") from None
    try:
        replies = _SCRIPT.validate_json(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise ScriptFileError(f"the script {str(path)!r} is not a list of replies: {where}: {first['msg']}") from None
    return [
        Reply(
            text=reply.text,
            tool_uses=[ToolUse(use.name, use.input) for use in reply.tool_uses],
            stop_reason=reply.stop_reason,
        )
        for reply in replies
    ]
