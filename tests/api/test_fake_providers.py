"""`signoff dev fake-providers` and `signoff providers check`, as a person trying the product would use them.

The slow tests start `signoff dev fake-providers` as a real process, read the pack options it prints, and
run other `signoff` processes with them: the real vendor clients talk to the doubles over real sockets,
and what they did is read from the commands' own output (credential checks, tool results, the ledger),
never from inside the doubles' process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from signoff.api.cli import cli
from signoff.tools.sales.demo_model import DEMO_TASKS
from tests.support.cli import Signoff, cli_env

BIN = Path(sys.executable).parent
# Each `signoff` process imports the whole service; on a loaded two-core machine that alone takes seconds.
COMMAND_TIMEOUT = 120
STARTUP_TIMEOUT = 60.0
# SIGTERM or Ctrl-C must stop the doubles this quickly (uvicorn's graceful shutdown is 1 s per double).
STOP_SECONDS = 8.0
WRONG_TOKEN = "pat-na1-wrong-canary-7f3a9c51d2"
SERVICES = ["explorium", "hubspot", "lemlist", "smtp"]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The developer's environment without any Signoff or Anthropic setting, on its own data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNOFF_", "ANTHROPIC_", "LOGFIRE_"))}
    return env | {"SIGNOFF_DATA_DIR": str(data_dir), "ANTHROPIC_API_KEY": "", "LOGNAME": "tester", **extra}


def _popen(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "signoff"), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finished(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT)
    return process.returncode, stdout, stderr


@dataclass(frozen=True, kw_only=True)
class FakeProviders:
    """A running `signoff dev fake-providers` and the pack options it printed."""

    process: subprocess.Popen[bytes]
    pack_options: dict[str, dict[str, str]]
    stderr_path: Path

    def stop(self, signum: signal.Signals) -> tuple[int, float]:
        """Send `signum`; the exit code and how long the process took to end."""
        sent = time.monotonic()
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=STOP_SECONDS * 4)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        return code, time.monotonic() - sent


def _start_fake_providers(directory: Path) -> FakeProviders:
    directory.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = directory / "stdout.txt", directory / "stderr.txt"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [str(BIN / "signoff"), "dev", "fake-providers", "--json"],
            env=_env(directory / "data"),
            stdout=stdout,
            stderr=stderr,
        )
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not stdout_path.read_text().endswith("\n"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"fake-providers printed no line (exit {process.poll()}):\n{stderr_path.read_text()}")
        time.sleep(0.1)
    [line] = stdout_path.read_text().splitlines()  # exactly one line, and nothing but the JSON object
    printed = json.loads(line)
    assert list(printed) == ["pack_options"]
    return FakeProviders(process=process, pack_options=printed["pack_options"], stderr_path=stderr_path)


@pytest.fixture(scope="module")
def fake_providers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeProviders]:
    """One `signoff dev fake-providers` for the module; stopped with Ctrl-C (SIGINT) at the end, exit 0."""
    running = _start_fake_providers(tmp_path_factory.mktemp("fake-providers"))
    try:
        yield running
    finally:
        if running.process.poll() is None:
            code, took = running.stop(signal.SIGINT)
            assert (code, took < STOP_SECONDS) == (0, True), running.stderr_path.read_text()


def _with_options(directory: Path, pack_options: dict[str, dict[str, str]]) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    return _env(directory, SIGNOFF_PACK_OPTIONS=json.dumps(pack_options))


@pytest.mark.slow
def test_every_fake_credential_checks_out_and_a_wrong_token_fails_without_being_shown(
    fake_providers: FakeProviders, tmp_path: Path
) -> None:
    options = fake_providers.pack_options
    assert list(options) == ["sales"]
    sales = options["sales"]
    assert sales["smtp_starttls"] == "false"
    assert sales["unsubscribe_url"].startswith("https://")
    for name in ("hubspot_base_url", "explorium_base_url", "lemlist_base_url"):
        assert urlsplit(sales[name]).hostname == "127.0.0.1"
    # The human hints name where each double listens, on stderr only.
    hints = fake_providers.stderr_path.read_text()
    assert f"hubspot    {sales['hubspot_base_url']}" in hints
    assert f"smtp       127.0.0.1:{sales['smtp_port']}" in hints
    assert "Ctrl-C to stop" in hints

    wrong = {"sales": {**sales, "hubspot_token": WRONG_TOKEN}}
    good = _popen(_with_options(tmp_path / "good", options), "providers", "check")
    bad = _popen(_with_options(tmp_path / "bad", wrong), "providers", "check", "--json")

    code, stdout, stderr = _finished(good)
    assert code == 0, stderr
    rows = [line.split(maxsplit=2) for line in stdout.splitlines()[2:]]  # under the header and its rule
    assert [(service, ok) for service, ok, _ in rows] == [(service, "yes") for service in SERVICES]

    code, stdout, stderr = _finished(bad)
    assert code == 1, stderr
    checks: list[dict[str, Any]] = json.loads(stdout)
    assert [(check["service"], check["ok"]) for check in checks] == [
        ("explorium", True),
        ("hubspot", False),
        ("lemlist", True),
        ("smtp", True),
    ]
    [hubspot] = [check for check in checks if check["service"] == "hubspot"]
    assert hubspot["detail"] == "credentials refused (HTTP 401: INVALID_AUTHENTICATION); check the settings"
    assert WRONG_TOKEN not in stdout + stderr
    # Nor any fragment long enough to be worth guessing from.
    assert WRONG_TOKEN[-12:] not in stdout + stderr


@pytest.mark.slow
def test_the_demo_runs_against_the_doubles(fake_providers: FakeProviders, tmp_path: Path) -> None:
    demo_env = _with_options(tmp_path / "demo", fake_providers.pack_options)
    lookup_env = _with_options(tmp_path / "lookup", fake_providers.pack_options)
    demo = _popen(demo_env, "run", DEMO_TASKS[0], "--json")
    # Only the HubSpot double knows ana@acme.io (the offline CRM starts empty), with her owner.
    lookup = _popen(lookup_env, "run", "look up ana@acme.io in the CRM and summarise her notes", "--json")

    code, stdout, stderr = _finished(demo)
    assert code == 0, stderr
    outcome = json.loads(stdout)
    assert outcome["status"] == "awaiting_approval"  # the CRM write waits for a person; the reads ran
    # Paused before the CRM write, after the reads: the leads and their enrichments were bought.
    assert [(effect["tool"], effect["outcome"]) for effect in outcome["outcome"]["effects"]] == [
        ("sync_contacts_to_crm", "awaiting_approval")
    ]
    costs = _popen(demo_env, "costs", "--by", "provider", "--json")
    code, stdout, stderr = _finished(costs)
    assert code == 0, stderr
    lines = {line["group"]: line for line in json.loads(stdout)}
    # The offline providers cost nothing: charges for Explorium mean the leads and their enrichments were
    # bought from its double (one charged call each: discover_leads and enrich_contacts).
    explorium = lines["provider:explorium"]
    assert Decimal(explorium["provider_cost_usd"]) > 0
    assert explorium["provider_calls"] == 2

    code, stdout, stderr = _finished(lookup)
    assert code == 0, stderr
    looked_up = json.loads(stdout)
    assert looked_up["status"] == "completed"
    assert "maya@signoff-sales.example" in looked_up["output"]


def _refuses_connections(base_url: str) -> bool:
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    except OSError:
        return True
    return False


@pytest.mark.slow
def test_sigterm_stops_the_doubles_cleanly(tmp_path: Path) -> None:
    running = _start_fake_providers(tmp_path / "sigterm")
    sales = running.pack_options["sales"]
    assert not _refuses_connections(sales["hubspot_base_url"])

    code, took = running.stop(signal.SIGTERM)

    assert code == 0, running.stderr_path.read_text()
    assert took < STOP_SECONDS
    assert running.stderr_path.read_text().rstrip().endswith("fake providers stopped")
    addresses = [sales[name] for name in ("hubspot_base_url", "explorium_base_url", "lemlist_base_url")]
    addresses.append(f"smtp://{sales['smtp_host']}:{sales['smtp_port']}")
    assert [address for address in addresses if not _refuses_connections(address)] == []


# --- fast, in process -----------------------------------------------------------------------------


def test_without_a_pack_that_has_fake_providers_it_says_so_and_exits_1(tmp_path: Path) -> None:
    # Under SIGNOFF_GUARD the guard's agent brings the tools: no pack is enabled.
    env = cli_env(tmp_path, None) | {"SIGNOFF_GUARD": "my_agent:guard"}
    result = CliRunner().invoke(cli, ["dev", "fake-providers"], env=env, prog_name="signoff")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "Error: no enabled pack has fake providers; enabled packs: none (SIGNOFF_GUARD brings its own tools)"
    ]


def test_providers_check_with_nothing_configured_says_the_offline_providers_are_used(signoff: Signoff) -> None:
    assert signoff.ok("providers", "check").strip() == (
        "no vendor credentials are configured: the sales pack uses its offline providers"
    )
    assert signoff.json("providers", "check") == []
