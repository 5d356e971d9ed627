"""`signoff prompts` in process, on a copy of the prompts directory and an empty database of each backend."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from agent.store.engine import SessionFactory, create_engine, create_session_factory
from agent.store.migrate import upgrade_database
from api.cli import cli
from evals.records import EvalRunRecord, record_eval_run
from prompts import PromptRegistry

# getpass.getuser() reads LOGNAME first, so the default principal is `cli:tester` on every machine.
CLI_USER = "tester"

# Settings the CLI would otherwise pick up from the developer's shell; None removes them.
AMBIENT_SETTINGS: dict[str, str | None] = {
    name: None
    for name in (
        "SIGNOFF_DATABASE_URL",
        "SIGNOFF_MODEL",
        "SIGNOFF_POLICY_FILE",
        "SIGNOFF_PROMPT_LABEL",
        "SIGNOFF_LOGFIRE_TOKEN",
        "LOGFIRE_TOKEN",
    )
}


@dataclass(frozen=True, kw_only=True)
class PromptsCli:
    """The CLI bound to one test's prompts copy and database."""

    registry: PromptRegistry
    env: dict[str, str | None]
    database_url: str

    def invoke(self, *args: str) -> Result:
        return CliRunner().invoke(
            cli, ["prompts", "--dir", str(self.registry.root), *args], env=self.env, prog_name="signoff"
        )

    def ok(self, *args: str) -> str:
        """Stdout of a command that must succeed."""
        result = self.invoke(*args)
        assert result.exit_code == 0, f"signoff prompts {' '.join(args)} exited {result.exit_code}:\n{result.output}"
        assert result.stderr == ""
        return result.stdout

    def json(self, *args: str) -> Any:
        """The parsed `--json` output of a command that must succeed."""
        return json.loads(self.ok(*args, "--json"))

    def error(self, *args: str) -> str:
        """The one-line message of a command refused with exit status 1 (no traceback, nothing on stdout)."""
        result = self.invoke(*args)
        assert result.exit_code == 1, f"signoff prompts {' '.join(args)} exited {result.exit_code}:\n{result.output}"
        assert isinstance(result.exception, SystemExit), f"crashed: {result.exception!r}"
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("Error: ")
        return lines[0].removeprefix("Error: ")

    def record(self, record: EvalRunRecord) -> None:
        """Store an evaluation run in this CLI's database, as `signoff eval run` would."""

        async def store() -> None:
            engine = create_engine(self.database_url)
            try:
                await upgrade_database(engine)
                sessions: SessionFactory = create_session_factory(engine)
                await record_eval_run(sessions, record)
            finally:
                await engine.dispose()

        asyncio.run(store())


def cli_env(data_dir: Path, database_url: str | None) -> dict[str, str | None]:
    """The environment of one CLI test: its own data directory and database, the offline model."""
    env: dict[str, str | None] = {
        **AMBIENT_SETTINGS,
        "SIGNOFF_DATA_DIR": str(data_dir),
        "ANTHROPIC_API_KEY": "",
        "LOGNAME": CLI_USER,
    }
    if database_url is not None:
        env["SIGNOFF_DATABASE_URL"] = database_url
    return env
