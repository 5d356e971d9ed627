"""kill -9 of `signoff serve` with work in every state, then a restart: the new server settles it all by itself.

A real server process on a guarded agent (SIGNOFF_GUARD) with three runs when it dies: one executing an
approved call (a slow tool, caught mid-way), one whose call a person approved while the server was down
(approved, not started), and one waiting for a person. The restarted server takes them over from the dead
worker at once (same host, its process is gone) and, within seconds, with nobody running
`signoff recover`: the executing call is `unknown` (never run again), the approved call runs exactly once,
the waiting run still waits for its person.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.conftest import BACKENDS, POSTGRES_URL, reset_postgres
from tests.support.serve import free_port, wait_until_ready

pytestmark = pytest.mark.slow

T = TypeVar("T")

GUARD_MODULE = '''
import asyncio
import re
from pathlib import Path

from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import FunctionModel

import signoff

HERE = Path(__file__).parent
EFFECTS = HERE / "effects.log"


def model(messages, info):
    returns = [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)]
    if returns:
        return ModelResponse(parts=[TextPart(f"done: {{returns[-1].content}}")])
    task = next(p.content for m in messages for p in m.parts if isinstance(p, UserPromptPart))
    tool = "slow_effect" if "slow" in str(task) else "quick_effect"
    key = re.search(r"effect (\\w+)", str(task)).group(1)
    return ModelResponse(parts=[ToolCallPart(tool, {{"key": key}})])


agent = Agent(FunctionModel(model), name="effects")


@agent.tool_plain(requires_approval=True)
async def slow_effect(key: str) -> str:
    """An effect that takes a while."""
    with EFFECTS.open("a") as log:
        log.write(f"start {{key}}\\n")
    if "postgresql" in DATABASE:
        # Blocked in a database statement, the hardest thing to cancel at shutdown.
        import asyncpg
        connection = await asyncpg.connect(DATABASE.replace("+asyncpg", ""))
        try:
            await connection.execute("SELECT pg_sleep(120)")
        finally:
            await connection.close()
    else:
        await asyncio.sleep(120)
    with EFFECTS.open("a") as log:
        log.write(f"done {{key}}\\n")
    return key


@agent.tool_plain(requires_approval=True)
async def quick_effect(key: str) -> str:
    """An effect that is over at once."""
    with EFFECTS.open("a") as log:
        log.write(f"quick {{key}}\\n")
    return key


DATABASE = "{database}"
guard = signoff.Guard(DATABASE, ledger_spool_path=HERE / "spool.jsonl")
guard.bind(agent)
'''


def _env(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    env |= {
        "SIGNOFF_GUARD": "effects_guard:guard",
        "SIGNOFF_DATA_DIR": str(directory / "data"),
        "ANTHROPIC_API_KEY": "",
        "PYTHONPATH": str(directory),
        "SIGNOFF_ALLOW_SELF_APPROVAL": "true",
    }
    return env


def _signoff(directory: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "signoff.api.cli", *args],
        cwd=directory,
        env=_env(directory),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _serve(directory: Path, port: int, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "signoff.api.cli", "serve", "--port", str(port)],
        cwd=directory,
        env=_env(directory) | env,
        stdout=subprocess.DEVNULL,
        stderr=(directory / f"serve-{port}.log").open("wb"),
    )


def _wait(predicate: Callable[[], T | bool | None], *, seconds: float, what: str) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value  # type: ignore[return-value]
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds:g} s: {what}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_restarted_server_settles_what_a_killed_one_left(backend: str, tmp_path: Path) -> None:
    if backend == "postgresql":
        assert POSTGRES_URL is not None
        asyncio.run(reset_postgres(POSTGRES_URL))
        database = POSTGRES_URL
    else:
        database = f"sqlite+aiosqlite:///{tmp_path / 'effects.db'}"
    (tmp_path / "effects_guard.py").write_text(textwrap.dedent(GUARD_MODULE.format(database=database)))
    effects = tmp_path / "effects.log"
    [key] = re.findall(
        r"sk-signoff-\S+", _signoff(tmp_path, "keys", "create", "ana", "--role", "requester", "--role", "approver")
    )
    headers = {"Authorization": f"Bearer {key}"}

    first_port = free_port()
    first = _serve(tmp_path, first_port)
    try:
        base = f"http://127.0.0.1:{first_port}"
        wait_until_ready(base)
        client = httpx.Client(base_url=base, headers=headers, timeout=30)

        def start(task: str) -> tuple[str, str]:
            run_id = client.post("/v1/tasks", json={"message": task}).json()["run_id"]
            run = _wait(
                lambda: (r := client.get(f"/v1/runs/{run_id}").json())["status"] == "awaiting_approval" and r,
                seconds=20,
                what=f"{task!r} waits for approval",
            )
            return run_id, run["pending_approvals"][0]["approval_id"]

        slow_run, slow_approval = start("run the slow effect S")
        approved_run, approved_approval = start("run the quick effect A")
        waiting_run, _waiting_approval = start("run the quick effect W")
        decided = client.post(f"/v1/approvals/{slow_approval}/decision", json={"decision": "approve"})
        assert decided.status_code == 200, decided.text
        _wait(lambda: effects.exists() and "start S" in effects.read_text(), seconds=20, what="the slow call runs")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    # While no server runs, a person approves another call (the CLI, told not to drive the run itself).
    _signoff(tmp_path, "approve", approved_approval, "--no-resume")

    second_port = free_port()
    second = _serve(tmp_path, second_port)
    try:
        base = f"http://127.0.0.1:{second_port}"
        wait_until_ready(base)
        restarted = time.monotonic()
        client = httpx.Client(base_url=base, headers=headers, timeout=30)

        def settled() -> dict[str, dict[str, Any]] | None:
            runs = {run_id: client.get(f"/v1/runs/{run_id}").json() for run_id in (slow_run, approved_run, waiting_run)}
            if runs[slow_run]["status"] in ("running",) or runs[approved_run]["status"] != "completed":
                return None
            return runs

        runs = _wait(settled, seconds=10, what="every stranded run settled")
        took = time.monotonic() - restarted
        states = {
            approval_id: client.get(f"/v1/approvals/{approval_id}").json()["state"]
            for approval_id in (slow_approval, approved_approval)
        }
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    assert states[slow_approval] == "unknown"  # caught mid-way: never run again
    assert runs[slow_run]["status"] in ("completed", "failed")
    assert [c["status"] for c in runs[slow_run]["tool_calls"]] == ["unknown"]
    assert states[approved_approval] == "executed"
    assert runs[waiting_run]["status"] == "awaiting_approval"  # still a person's to decide
    lines = effects.read_text().splitlines()
    assert lines.count("start S") == 1 and "done S" not in lines
    assert lines.count("quick A") == 1 and "quick W" not in lines
    print(json.dumps({"backend": backend, "settled_after_restart_s": round(took, 2)}))


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigterm_with_an_open_event_stream_stops_within_the_grace_and_hands_the_run_over(
    backend: str, tmp_path: Path
) -> None:
    # On PostgreSQL the executing call is blocked in a database statement (pg_sleep) when SIGTERM comes.
    if backend == "postgresql":
        assert POSTGRES_URL is not None
        asyncio.run(reset_postgres(POSTGRES_URL))
        database = POSTGRES_URL
    else:
        database = f"sqlite+aiosqlite:///{tmp_path / 'effects.db'}"
    (tmp_path / "effects_guard.py").write_text(textwrap.dedent(GUARD_MODULE.format(database=database)))
    created = _signoff(tmp_path, "keys", "create", "ana", "--role", "requester", "--role", "approver")
    [key] = re.findall(r"sk-signoff-\S+", created)
    headers = {"Authorization": f"Bearer {key}"}
    port = free_port()
    server = _serve(tmp_path, port, SIGNOFF_SHUTDOWN_GRACE_SECONDS="1")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base)
        client = httpx.Client(base_url=base, headers=headers, timeout=30)
        run_id = client.post("/v1/tasks", json={"message": "run the slow effect T"}).json()["run_id"]
        approval_id = _wait(
            lambda: (
                (r := client.get(f"/v1/runs/{run_id}").json())["pending_approvals"]
                and r["pending_approvals"][0]["approval_id"]
            ),
            seconds=20,
            what="the run waits for approval",
        )
        client.post(f"/v1/approvals/{approval_id}/decision", json={"decision": "approve"})
        effects = tmp_path / "effects.log"
        _wait(lambda: effects.exists() and "start T" in effects.read_text(), seconds=20, what="the slow call runs")
        # An event stream stays open until the client goes: it must not hold the shutdown.
        stream = httpx.Client(base_url=base, headers=headers, timeout=None)
        with stream.stream("GET", f"/v1/runs/{run_id}/events") as events:
            assert events.status_code == 200
            stopping = time.monotonic()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=20)
            took = time.monotonic() - stopping
    finally:
        if server.poll() is None:
            server.kill()
    assert took < 15, f"SIGTERM took {took:.1f} s"
    # The executing call was cancelled after the grace: its effect may have happened, so it is unknown.
    state = json.loads(_signoff(tmp_path, "approvals", "--all", "--json"))[0]["state"]
    assert state == "unknown"
    assert "done T" not in (tmp_path / "effects.log").read_text()


def test_a_killed_cli_process_doing_work_is_taken_over_by_the_running_server(tmp_path: Path) -> None:
    """`signoff approve` drives the run it approves; killed mid-call, the running server takes the run over."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'effects.db'}"
    (tmp_path / "effects_guard.py").write_text(textwrap.dedent(GUARD_MODULE.format(database=database)))
    created = _signoff(tmp_path, "keys", "create", "ana", "--role", "requester", "--role", "approver")
    [key] = re.findall(r"sk-signoff-\S+", created)
    started = json.loads(_signoff(tmp_path, "run", "run the slow effect C", "--json"))
    [approval_id] = started["pending_approval_ids"]
    port = free_port()
    server = _serve(tmp_path, port)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_ready(base)
        approving = subprocess.Popen(
            [sys.executable, "-m", "signoff.api.cli", "approve", approval_id],
            cwd=tmp_path,
            env=_env(tmp_path),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        effects = tmp_path / "effects.log"
        _wait(lambda: effects.exists() and "start C" in effects.read_text(), seconds=30, what="the CLI runs the call")
        approving.send_signal(signal.SIGKILL)
        approving.wait(timeout=10)
        killed = time.monotonic()
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        state = _wait(
            lambda: (s := client.get(f"/v1/approvals/{approval_id}").json()["state"]) == "unknown" and s,
            seconds=10,
            what="the server settles the call the CLI was running",
        )
        took = time.monotonic() - killed
        # The run is the CLI user's (the key reads approvals, not other people's runs): ask the CLI.
        run = _wait(
            lambda: (
                (r := json.loads(_signoff(tmp_path, "show", started["run_id"], "--json")))["status"] != "running" and r
            ),
            seconds=10,
            what="the run moves on",
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert state == "unknown" and run["status"] in ("completed", "failed")
    assert effects.read_text().splitlines().count("start C") == 1
    print(json.dumps({"cli_killed_settled_after_s": round(took, 2)}))
