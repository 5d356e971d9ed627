"""The front matter of a prompt file: parsed, checked field by field, and checked against the file's path.

A prompt file is `templates/<name>/v<version>.j2` and starts with YAML front matter between `---` lines:

    ---
    name: sales_agent
    version: "2"
    description: What this version is for and what changed.
    model: anthropic:claude-sonnet-4-5
    ---
    (the jinja2 template)

Every field is required and must be a non-empty string (`version` may be written as a bare number); an
unknown field is an error too, because a misspelt field would otherwise be silently ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from signoff.prompts.errors import PromptFileError

__all__ = ["FRONT_MATTER_FIELDS", "NAME_PATTERN", "VERSION_PATTERN", "FrontMatter", "parse_prompt_file"]

# `model` is the model the version was written and evaluated for ("intended model").
FRONT_MATTER_FIELDS = ("name", "version", "description", "model")

# Names are directory names and TOML keys; versions are whole numbers, so `name@2` is a version and
# `name@staging` a label (labels start with a letter) without any ambiguity.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,99}")
VERSION_PATTERN = re.compile(r"[1-9][0-9]{0,8}")

_DELIMITER = "---\n"


@dataclass(frozen=True, kw_only=True)
class FrontMatter:
    """The checked front matter of one prompt file."""

    name: str
    version: str
    description: str
    model: str


def _field(fields: dict[object, object], key: str, path: Path) -> str:
    value = fields[key]
    if key == "version" and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise PromptFileError(f"{path}: front matter field {key!r} must be a non-empty string, got {value!r}")
    return value.strip()


def _yaml_problem(error: yaml.YAMLError) -> str:
    problem = getattr(error, "problem", None)
    mark = getattr(error, "problem_mark", None)
    if not isinstance(problem, str) or mark is None:
        return " ".join(str(error).split())
    # Line numbers of the file: the header starts on line 2, after the opening '---'.
    return f"{problem} (line {mark.line + 2}, column {mark.column + 1})"


def parse_prompt_file(raw: bytes, *, path: Path) -> tuple[FrontMatter, str]:
    """The front matter and the template source of a prompt file, checked against `path`.

    Raises `PromptFileError` naming the file and the problem.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PromptFileError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    if not text.startswith(_DELIMITER):
        raise PromptFileError(f"{path}: missing front matter (the file must start with a '---' line)")
    header, closing, body = text[len(_DELIMITER) :].partition("\n" + _DELIMITER)
    if not closing:
        raise PromptFileError(f"{path}: front matter is not closed by a '---' line")
    try:
        loaded: object = yaml.safe_load(header)
    except yaml.YAMLError as error:
        raise PromptFileError(f"{path}: front matter is not valid YAML: {_yaml_problem(error)}") from None
    if not isinstance(loaded, dict):
        raise PromptFileError(f"{path}: front matter must be 'key: value' lines")
    fields: dict[object, object] = loaded  # pyright: ignore[reportUnknownVariableType]
    missing = [key for key in FRONT_MATTER_FIELDS if key not in fields]
    if missing:
        raise PromptFileError(f"{path}: front matter lacks {', '.join(missing)}")
    unknown = sorted(str(key) for key in fields if key not in FRONT_MATTER_FIELDS)
    if unknown:
        raise PromptFileError(
            f"{path}: front matter has unknown field(s) {', '.join(unknown)}; "
            f"the fields are {', '.join(FRONT_MATTER_FIELDS)}"
        )
    front = FrontMatter(**{key: _field(fields, key, path) for key in FRONT_MATTER_FIELDS})
    if not NAME_PATTERN.fullmatch(front.name):
        raise PromptFileError(f"{path}: name {front.name!r} must be lower case letters, digits and '_'")
    if not VERSION_PATTERN.fullmatch(front.version):
        raise PromptFileError(f"{path}: version {front.version!r} must be a whole number from 1")
    expected = (path.parent.name, path.name)
    if expected != (front.name, f"v{front.version}.j2"):
        raise PromptFileError(
            f"{path}: front matter says {front.name}@{front.version}, "
            f"so the file must be templates/{front.name}/v{front.version}.j2"
        )
    return front, body
