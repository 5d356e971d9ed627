"""The built wheel claims only the `signoff` import name, and installs beside a project with its own
`tools`, `api` and `agent` packages without shadowing them (or being shadowed)."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OWNER_FOLDERS = ("agent", "tools", "policies", "prompts", "api", "evals")


def _packages_on_disk() -> set[str]:
    """Every regular package under the owner's folders, as its installed `signoff.` name."""
    found = {"signoff"}
    for folder in OWNER_FOLDERS:
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT)
            if "migrations" in relative.parts:
                continue
            found.add("signoff." + ".".join(relative.parts))
    return found


def test_the_build_configuration_names_every_package() -> None:
    configured = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert set(configured) == _packages_on_disk()


def test_every_folder_with_modules_is_a_regular_package() -> None:
    """A folder of modules without __init__.py would be left out of the wheel."""
    for folder in OWNER_FOLDERS:
        for module in (ROOT / folder).rglob("*.py"):
            if "migrations" in module.parts:
                continue
            assert (module.parent / "__init__.py").is_file(), f"{module.parent} has modules but no __init__.py"


def test_no_module_imports_the_old_top_level_names() -> None:
    """Inside the repository the root is on the path, so `import agent` would work in tests and fail
    installed; the source is checked instead."""
    offenders: list[str] = []
    sources = [ROOT / "__init__.py"] + [p for f in (*OWNER_FOLDERS, "bench", "tests") for p in (ROOT / f).rglob("*.py")]
    for path in sources:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            offenders += [f"{where}: {name}" for name in names if name.split(".")[0] in OWNER_FOLDERS]
    assert offenders == []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("signoff-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_has_one_top_level_name(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"signoff"}
    # The data a runtime needs travels with the code.
    for needed in (
        "signoff/py.typed",
        "signoff/agent/store/migrations/env.py",
        "signoff/policies/default_policy.toml",
        "signoff/tools/sales/prompts/templates/sales_agent/v1.j2",
        "signoff/tools/sales/prompts/released.toml",
        "signoff/api/templates/inbox/base.html",
    ):
        assert needed in names


USER_PROJECT = {
    "tools/__init__.py": "OWNER = 'user tools'\n",
    "api/__init__.py": "OWNER = 'user api'\n",
    "agent/__init__.py": "OWNER = 'user agent'\n",
    "check.py": """
import importlib, pkgutil
import agent, api, tools
import signoff
assert (agent.OWNER, api.OWNER, tools.OWNER) == ("user agent", "user api", "user tools")
for module in pkgutil.walk_packages(signoff.__path__, "signoff."):
    importlib.import_module(module.name)
from signoff.agent.runtime import build_runtime
print("ok", signoff.__name__, agent.OWNER)
""",
}


@pytest.mark.slow
def test_a_project_with_its_own_tools_api_and_agent_imports_both(wheel: Path, tmp_path: Path) -> None:
    """The wheel goes into a venv that sees this environment's dependencies but not the repository."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The dependencies come from this environment's site-packages as a plain path entry: its .pth files
    # (among them the editable install's import hook for the repository) are not run, so only the
    # installed wheel can answer `import signoff`.
    outer_site = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "pydantic_ai").is_dir())
    (Path(site) / "outer_dependencies.pth").write_text(outer_site + "\n")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    project = tmp_path / "project"
    for relative, text in USER_PROJECT.items():
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / relative).write_text(text)
    result = subprocess.run([python, "check.py"], cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok signoff user agent"
    located = subprocess.run(
        [python, "-c", "import signoff; print(signoff.__file__)"], cwd=project, capture_output=True, text=True
    )
    assert located.stdout.strip().startswith(site)
