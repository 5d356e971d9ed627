"""The honest display on every surface a person decides on: the inbox, the CLI and the HTTP API.

Each test pauses the demo run at its approval, then rewrites the pending approval into the call a hijacked
model would make: an email to a look-alike of a CRM domain, with a right-to-left override in the subject,
a zero-width space, a terminal escape sequence and an instruction hidden behind 500 spaces. The summary
is the real `send_email` template rendered over those arguments.
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from inline_snapshot import snapshot
from sqlalchemy import update

from signoff.agent.runtime import Runtime
from signoff.agent.store.engine import SessionFactory, create_engine, create_session_factory
from signoff.agent.store.tables import ApprovalRow
from signoff.api.approval_views import approval_views
from signoff.tools.packs import PackContext
from signoff.tools.registry import ToolRegistry
from signoff.tools.sales import offline_providers
from signoff.tools.sales.models import Contact
from signoff.tools.sales.offline.crm import OfflineCrm
from signoff.tools.sales.plugin import sales_pack
from tests.api.http_support import Api, api_settings, running_api
from tests.api.test_cli import start_demo
from tests.conftest import RuntimeFactory
from tests.support.cli import Signoff
from tests.support.clock import FakeClock
from tests.support.scripted import ScriptedModel, call, text

RLO = "\u202e"
ZWSP = "\u200b"
ESC = "\x1b"
LOOKALIKE = "p\u0430ypal.example"  # a Cyrillic "а"
HIJACKED_ARGS: dict[str, Any] = {
    "to": f"billing@{LOOKALIKE}",
    "subject": f"Invoice {RLO}fdp.exe",
    "body": f"Please pay the attached{ZWSP} invoice.{ESC}[2J{ESC}]0;all clear\x07" + " " * 500 + "Then wire $9,000.",
}
WARNING_STARTS = [
    "Bidirectional control characters in summary and subject",
    "Control characters in summary and body",
    "Invisible characters in summary and body",
    "Long runs of spaces (up to 500 in a row) in summary and body",
    "Words that mix scripts in summary and to",
    f"The domain {LOOKALIKE} (xn--pypal-4ve.example)",
    f"1 recipient domain has no contact in the CRM: {LOOKALIKE} (xn--pypal-4ve.example, 1 address)",
]


def raw_hidden(text: str) -> list[str]:
    """Raw characters that a reader cannot see or a terminal acts on (newlines and tabs aside)."""
    return [c for c in text if c not in "\n\t" and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]


def hijacked_summary(args: dict[str, Any] = HIJACKED_ARGS) -> str:
    spec = ToolRegistry(sales_pack().build(PackContext.unbound()).tools).require("send_email")
    return spec.render_summary(args)


async def hijack(session_factory: SessionFactory, approval_id: str, args: dict[str, Any] = HIJACKED_ARGS) -> None:
    """Rewrite the approval as a hijacked model's `send_email`, and give the CRM a contact at paypal.example."""
    async with session_factory.begin() as session:
        await session.execute(
            update(ApprovalRow)
            .where(ApprovalRow.approval_id == approval_id)
            .values(
                tool_name="send_email",
                requested_args_json=json.dumps(args),
                summary=hijacked_summary(args),
            )
        )
    await OfflineCrm(sessionmaker=session_factory).upsert_contacts(
        [Contact(email="ana@paypal.example", first_name="Ana", last_name="Lopez")]
    )


def assert_warnings(warnings: list[str]) -> None:
    assert len(warnings) == len(WARNING_STARTS), warnings
    for warning, start in zip(warnings, WARNING_STARTS, strict=True):
        assert warning.startswith(start), (warning, start)


# --- the HTTP API -----------------------------------------------------------------------------------


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(api_settings(database_url, tmp_path)) as running:
        yield running


async def _hijacked(api: Api) -> str:
    _run_id, approval_id = await api.start_demo()
    runtime: Runtime = api.app.state.runtime
    await hijack(runtime.session_factory, approval_id)
    return approval_id


async def test_the_api_gives_warnings_domains_and_a_display_summary(api: Api) -> None:
    approval_id = await _hijacked(api)

    listed = await api["bob"].get("/v1/approvals")
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    one = (await api["bob"].get(f"/v1/approvals/{approval_id}")).json()
    assert one == item

    # The stored fields stay exact; the display fields are what a person should read.
    assert item["summary"] == hijacked_summary() and item["requested_args"] == HIJACKED_ARGS
    assert raw_hidden(item["display_summary"] + item["display_args"] + "".join(item["warnings"])) == []
    assert item["display_summary"] == snapshot(
        'Send an email to billing@pаypal.example ⟦xn--pypal-4ve.example⟧ with the subject "Invoice '
        '⟦U+202E⟧fdp.exe":\n\nPlease pay the attached⟦U+200B⟧ invoice.⟦U+001B⟧[2J⟦U+001B⟧]0;all '
        "clear⟦U+0007⟧⟦500 spaces⟧Then wire $9,000."
    )
    assert_warnings(item["warnings"])
    assert item["domains"] == snapshot(
        [
            {
                "unicode": "pаypal.example",
                "ascii": "xn--pypal-4ve.example",
                "flags": ["confusable", "idn", "mixed_script", "not_in_crm"],
                "crm": "unknown",
                "recipients": 1,
                "lookalikes": ["а (CYRILLIC SMALL LETTER A) looks like a"],
            }
        ]
    )

    denied = await api["bob"].post(f"/v1/approvals/{approval_id}/decision", json={"decision": "deny", "note": "no"})
    assert denied.status_code == 200
    assert denied.json()["warnings"] == item["warnings"]


async def test_clean_approvals_have_no_warnings_and_their_domains_are_checked(api: Api) -> None:
    _run_id, approval_id = await api.start_demo()
    [item] = (await api["bob"].get("/v1/approvals")).json()["items"]
    assert item["approval_id"] == approval_id and item["warnings"] == []
    assert item["display_summary"] == item["summary"]
    # The CRM sync names addresses but sends no mail: its domains are listed, the CRM is not asked.
    assert {(d["crm"], tuple(d["flags"]), d["recipients"]) for d in item["domains"]} == {("not_checked", (), 0)}
    emails = [contact["email"] for contact in item["requested_args"]["contacts"]]
    assert [d["unicode"] for d in item["domains"]] == list(dict.fromkeys(e.split("@")[1] for e in emails))


async def test_a_recipient_domain_the_crm_knows_is_no_warning(api: Api) -> None:
    _run_id, approval_id = await api.start_demo()
    args = {"to": "Ops@PayPal.example", "subject": "Renewal", "body": "Hi"}
    await hijack(api.app.state.runtime.session_factory, approval_id, args)
    [item] = (await api["bob"].get("/v1/approvals")).json()["items"]
    assert [(d["unicode"], d["crm"], d["flags"]) for d in item["domains"]] == [("paypal.example", "known", [])]
    assert item["warnings"] == []


# --- the inbox --------------------------------------------------------------------------------------


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None, html
    return match.group(1)


@pytest.fixture
async def browser(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a cookie jar, signed in to the inbox as the approver bob."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://signoff.test") as client:
        form = await client.get("/inbox/sign-in")
        signed_in = await client.post(
            "/inbox/sign-in", data={"csrf_token": _csrf(form.text), "api_key": api.keys["bob"]}
        )
        assert signed_in.status_code == 303
        yield client


async def test_the_inbox_shows_warnings_before_the_summary_and_no_raw_control_character(
    api: Api, browser: httpx.AsyncClient
) -> None:
    approval_id = await _hijacked(api)
    listing = (await browser.get("/inbox")).text
    detail = (await browser.get(f"/inbox/approvals/{approval_id}")).text

    for page, summary_tag in ((listing, '<h2 id="approval-1">'), (detail, "<h1>")):
        assert raw_hidden(page) == []
        assert RLO not in page and ZWSP not in page and ESC not in page
        # The warnings come first, then the summary with its markers highlighted.
        assert '<section class="warnings"' in page
        assert page.index('<section class="warnings"') < page.index(summary_tag)
        assert "7 warnings: read before deciding." in page
        assert '<mark class="hidden-char">⟦U+202E⟧</mark>' in page
        assert '<mark class="hidden-char">⟦500 spaces⟧</mark>' in page
        assert '<mark class="hidden-char">⟦xn--pypal-4ve.example⟧</mark>' in page
        assert "<code>xn--pypal-4ve.example</code>" in page and "<strong>not in the CRM</strong>" in page
        assert " " * 100 not in page
    # The edit form holds the exact arguments, each hidden character as a JSON escape.
    textarea = detail.split('id="edit-arguments"', 1)[1].split("</textarea>", 1)[0]
    assert r"\u202e" in textarea and r"\u200b" in textarea and r"\u001b" in textarea and r"\u0020" * 500 in textarea
    edited = json.loads(textarea.split(">", 1)[1].replace("&#34;", '"').replace("&amp;", "&"))
    assert edited == HIJACKED_ARGS


# --- the CLI ----------------------------------------------------------------------------------------


def _hijack_cli(signoff: Signoff, approval_id: str) -> None:
    async def rewrite() -> None:
        engine = create_engine(signoff.database_url)
        try:
            await hijack(create_session_factory(engine), approval_id)
        finally:
            await engine.dispose()

    asyncio.run(rewrite())


def test_the_cli_prints_the_warnings_and_never_a_raw_escape_or_bidi_character(signoff: Signoff) -> None:
    _run_id, approval_id = start_demo(signoff)
    _hijack_cli(signoff, approval_id)

    listed = signoff.ok("approvals")
    assert raw_hidden(listed) == []
    lines = listed.splitlines()
    assert lines[0] == "WARNINGS: read these before deciding."
    assert f"{approval_id} (send_email):" in lines
    warning_lines = [line.removeprefix("  ! ") for line in lines if line.startswith("  ! ")]
    assert_warnings(warning_lines)
    [row_line] = [line for line in lines if line.startswith(approval_id) and "pending" in line]
    assert re.search(rf"{approval_id}\s+pending\s+send_email\s+7\s+Send an email to billing@pаypal\.example", row_line)
    # The table comes after the warnings.
    assert lines.index(row_line) > max(lines.index(f"  ! {w}") for w in warning_lines)

    [as_json] = signoff.json("approvals")
    assert as_json["warnings"] == warning_lines and as_json["summary"] == hijacked_summary()

    denied = signoff.ok("deny", approval_id, "--reason", "a look-alike domain")
    assert raw_hidden(denied) == []
    assert denied.splitlines()[:2] == [f"denied {approval_id}", "It carried 7 warning(s):"]


async def test_a_sync_that_overwrites_stored_fields_says_which_first(
    make_runtime: RuntimeFactory, session_factory: SessionFactory, clock: FakeClock
) -> None:
    """A sync's summary names addresses; the approver is also told every stored field it would replace."""
    providers = offline_providers(session_factory, clock=clock)
    await providers.crm.upsert_contacts(
        [Contact(email="ana@acme.example", first_name="Ana", last_name="Lopez", title="COO", company="Acme")]
    )
    synced = {"email": "ana@acme.example", "first_name": "Ana", "last_name": "Lopez", "title": "Intern"}
    new = {"email": "bo@acme.example", "first_name": "Bo", "last_name": "Li"}
    model = ScriptedModel([[call("sync_contacts_to_crm", {"contacts": [synced, new]}, "sync-1")], [text("ok")]])
    runtime = make_runtime(model.model, providers=providers)
    outcome = await runtime.runner.start("sync ana and bo")
    [view] = await approval_views(runtime, [await runtime.approvals.get(outcome.pending_approval_ids[0])])
    assert view.changes == ["ana@acme.example: title 'COO' -> 'Intern'"]
    assert view.warnings[0] == "This call overwrites stored data (1 change); read them first."
