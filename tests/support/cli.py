"""The `signoff` CLI in process, configured only through the environment, as a user would configure it.

Shared by the CLI tests of every package (tests/api, tests/prompts, tests/evals). The `signoff` fixture
(tests/conftest.py) gives each test an empty database of each backend and the offline model.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from signoff.agent.store.engine import create_engine, create_session_factory
from signoff.api.cli import cli
from signoff.api.settings import Settings
from tests.agent.helpers import crm_contact_count

__all__ = ["AMBIENT_SETTINGS", "CLI_USER", "Signoff", "cli_env"]

# getpass.getuser() reads LOGNAME first, so the default principal `cli:<user>` is the same on every machine.
CLI_USER = "tester"


def _ambient_settings() -> dict[str, str | None]:
    # Every setting the CLI reads, derived from `Settings` so a new one can never leak in from the
    # developer's shell; None removes a variable for the invocation.
    names = {f"SIGNOFF_{name.upper()}" for name in Settings.model_fields}
    names |= {"ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "LOGFIRE_TOKEN"}
    return dict.fromkeys(sorted(names))


AMBIENT_SETTINGS: dict[str, str | None] = _ambient_settings()


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


@dataclass(frozen=True, kw_only=True)
class Signoff:
    """The CLI bound to one test's environment. `prefix` comes before every command's arguments."""

    env: Mapping[str, str | None]
    database_url: str
    data_dir: Path
    prefix: tuple[str, ...] = ()

    def invoke(self, *args: str) -> Result:
        return CliRunner().invoke(cli, [*self.prefix, *args], env=dict(self.env), prog_name="signoff")

    def _command(self, args: tuple[str, ...]) -> str:
        return " ".join(("signoff", *self.prefix, *args))

    def ok(self, *args: str) -> str:
        """Stdout of a command that must succeed."""
        result = self.invoke(*args)
        assert result.exit_code == 0, f"{self._command(args)} exited {result.exit_code}:\n{result.output}"
        assert result.exception is None
        assert result.stderr == ""
        return result.stdout

    def json(self, *args: str) -> Any:
        """The parsed `--json` output of a command that must succeed (stdout holds nothing but the JSON)."""
        return json.loads(self.ok(*args, "--json"))

    def fails(self, *args: str, exit_code: int = 1) -> list[str]:
        """The stderr lines of a command that must fail cleanly: the exit code, no traceback, nothing on stdout."""
        result = self.invoke(*args)
        assert result.exit_code == exit_code, f"{self._command(args)} exited {result.exit_code}:\n{result.output}"
        assert isinstance(result.exception, SystemExit), f"crashed: {result.exception!r}"
        assert "Traceback" not in result.output
        assert result.stdout == ""
        return result.stderr.splitlines()

    def error(self, *args: str) -> str:
        """The message of a command refused with exit status 1: exactly one line, `Error: ...`."""
        lines = self.fails(*args, exit_code=1)
        assert len(lines) == 1, lines
        assert lines[0].startswith("Error: ")
        return lines[0].removeprefix("Error: ")

    def usage_error(self, *args: str) -> str:
        """The message of a command click refuses as bad usage (exit status 2): the last line, after the usage."""
        lines = self.fails(*args, exit_code=2)
        assert lines[0].startswith("Usage: signoff ")
        assert lines[-1].startswith("Error: ")
        return lines[-1].removeprefix("Error: ")

    def with_env(self, **env: str) -> Signoff:
        """The same CLI and database with more settings in the environment."""
        return replace(self, env={**self.env, **env})

    def crm_contacts(self) -> int:
        """How many contacts the offline CRM holds (read from the database directly: no command shows them)."""

        async def count() -> int:
            engine = create_engine(self.database_url)
            try:
                return await crm_contact_count(create_session_factory(engine))
            finally:
                await engine.dispose()

        return asyncio.run(count())
