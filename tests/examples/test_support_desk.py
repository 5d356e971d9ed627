"""The support desk, a second pack under examples/, installs as its own distribution and works through
the CLI, the HTTP API, the inbox and an eval run with no change to the core.

It is installed into a fresh virtual environment that sees this one's packages (so `signoff` and its
dependencies are there) but not the test suite's: Signoff finds it only through its entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.serve import csrf_token, free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "support_desk"

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Env:
    python: Path
    variables: dict[str, str]

    def signoff(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.python), "-m", "signoff.api.cli", *args],
            env=self.variables,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert done.returncode == 0, f"signoff {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.signoff(*args, "--json").stdout)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    venv = tmp_path_factory.mktemp("support-desk-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # `import site` lines in a .pth run at start-up: this one adds our packages, .pth files included (so
    # the editable `signoff` resolves), without copying them.
    outer = sysconfig.get_paths()["purelib"]
    Path(site, "outer-env.pth").write_text(f"import site; site.addsitedir({outer!r})\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(EXAMPLE)],
        check=True,
        timeout=300,
        cwd=tmp_path_factory.mktemp("install-cwd"),
    )
    data_dir = tmp_path_factory.mktemp("support-desk-data")
    variables = {key: value for key, value in os.environ.items() if not key.startswith(("SIGNOFF_", "ANTHROPIC_"))} | {
        "SIGNOFF_PACKS": "support_desk",
        "SIGNOFF_DATA_DIR": str(data_dir),
        "ANTHROPIC_API_KEY": "",
    }
    return Env(python=python, variables=variables)


def test_the_pack_is_found_through_its_entry_point_with_its_tools_tables_and_migrations(env: Env) -> None:
    views = {view["name"]: view for view in env.json("packs")}
    assert set(views) == {"sales", "support_desk"}  # both installed
    desk = views["support_desk"]
    assert desk["enabled"] and not views["sales"]["enabled"]
    assert desk["tools"] == ["close_ticket", "email_customer", "get_ticket", "issue_refund"]
    assert desk["tables"] == ["support_desk_closed_tickets", "support_desk_outbox", "support_desk_refunds"]
    assert (desk["version_table"], desk["applied_revision"]) == ("alembic_version_support_desk", "support_desk_0001")


def test_the_packs_policy_file_names_only_its_tools(env: Env) -> None:
    policy = EXAMPLE / "support_desk" / "policy.toml"
    with_policy = Env(env.python, env.variables | {"SIGNOFF_POLICY_FILE": str(policy)})
    assert [tool["name"] for tool in with_policy.json("tools")] == [
        "close_ticket",
        "email_customer",
        "get_ticket",
        "issue_refund",
    ]
    decision = with_policy.json("policy", "check", "issue_refund", '{"ticket_id": "T-1", "amount_usd": "80"}')
    assert decision["verdict"] == "require_approval"


def test_the_cli_refunds_below_the_threshold_at_once_and_above_it_after_approval(env: Env) -> None:
    small = env.json("run", "refund 30 on ticket T-1001")
    assert (small["status"], small["output"]) == ("completed", small["output"])
    assert "refunded $30" in small["output"]
    large = env.json("run", "refund 120 on ticket T-1002")
    assert large["status"] == "awaiting_approval"
    [approval] = [a for a in env.json("approvals") if a["run_id"] == large["run_id"]]
    assert approval["tool"] == "issue_refund"
    assert approval["summary"] == "Refund $120 on ticket T-1002"
    env.signoff("approve", approval["approval_id"])
    shown = env.json("show", large["run_id"])
    assert shown["status"] == "completed" and "refunded $120" in shown["output"]
    # The hard limit is the tool's schema: an edit above it is refused and changes nothing.
    over = env.json("run", "refund 120 on ticket T-1004")
    [pending] = [a for a in env.json("approvals") if a["run_id"] == over["run_id"]]
    refused = env.signoff("approve", pending["approval_id"], "--edit", '{"amount_usd": "900"}', check=False)
    assert refused.returncode == 1 and "less than or equal to 500" in refused.stderr


def test_an_eval_run_of_the_packs_own_dataset_passes(env: Env) -> None:
    done = env.signoff("eval", "run", "support_basics", "--prompt", "support_agent@1", "--model", "offline", "--json")
    result = json.loads(done.stdout)
    assert result["passed"] is True
    assert result["dataset"]["name"] == "support-basics"


@pytest.fixture
def served(env: Env) -> Iterator[tuple[str, dict[str, str]]]:
    keys = {
        name: env.json("keys", "create", f"{name}-{time.monotonic_ns()}", "--role", role)["key"]
        for name, role in (("requester", "requester"), ("approver", "approver"))
    }
    port = free_port()
    server = subprocess.Popen(
        [str(env.python), "-m", "signoff.api.cli", "serve", "--port", str(port)],
        env=env.variables,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base)
        yield base, keys
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_http_api_and_the_inbox_work_the_packs_approvals(served: tuple[str, dict[str, str]]) -> None:
    base, keys = served
    requester = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {keys['requester']}"})
    approver = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {keys['approver']}"})
    tools = requester.get("/v1/tools").json()["tools"]
    assert {tool["name"] for tool in tools} == {"close_ticket", "email_customer", "get_ticket", "issue_refund"}
    created = requester.post(
        "/v1/tasks", json={"message": "email the customer of ticket T-1001: your refund is on its way"}
    )
    assert created.status_code in (200, 201, 202), created.text
    run_id = created.json()["run_id"]
    items: list[dict[str, Any]] = []
    for _ in range(100):
        items = approver.get("/v1/approvals", params={"run_id": run_id}).json()["items"]
        if items:
            break
        time.sleep(0.1)
    [approval] = items
    assert approval["tool"] == "email_customer"

    with httpx.Client(base_url=base, follow_redirects=True) as browser:
        form = browser.get("/inbox/sign-in")
        signed_in = browser.post(
            "/inbox/sign-in", data={"csrf_token": csrf_token(form.text), "api_key": keys["approver"]}
        )
        assert signed_in.status_code == 200
        inbox = browser.get("/inbox")
        assert "About T-1001" in inbox.text  # the approval's summary, rendered for a person
        approved = browser.post(
            f"/inbox/approvals/{approval['approval_id']}/approve", data={"csrf_token": csrf_token(inbox.text)}
        )
        assert approved.status_code == 200, approved.text
    for _ in range(100):
        run = requester.get(f"/v1/runs/{run_id}").json()
        if run["status"] == "completed":
            break
        time.sleep(0.1)
    assert run["status"] == "completed" and "sent msg_" in run["output"]
