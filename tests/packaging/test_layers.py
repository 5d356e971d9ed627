"""Only the edges read the environment: no module outside api/ touches `os.environ` or `os.getenv`.

The layers themselves (arrows point down, the core never imports a pack) are import-linter contracts in
pyproject.toml, checked by `lint-imports` in CI; this is the rule import-linter cannot see.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_LAYERS_BELOW_THE_EDGES = ("agent", "tools", "policies", "prompts", "evals")


def _environment_reads(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb", "putenv"):
            found.append(f"{path.relative_to(root)}:{node.lineno}: os.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found.extend(
                f"{path.relative_to(root)}:{node.lineno}: from os import {alias.name}"
                for alias in node.names
                if alias.name in ("environ", "getenv", "environb", "putenv")
            )
    return found


def test_only_api_reads_the_environment() -> None:
    reads = [
        read
        for layer in _LAYERS_BELOW_THE_EDGES
        for path in sorted((ROOT / layer).rglob("*.py"))
        for read in _environment_reads(path)
    ]
    assert reads == []


def test_the_scan_finds_an_environment_read(tmp_path: Path) -> None:
    sample = tmp_path / "reads.py"
    sample.write_text(
        'import os\nfrom os import getenv\nKEY = os.environ.get("KEY")\nNOTE = "os.environ in a string"\n'
    )
    found = sorted(_environment_reads(sample, tmp_path))
    assert found == ["reads.py:2: from os import getenv", "reads.py:3: os.environ"]
