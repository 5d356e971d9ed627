"""`signoff dev fake-anthropic` starts a double in the foreground that the SDK can talk to."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anthropic
import pytest
from click.testing import CliRunner

from signoff.api.cli import cli
from signoff.api.cli_dev import UNSCRIPTED_REPLY
from tests.anthropic_double.support import MODEL, sdk_client, user

SIGNOFF = Path(sys.executable).parent / "signoff"
STARTUP_SECONDS = 30  # importing the CLI loads the whole service; a loaded CI machine is slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_double(*arguments: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [str(SIGNOFF), "dev", "fake-anthropic", "--port", str(port), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=STARTUP_SECONDS)
        # uvicorn shuts down cleanly, then re-raises the signal it caught (so the exit says what stopped it).
        assert process.returncode in (0, -signal.SIGTERM), output
        assert "Finished server process" in output
        assert f"set ANTHROPIC_BASE_URL=http://127.0.0.1:{port}" in output


async def first_answer(base_url: str) -> anthropic.types.Message:
    """Ask until the server is up (connection refused until it listens), then return its answer."""
    async with sdk_client(base_url) as client:
        for _ in range(STARTUP_SECONDS * 10):
            try:
                return await client.messages.create(model=MODEL, max_tokens=100, messages=[user("hello")])
            except anthropic.APIConnectionError:
                await asyncio.sleep(0.1)
    raise AssertionError(f"the double at {base_url} never answered")


@pytest.mark.slow
async def test_the_cli_serves_the_double_until_terminated() -> None:
    with running_double() as base_url:
        answer = await first_answer(base_url)
    assert answer.content[0].type == "text" and answer.content[0].text == UNSCRIPTED_REPLY.text


@pytest.mark.slow
async def test_the_cli_answers_from_a_script_file(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"tool_uses": [{"name": "get_contact", "input": {"email": "ada@example.com"}}]}]))
    with running_double("--script", str(script)) as base_url:
        answer = await first_answer(base_url)
    (tool_use,) = answer.content
    assert tool_use.type == "tool_use" and (tool_use.name, tool_use.input) == (
        "get_contact",
        {"email": "ada@example.com"},
    )
    assert answer.stop_reason == "tool_use"


def test_a_bad_script_file_is_a_one_line_error(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text('[{"text": "hi", "tool_uses": [{"input": {}}]}]')
    result = CliRunner().invoke(cli, ["dev", "fake-anthropic", "--port", "1", "--script", str(script)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: the script {str(script)!r} is not a list of replies: 0.tool_uses.0.name: Field required\n"
    )
