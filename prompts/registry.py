"""Load and render versioned prompt templates from `prompts/templates/<name>/v<version>.j2`.

Each file starts with YAML-like front matter (`name`, `version`, `description`, `model`) between `---`
lines; the rest is a jinja2 template rendered in a sandbox with `StrictUndefined`, so a missing value is
an error instead of an empty string. Only trusted values (configuration, never task text or tool output)
are passed to `render`: untrusted text travels in messages, as data.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

__all__ = [
    "DEFAULT_LABEL",
    "TEMPLATES_DIR",
    "PromptError",
    "PromptListing",
    "PromptTemplate",
    "list_prompts",
    "load_prompt",
]

TEMPLATES_DIR = Path(__file__).parent / "templates"
LABELS_FILE = Path(__file__).parent / "labels.toml"
DEFAULT_LABEL = "production"
_FRONT_MATTER_FIELDS = ("name", "version", "description", "model")


class PromptError(LookupError):
    """A prompt, version or label that does not exist, or a template that does not render."""


@dataclass(frozen=True, kw_only=True)
class PromptTemplate:
    """One immutable prompt version. `content_hash` is the sha256 of the whole file."""

    name: str
    version: str
    description: str
    model: str
    template_source: str
    content_hash: str
    label: str | None = None

    def render(self, **trusted_values: Any) -> str:
        """Render with trusted values only; an undefined name raises `PromptError`."""
        environment = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False)
        try:
            return environment.from_string(self.template_source).render(**trusted_values).strip()
        except TemplateError as error:
            raise PromptError(f"prompt {self.name}@{self.version} does not render: {error}") from error


def _parse(path: Path) -> PromptTemplate:
    raw = path.read_bytes()
    text = raw.decode("utf-8")
    if not text.startswith("---\n"):
        raise PromptError(f"{path}: missing front matter")
    header, _, body = text[4:].partition("\n---\n")
    fields: dict[str, str] = {}
    for line in header.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip().strip('"')
    missing = [name for name in _FRONT_MATTER_FIELDS if name not in fields]
    if missing:
        raise PromptError(f"{path}: front matter lacks {', '.join(missing)}")
    return PromptTemplate(
        name=fields["name"],
        version=fields["version"],
        description=fields["description"],
        model=fields["model"],
        template_source=body,
        content_hash="sha256:" + hashlib.sha256(raw).hexdigest(),
    )


def _labels() -> dict[str, dict[str, str]]:
    if not LABELS_FILE.exists():
        return {}
    return tomllib.loads(LABELS_FILE.read_text(encoding="utf-8"))


def load_prompt(name: str, *, version: str | None = None, label: str = DEFAULT_LABEL) -> PromptTemplate:
    """A prompt by pinned version, or by label (default `production`) when no version is given."""
    resolved_label: str | None = None
    if version is None:
        version = _labels().get(name, {}).get(label)
        if version is None:
            raise PromptError(f"prompt {name!r} has no label {label!r}")
        resolved_label = label
    path = TEMPLATES_DIR / name / f"v{version}.j2"
    if not path.is_file():
        raise PromptError(f"prompt {name!r} has no version {version!r}")
    prompt = _parse(path)
    if prompt.name != name or prompt.version != version:
        raise PromptError(f"{path}: front matter says {prompt.name}@{prompt.version}")
    return PromptTemplate(**{**prompt.__dict__, "label": resolved_label})


@dataclass(frozen=True, kw_only=True)
class PromptListing:
    """One prompt: its versions, oldest first, and the version each label points at."""

    name: str
    versions: tuple[PromptTemplate, ...]
    labels: dict[str, str]


def _version_order(prompt: PromptTemplate) -> tuple[int, int, str]:
    # Numeric versions in numeric order ("10" after "9"); any other spelling after them, alphabetically.
    return (0, int(prompt.version), "") if prompt.version.isdigit() else (1, 0, prompt.version)


def list_prompts() -> list[PromptListing]:
    """Every prompt under `TEMPLATES_DIR`, by name, each version loaded (and so checked) as `load_prompt` would."""
    labels = _labels()
    listings: list[PromptListing] = []
    for directory in sorted(path for path in TEMPLATES_DIR.iterdir() if path.is_dir()):
        versions = [
            load_prompt(directory.name, version=path.stem.removeprefix("v")) for path in directory.glob("v*.j2")
        ]
        listings.append(
            PromptListing(
                name=directory.name,
                versions=tuple(sorted(versions, key=_version_order)),
                labels=dict(labels.get(directory.name, {})),
            )
        )
    return listings
