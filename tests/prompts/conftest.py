"""A copy of the shipped prompts directory per test: tests move labels and alter files in the copy only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from signoff.prompts import PromptRegistry
from signoff.tools.sales.prompt_dir import SALES_PROMPTS_DIR as PROMPTS_DIR
from tests.prompts.cli_support import PromptsCli
from tests.support.cli import Signoff


@pytest.fixture
def prompts_copy(tmp_path: Path) -> PromptRegistry:
    """A registry on a fresh copy of the shipped templates, labels.toml and released.toml."""
    root = tmp_path / "prompts"
    root.mkdir()
    shutil.copytree(PROMPTS_DIR / "templates", root / "templates")
    for name in ("labels.toml", "released.toml"):
        shutil.copy2(PROMPTS_DIR / name, root / name)
    return PromptRegistry(root=root)


def write_version(registry: PromptRegistry, name: str, version: str, body: str, *, description: str = "test") -> Path:
    """Add `templates/<name>/v<version>.j2` with valid front matter to `registry`."""
    path = registry.templates_dir / name / f"v{version}.j2"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'---\nname: {name}\nversion: "{version}"\ndescription: {description}\n'
        f"model: anthropic:claude-sonnet-4-5\n---\n{body}",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def prompts_cli(signoff: Signoff, prompts_copy: PromptRegistry) -> PromptsCli:
    """`signoff prompts --dir <copy>` on an empty database of each backend."""
    signoff.data_dir.mkdir()  # tests may store evaluation runs before any command has created it
    return PromptsCli(
        env=signoff.env,
        database_url=signoff.database_url,
        data_dir=signoff.data_dir,
        prefix=("prompts", "--dir", str(prompts_copy.root)),
        registry=prompts_copy,
    )
