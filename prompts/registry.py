"""Load and render versioned prompt templates from `<root>/templates/<name>/v<version>.j2`.

Each file starts with front matter (`name`, `version`, `description`, `model`; see `prompts.front_matter`);
the rest is a jinja2 template rendered in a sandbox with `StrictUndefined`, so a missing value is an error
instead of an empty string. Only trusted values (configuration, never task text or tool output) are passed
to `render`: untrusted text travels in messages, as data.

A `PromptRegistry` is one prompts directory: its templates, `labels.toml` (label pointers and their
history, `prompts.labels`) and `released.toml` (the pinned hash of each released version, `prompts.pins`).
Prompts belong to whoever ships them: each tool pack has its own directory (`ToolPack.prompt_dir`), and
the core ships none.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from signoff.prompts.errors import PromptError
from signoff.prompts.front_matter import NAME_PATTERN, VERSION_PATTERN, parse_prompt_file
from signoff.prompts.labels import LABELS_FILE_NAME, LabelBook, check_label_name, read_labels
from signoff.prompts.pins import RELEASED_FILE_NAME, check_pin, read_pins

__all__ = [
    "DEFAULT_LABEL",
    "PromptListing",
    "PromptRef",
    "PromptRegistry",
    "PromptTemplate",
    "parse_prompt_ref",
]

DEFAULT_LABEL = "production"


@dataclass(frozen=True, kw_only=True)
class PromptTemplate:
    """One immutable prompt version. `content_hash` is the sha256 of the whole file.

    `label` is the label it was resolved through, or None when the version was pinned; `released` says
    whether the version is pinned in `released.toml` (its hash was checked when it was loaded).
    """

    name: str
    version: str
    description: str
    model: str
    template_source: str
    content_hash: str
    label: str | None = None
    released: bool = False

    @property
    def ref(self) -> str:
        """`name@version`."""
        return f"{self.name}@{self.version}"

    def render(self, **trusted_values: Any) -> str:
        """Render with trusted values only; an undefined name raises `PromptError`."""
        environment = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False)
        try:
            return environment.from_string(self.template_source).render(**trusted_values).strip()
        except TemplateError as error:
            raise PromptError(f"prompt {self.ref} does not render: {error}") from error


@dataclass(frozen=True, kw_only=True)
class PromptRef:
    """A parsed `NAME`, `NAME@VERSION` or `NAME@LABEL`: at most one of `version` and `label` is set."""

    name: str
    version: str | None = None
    label: str | None = None


def parse_prompt_ref(ref: str) -> PromptRef:
    """Parse `NAME`, `NAME@VERSION` (a whole number) or `NAME@LABEL` (starts with a letter)."""
    name, at, selector = ref.strip().partition("@")
    if not NAME_PATTERN.fullmatch(name):
        raise PromptError(f"{ref!r} is not a prompt reference: expected NAME, NAME@VERSION or NAME@LABEL")
    if not at:
        return PromptRef(name=name)
    if VERSION_PATTERN.fullmatch(selector):
        return PromptRef(name=name, version=selector)
    try:
        return PromptRef(name=name, label=check_label_name(selector))
    except PromptError:
        raise PromptError(
            f"{ref!r} is not a prompt reference: after '@' comes a version (a whole number) or a label name"
        ) from None


@dataclass(frozen=True, kw_only=True)
class PromptListing:
    """One prompt: its versions, oldest first, and the version each label points at."""

    name: str
    versions: tuple[PromptTemplate, ...]
    labels: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class PromptRegistry:
    """One prompts directory: `templates/`, `labels.toml` and `released.toml` under `root`."""

    root: Path

    @property
    def templates_dir(self) -> Path:
        """Where the versions live: `templates/<name>/v<version>.j2`."""
        return self.root / "templates"

    @property
    def labels_file(self) -> Path:
        """The label pointers and their history."""
        return self.root / LABELS_FILE_NAME

    @property
    def released_file(self) -> Path:
        """The pinned hashes of released versions."""
        return self.root / RELEASED_FILE_NAME

    def labels(self) -> LabelBook:
        """The labels file, checked against its history."""
        return read_labels(self.labels_file)

    def load(self, name: str, *, version: str | None = None, label: str = DEFAULT_LABEL) -> PromptTemplate:
        """A prompt by pinned version, or by label (default `production`) when no version is given.

        A released version whose file changed raises `ReleasedPromptChanged`; a file whose front matter is
        wrong or disagrees with its path raises `PromptFileError`.
        """
        resolved_label: str | None = None
        if version is None:
            version = self.labels().version_of(name, label)
            if version is None:
                raise PromptError(f"prompt {name!r} has no label {label!r}")
            resolved_label = label
        if not NAME_PATTERN.fullmatch(name) or not VERSION_PATTERN.fullmatch(version):
            raise PromptError(f"prompt {name!r} has no version {version!r}")
        path = self.templates_dir / name / f"v{version}.j2"
        if not path.is_file():
            raise PromptError(f"prompt {name!r} has no version {version!r}")
        raw = path.read_bytes()
        front, body = parse_prompt_file(raw, path=path)
        content_hash = "sha256:" + hashlib.sha256(raw).hexdigest()
        released = check_pin(
            read_pins(self.released_file),
            name=name,
            version=version,
            content_hash=content_hash,
            pins_file=self.released_file,
        )
        return PromptTemplate(
            name=front.name,
            version=front.version,
            description=front.description,
            model=front.model,
            template_source=body,
            content_hash=content_hash,
            label=resolved_label,
            released=released,
        )

    def file_text(self, prompt: PromptTemplate) -> str:
        """The text of the file `prompt` was loaded from; `PromptError` if it changed since."""
        raw = (self.templates_dir / prompt.name / f"v{prompt.version}.j2").read_bytes()
        if "sha256:" + hashlib.sha256(raw).hexdigest() != prompt.content_hash:
            raise PromptError(f"prompt {prompt.ref} changed on disk while it was being read")
        return raw.decode("utf-8")

    def resolve(self, ref: str | PromptRef) -> PromptTemplate:
        """The prompt a `NAME`, `NAME@VERSION` or `NAME@LABEL` reference names (bare `NAME`: `production`)."""
        parsed = parse_prompt_ref(ref) if isinstance(ref, str) else ref
        if parsed.version is not None:
            return self.load(parsed.name, version=parsed.version)
        return self.load(parsed.name, label=parsed.label or DEFAULT_LABEL)

    def versions_of(self, name: str) -> list[PromptTemplate]:
        """Every version of one prompt, oldest first, each loaded (and so checked) as `load` would."""
        directory = self.templates_dir / name
        if not NAME_PATTERN.fullmatch(name) or not directory.is_dir():
            raise PromptError(f"there is no prompt {name!r}")
        versions = [self.load(name, version=path.stem.removeprefix("v")) for path in directory.glob("v*.j2")]
        return sorted(versions, key=lambda prompt: int(prompt.version))

    def list(self) -> list[PromptListing]:
        """Every prompt under `templates/`, by name, with its versions and labels."""
        book = self.labels()
        return (
            [
                PromptListing(
                    name=directory.name,
                    versions=tuple(self.versions_of(directory.name)),
                    labels=book.labels_of(directory.name),
                )
                for directory in sorted(path for path in self.templates_dir.iterdir() if path.is_dir())
            ]
            if self.templates_dir.is_dir()
            else []
        )
