"""The approval inbox end to end, in a real headless Chromium driven by Playwright.

`signoff serve` runs as its own process on a free local port (SQLite file, offline model). A requester
submits the demo task over HTTP; an approver signs in to the inbox, sees the pending call, removes two
of the five contacts from its arguments, approves, and watches the run complete. The CRM then holds
exactly the three approved contacts.

Chromium is Debian's `chromium` package (`.ci/run` installs it); Playwright drives it through
`executable_path` and never downloads a browser of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from signoff.agent.runtime import prepare_database
from signoff.agent.store.engine import create_engine
from signoff.api.keys import create_api_key
from signoff.tools.sales import sales_pack
from tests.agent.helpers import crm_contact_count

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)", allow_module_level=True
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is missing: pip install -e '.[dev]' (no browser download is needed)"
)

pytestmark = pytest.mark.slow

DEMO = "find 5 fintech leads in Berlin, enrich them and add them to the CRM"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path("/tmp/inbox.png")
RUN_SCREENSHOT = Path("/tmp/inbox-run.png")
EDIT_ERROR_SCREENSHOT = Path("/tmp/inbox-edit-error.png")
# The server starts in about a second and the offline model finishes a run in well under one; these
# leave room for a loaded CI machine without letting a hung test sit for minutes.
STARTUP_SECONDS = 30
RUN_SECONDS = 30
# Playwright's per-assertion wait, in milliseconds.
EXPECT_TIMEOUT_MS = 30_000


@dataclass(frozen=True, kw_only=True)
class Server:
    base_url: str
    database_url: str
    keys: dict[str, str]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _prepare(database_url: str) -> dict[str, str]:
    """Migrate the database and create a requester and an approver key."""
    engine = create_engine(database_url)
    try:
        session_factory = await prepare_database(engine, [sales_pack()])
        _row, requester = await create_api_key(session_factory, name="rita", roles=["requester"])
        _row, approver = await create_api_key(session_factory, name="abe", roles=["approver"])
    finally:
        await engine.dispose()
    return {"requester": requester, "approver": approver}


async def _contacts_in_crm(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        return await crm_contact_count(await prepare_database(engine, [sales_pack()]))
    finally:
        await engine.dispose()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """`signoff serve` on a free port, with its own SQLite file and the offline model."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'signoff.db'}"
    keys = asyncio.run(_prepare(database_url))
    port = _free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SIGNOFF_") and name not in {"ANTHROPIC_API_KEY", "LOGFIRE_TOKEN"}
    }
    env |= {
        "SIGNOFF_DATABASE_URL": database_url,
        "SIGNOFF_DATA_DIR": str(tmp_path / "data"),
        "SIGNOFF_MODEL": "offline",
        "ANTHROPIC_API_KEY": "",
    }
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "signoff.api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, f"the server exited:\n{log_path.read_text()}"
            try:
                if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the server did not become ready:\n{log_path.read_text()}"
            time.sleep(0.1)
        yield Server(base_url=base_url, database_url=database_url, keys=keys)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_run(client: httpx.Client, run_id: str, status: str) -> dict[str, object]:
    deadline = time.monotonic() + RUN_SECONDS
    while True:
        run = client.get(f"/v1/runs/{run_id}").raise_for_status().json()
        if run["status"] == status:
            return run
        assert time.monotonic() < deadline, f"run {run_id} is {run['status']!r}, not {status!r}"
        time.sleep(0.1)


def test_an_approver_edits_and_approves_a_call_in_chromium(server: Server, tmp_path: Path) -> None:
    expect = sync_api.expect
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    requester = httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {server.keys['requester']}"}, timeout=10
    )
    with requester:
        accepted = requester.post("/v1/tasks", json={"message": DEMO})
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        _wait_for_run(requester, run_id, "awaiting_approval")

        with sync_api.sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
            )
            try:
                page = context.new_page()
                page.goto(f"{server.base_url}/inbox")
                expect(page).to_have_url(re.compile(r"/inbox/sign-in$"))
                page.get_by_label("API key").fill(server.keys["approver"])
                page.get_by_role("button", name="Sign in").click()

                expect(page.get_by_role("status")).to_contain_text("Signed in as abe.")
                expect(page.get_by_role("heading", level=1)).to_have_text("Pending approvals")
                item = page.get_by_role("article")
                expect(item).to_have_count(1)
                expect(item).to_contain_text("sync_contacts_to_crm")
                expect(item).to_contain_text(DEMO)
                expect(item).to_contain_text("rita")
                expect(item).to_contain_text('"first_name"')
                page.screenshot(path=str(SCREENSHOT), full_page=True)

                item.get_by_role("link", name=re.compile(r"^Create or update 5 contacts in the CRM")).click()
                edit = page.get_by_role("region", name="Approve with edits")
                arguments_box = edit.get_by_label("Arguments (JSON)")
                original = arguments_box.input_value()
                arguments = json.loads(original)
                assert len(arguments["contacts"]) == 5
                # A broken edit comes back in the form, with the error, and changes nothing.
                arguments_box.fill(original.replace("[", "[,", 1))
                edit.get_by_role("button", name="Approve edited arguments").click()
                expect(edit.get_by_role("alert")).to_contain_text("The arguments are not valid JSON")
                expect(arguments_box).to_have_attribute("aria-invalid", "true")
                page.screenshot(path=str(EDIT_ERROR_SCREENSHOT), full_page=True)
                kept = arguments["contacts"][:3]
                arguments_box.fill(json.dumps({**arguments, "contacts": kept}, indent=2))
                edit.get_by_label("Note (optional)").fill("only the first three")
                edit.get_by_role("button", name="Approve edited arguments").click()

                expect(page.get_by_role("status")).to_contain_text("Approved with edits: Create or update 3 contacts")
                expect(page.get_by_text("Nothing is waiting for a decision.")).to_be_visible()
                page.get_by_role("link", name="Follow the run").click()
                # The run page refreshes itself until the run finishes.
                expect(page.locator("#run-status")).to_have_text("completed")
                expect(page.get_by_role("region", name="Final answer")).to_contain_text("3 contacts created")
                page.screenshot(path=str(RUN_SCREENSHOT), full_page=True)
            finally:
                context.close()

        run = _wait_for_run(requester, run_id, "completed")
        assert "3 contacts created" in str(run["output"])
    assert asyncio.run(_contacts_in_crm(server.database_url)) == 3
