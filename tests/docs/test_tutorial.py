"""docs/tutorial.md, executed: its files are written, its commands run, its inbox step done over HTTP.

Every fenced block runs in order, in a scratch directory. A ```python block whose first line is
`# <name>.py` is saved as that file; each line of a ```bash block is a command. Three commands are
stand-ins: `pip install signoff` is checked rather than run (this environment has Signoff installed, and
tests/packaging proves the wheel installs into a fresh project); `signoff serve` gets a free port; and the
person's approval in step 4 is done over HTTP against that server, signing in to the inbox with the key the
tutorial's own `signoff keys create` printed.
"""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.serve import csrf_token, free_port, wait_until_ready

TUTORIAL = Path(__file__).parents[2] / "docs" / "tutorial.md"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Block:
    language: str
    text: str


def blocks(markdown: str) -> list[Block]:
    """The fenced code blocks of a markdown text, in order."""
    return [Block(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w+)\n(.*?)^```$", markdown, re.S | re.M)]


@dataclass
class Session:
    """The reader's terminal: a directory, exported variables, what each command printed."""

    cwd: Path
    env: dict[str, str]
    outputs: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    server: subprocess.Popen[bytes] | None = None
    base_url: str | None = None

    def run(self, line: str) -> None:
        words = shlex.split(line)
        if words[:2] == ["pip", "install"]:
            assert words[2:] == ["signoff"]
            import signoff  # noqa: F401 - installed: the line's effect holds

            return
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            self.env[name] = value
            return
        if words[:2] == ["signoff", "serve"]:
            port = free_port()
            self.server = subprocess.Popen(
                [str(BIN / "signoff"), *words[1:], "--port", str(port)],
                cwd=self.cwd,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.base_url = f"http://127.0.0.1:{port}"
            wait_until_ready(self.base_url)
            return
        program = {"python": sys.executable, "signoff": str(BIN / "signoff")}.get(words[0], words[0])
        done = subprocess.run(
            [program, *words[1:]], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{line!r} failed:\n{done.stdout}\n{done.stderr}"
        self.outputs.append((line, done.stdout))

    def output_of(self, line: str) -> str:
        return next(output for ran, output in self.outputs if ran == line)

    def approve_in_the_inbox(self, key: str) -> None:
        """What the tutorial asks a person to do in step 4, in the real inbox."""
        assert self.base_url is not None
        with httpx.Client(base_url=self.base_url, follow_redirects=True) as browser:
            form = browser.get("/inbox/sign-in")
            signed_in = browser.post("/inbox/sign-in", data={"csrf_token": csrf_token(form.text), "api_key": key})
            assert signed_in.status_code == 200
            inbox = browser.get("/inbox")
            assert "Refund $180.00 on order A-1002" in inbox.text
            match = re.search(r"/inbox/approvals/([0-9a-f-]{36})", inbox.text)
            assert match is not None
            detail = browser.get(f"/inbox/approvals/{match.group(1)}")
            approved = browser.post(
                f"/inbox/approvals/{match.group(1)}/approve", data={"csrf_token": csrf_token(detail.text)}
            )
            assert approved.status_code == 200, approved.text
        # A person reads on after clicking; the test waits for the server to finish the run it resumed.
        run_id = (self.cwd / "run_id").read_text()
        status = None
        for _ in range(300):
            with closing(sqlite3.connect(self.cwd / "refunds.db")) as database:
                [status] = database.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if status == "completed":
                return
            time.sleep(0.1)
        raise AssertionError(f"the run is {status} after the approval, not completed")


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_") and k != "ANTHROPIC_API_KEY"}
    env["SIGNOFF_DATA_DIR"] = str(tmp_path / "data")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    reader = Session(cwd=tmp_path / "work", env=env)
    reader.cwd.mkdir()
    try:
        yield reader
    finally:
        if reader.server is not None:
            reader.server.terminate()
            reader.server.wait(timeout=30)


def test_the_tutorial_runs_from_install_to_an_approval_in_the_inbox(session: Session) -> None:
    for block in blocks(TUTORIAL.read_text()):
        if block.language == "python":
            first_line, _, _ = block.text.partition("\n")
            assert first_line.startswith("# "), "a python block names the file it is saved as"
            (session.cwd / first_line[2:].strip()).write_text(block.text)
            continue
        assert block.language == "bash"
        for line in block.text.splitlines():
            session.run(line)
            if line == "signoff serve":
                [key] = re.findall(r"sk-signoff-\S+", session.output_of("signoff keys create sam --role approver"))
                assert not (session.cwd / "payments.log").exists()  # nothing was refunded before a person said so
                session.approve_in_the_inbox(key)

    status_line = session.output_of("python start.py").splitlines()[0]
    assert status_line.startswith("awaiting_approval ('")
    report = session.output_of("python report.py").splitlines()
    assert report == [
        "completed Done: refunded $180.00 on order A-1002",
        "order_total {'order_id': 'A-1002'} allow succeeded",
        "refund_order {'amount_usd': '180.00', 'order_id': 'A-1002'} require_approval succeeded",
        "3 model requests",
    ]
    assert session.output_of("cat payments.log") == "refund A-1002 180.00\n"
