"""SIGNOFF_GUARD: the CLI and the service on a developer's own guarded agent, instead of packs."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import pytest

from signoff.api.runtime import load_guard
from signoff.api.settings import Settings
from tests.support.cli import Signoff

_names = itertools.count()

GUARD_MODULE = '''
from decimal import Decimal
from pathlib import Path

from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import FunctionModel

import signoff

HERE = Path(__file__).parent


def model(messages, info):
    returns = [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)]
    if not returns:
        return ModelResponse(parts=[ToolCallPart("close_ticket", {{"ticket_id": "T-7"}})])
    return ModelResponse(parts=[TextPart(str(returns[-1].content))])


agent = Agent(FunctionModel(model), name="helpdesk")


@agent.tool_plain(requires_approval=True)
async def close_ticket(ticket_id: str) -> str:
    """Close a ticket."""
    (HERE / "closed.txt").open("a").write(ticket_id + "\\n")
    return f"closed {{ticket_id}}"


guard = signoff.Guard("sqlite+aiosqlite:///{database}", ledger_spool_path=HERE / "spool.jsonl")
guard.bind(agent)
'''


def _guard_module(directory: Path) -> str:
    """Writes a module with a guarded agent into `directory`; its `module:attribute` reference."""
    name = f"helpdesk_guard_{next(_names)}"
    (directory / f"{name}.py").write_text(textwrap.dedent(GUARD_MODULE.format(database=directory / "guard.db")))
    return f"{name}:guard"


@pytest.fixture
def guarded(signoff: Signoff, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Signoff, Path]:
    monkeypatch.chdir(tmp_path)  # the module is imported from where the command runs, as for uvicorn
    reference = _guard_module(tmp_path)
    return signoff.with_env(SIGNOFF_GUARD=reference, SIGNOFF_DATABASE_URL=None), tmp_path  # type: ignore[arg-type]


def test_the_cli_runs_and_approves_the_guards_agent(guarded: tuple[Signoff, Path]) -> None:
    cli, directory = guarded
    assert "close_ticket" in cli.ok("tools")
    started = cli.json("run", "close ticket T-7")
    assert started["status"] == "awaiting_approval"
    assert not (directory / "closed.txt").exists()
    [approval_id] = started["pending_approval_ids"]
    cli.ok("approve", approval_id)
    assert (directory / "closed.txt").read_text() == "T-7\n"  # resumed by the CLI, run once
    [run] = cli.json("runs")
    assert run["status"] == "completed"


def test_a_guard_that_does_not_load_is_one_line(
    signoff: Signoff, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cli = signoff.with_env(SIGNOFF_DATABASE_URL=None)  # type: ignore[arg-type]
    assert "'no_such_module' does not import" in cli.with_env(SIGNOFF_GUARD="no_such_module:guard").error("serve")
    assert cli.with_env(SIGNOFF_GUARD="json:dumps").error("serve") == (
        "SIGNOFF_GUARD 'json:dumps': 'dumps' in 'json' is a function, not a signoff.Guard"
    )
    assert "must be module:attribute" in cli.with_env(SIGNOFF_GUARD="refunds").error("serve")


def test_a_guard_with_packs_or_its_own_database_set_twice_is_refused() -> None:
    with pytest.raises(
        ValueError, match="SIGNOFF_GUARD brings its own tools, policy and database; unset SIGNOFF_PACKS"
    ):
        Settings(guard="refunds:guard", packs=["sales"])
    with pytest.raises(ValueError, match="unset SIGNOFF_DATABASE_URL, SIGNOFF_POLICY_FILE"):
        Settings(guard="refunds:guard", database_url="sqlite+aiosqlite:///x.db", policy_file=Path("p.toml"))


def test_load_guard_imports_from_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    guard = load_guard(_guard_module(tmp_path))
    assert guard.database_url == f"sqlite+aiosqlite:///{tmp_path / 'guard.db'}"
    guard.check()  # the agent's tools are described; nothing is stored yet
    assert not (tmp_path / "guard.db").exists()
