"""The approval inbox over HTTP: sign-in, CSRF, the pending list, decisions, and the history tab."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from signoff.agent.store.tables import ApprovalRow, RunRow
from signoff.api.inbox.session import SESSION_COOKIE
from signoff.api.keys import revoke_api_key
from tests.agent.helpers import contacts, crm_contact_count
from tests.api.http_support import DEMO, Api, api_settings, running_api

MALICIOUS = "<script>alert(1)</script>"


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(api_settings(database_url, tmp_path)) as running:
        yield running


@pytest.fixture
async def browser(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a cookie jar and no API key, as a browser is."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://signoff.test") as client:
        yield client


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None, html
    return match.group(1)


async def _sign_in(api: Api, browser: httpx.AsyncClient, principal: str) -> httpx.Response:
    form = await browser.get("/inbox/sign-in")
    assert form.status_code == 200
    return await browser.post("/inbox/sign-in", data={"csrf_token": _csrf(form.text), "api_key": api.keys[principal]})


async def _signed_in(api: Api, browser: httpx.AsyncClient, principal: str = "bob") -> str:
    """Sign in; returns the CSRF token of the session."""
    response = await _sign_in(api, browser, principal)
    assert response.status_code == 303 and response.headers["location"] == "/inbox", response.text
    return _csrf((await browser.get("/inbox")).text)


async def _approval(api: Api, approval_id: str) -> ApprovalRow:
    return await api.app.state.runtime.approvals.get(approval_id)


async def test_sign_in_needs_a_valid_approver_key_and_keeps_only_the_name(api: Api, browser: httpx.AsyncClient) -> None:
    anonymous = await browser.get("/inbox")
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/inbox/sign-in"

    form = await browser.get("/inbox/sign-in")
    assert '<label for="api-key">API key</label>' in form.text
    bad = await browser.post("/inbox/sign-in", data={"csrf_token": _csrf(form.text), "api_key": "sk-signoff-nope"})
    assert bad.status_code == 401 and "That key is unknown or revoked." in bad.text

    requester = await _sign_in(api, browser, "alice")
    assert requester.status_code == 403
    assert "does not hold the approver role" in requester.text and "&#39;alice&#39;" in requester.text
    assert (await browser.get("/inbox")).status_code == 303

    signed_in = await _sign_in(api, browser, "bob")
    assert signed_in.status_code == 303
    set_cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie and "path=/inbox" in set_cookie
    assert "secure" not in set_cookie
    cookie = browser.cookies[SESSION_COOKIE]
    assert api.keys["bob"] not in cookie and api.keys["bob"].removeprefix("sk-signoff-") not in cookie

    inbox = await browser.get("/inbox")
    assert inbox.status_code == 200
    assert "Signed in as bob." in inbox.text and "Nothing is waiting for a decision." in inbox.text
    assert inbox.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in inbox.headers["content-security-policy"]
    assert inbox.headers["cache-control"] == "no-store"

    signed_out = await browser.post("/inbox/sign-out", data={"csrf_token": _csrf(inbox.text)})
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/inbox/sign-in"
    assert (await browser.get("/inbox")).status_code == 303


async def test_a_forged_or_tampered_session_is_not_signed_in(api: Api, browser: httpx.AsyncClient) -> None:
    await _signed_in(api, browser)
    cookie = browser.cookies[SESSION_COOKIE]
    browser.cookies.clear()
    browser.cookies.set(SESSION_COOKIE, cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"), path="/inbox")
    assert (await browser.get("/inbox")).status_code == 303


async def test_a_revoked_key_ends_its_sessions(api: Api, browser: httpx.AsyncClient) -> None:
    await _signed_in(api, browser)
    await revoke_api_key(api.app.state.runtime.session_factory, name="bob")
    revoked = await browser.get("/inbox")
    assert revoked.status_code == 303 and revoked.headers["location"] == "/inbox/sign-in"
    assert "Your session has ended" in (await browser.get("/inbox/sign-in")).text


async def test_every_form_needs_the_sessions_csrf_token(api: Api, browser: httpx.AsyncClient) -> None:
    _run_id, approval_id = await api.start_demo()
    # Signing in needs the token too (no login CSRF): a post without the session's cookie is refused.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://signoff.test") as other:
        token_elsewhere = _csrf((await other.get("/inbox/sign-in")).text)
    refused = await browser.post("/inbox/sign-in", data={"csrf_token": token_elsewhere, "api_key": api.keys["bob"]})
    assert refused.status_code == 403 and "This form has expired" in refused.text

    token = await _signed_in(api, browser)
    for path, data in [
        (f"/inbox/approvals/{approval_id}/approve", {}),
        (f"/inbox/approvals/{approval_id}/approve-edited", {"arguments": '{"contacts": []}'}),
        (f"/inbox/approvals/{approval_id}/deny", {"reason": "no"}),
        ("/inbox/sign-out", {}),
    ]:
        missing = await browser.post(path, data=data)
        wrong = await browser.post(path, data={**data, "csrf_token": token_elsewhere})
        assert (missing.status_code, wrong.status_code) == (403, 403), path
        assert "Nothing was changed" in wrong.text
    assert (await _approval(api, approval_id)).state == "pending"
    assert (await browser.get("/inbox")).status_code == 200  # still signed in
    assert (
        await browser.post(f"/inbox/approvals/{approval_id}/approve", data={"csrf_token": token})
    ).status_code == 303


async def test_pending_list_and_detail_show_the_call_and_escape_everything(
    api: Api, browser: httpx.AsyncClient
) -> None:
    run_id, approval_id = await api.start_demo()
    async with api.app.state.runtime.session_factory.begin() as session:
        await session.execute(update(RunRow).where(RunRow.run_id == run_id).values(task_text=f"{DEMO} {MALICIOUS}"))
        await session.execute(
            update(ApprovalRow).where(ApprovalRow.approval_id == approval_id).values(summary=f"Sync {MALICIOUS}")
        )
    await _signed_in(api, browser)

    listing = await browser.get("/inbox")
    assert listing.status_code == 200
    assert MALICIOUS not in listing.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in listing.text
    assert f'href="/inbox/approvals/{approval_id}"' in listing.text
    assert "<code>sync_contacts_to_crm</code>" in listing.text
    assert "alice" in listing.text and DEMO in listing.text
    arguments = json.loads((await _approval(api, approval_id)).requested_args_json)
    first_email = arguments["contacts"][0]["email"]
    assert f"&#34;email&#34;: &#34;{first_email}&#34;" in listing.text  # pretty JSON, escaped
    assert re.search(r'<time datetime="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</time>', listing.text)

    detail = await browser.get(f"/inbox/approvals/{approval_id}")
    assert detail.status_code == 200 and MALICIOUS not in detail.text
    for action in ("approve", "approve-edited", "deny"):
        assert f'action="/inbox/approvals/{approval_id}/{action}"' in detail.text
    for field in ("approve-note", "deny-reason", "edit-arguments", "edit-note"):
        assert f'<label for="{field}">' in detail.text and f'id="{field}"' in detail.text
    assert detail.text.count('name="csrf_token"') == 4  # three decisions and sign-out

    missing = await browser.get("/inbox/approvals/nope")
    assert missing.status_code == 404 and "Approval not found" in missing.text
    assert (await browser.get("/inbox/runs/nope")).status_code == 404


async def test_approve_resumes_the_run_and_the_run_page_shows_it_complete(api: Api, browser: httpx.AsyncClient) -> None:
    run_id, approval_id = await api.start_demo()
    token = await _signed_in(api, browser)

    running = await browser.get(f"/inbox/runs/{run_id}")
    assert running.status_code == 200 and '<meta http-equiv="refresh" content="10">' in running.text

    decided = await browser.post(f"/inbox/approvals/{approval_id}/approve", data={"csrf_token": token, "note": "ok"})
    assert decided.status_code == 303 and decided.headers["location"] == "/inbox"
    after = await browser.get("/inbox")
    assert "Approved: Create or update 5 contacts in the CRM" in after.text
    assert f'href="/inbox/runs/{run_id}"' in after.text
    assert "Approved:" not in (await browser.get("/inbox")).text  # a flash shows once

    await api.wait_for_run("alice", run_id, until=lambda r: r["status"] == "completed")
    page = await browser.get(f"/inbox/runs/{run_id}")
    assert '<span class="state" id="run-status">completed</span>' in page.text
    assert "5 contacts created" in page.text and "http-equiv" not in page.text
    assert (
        "<td><code>sync_contacts_to_crm</code></td><td>require_approval</td><td>succeeded</td><td>5</td>" in page.text
    )
    assert await crm_contact_count(api.app.state.runtime.session_factory) == 5
    row = await _approval(api, approval_id)
    assert (row.decided_by, row.decision_note) == ("bob", "ok")


async def test_deny_needs_a_reason_and_then_reaches_the_model(api: Api, browser: httpx.AsyncClient) -> None:
    run_id, approval_id = await api.start_demo()
    token = await _signed_in(api, browser)

    blank = await browser.post(f"/inbox/approvals/{approval_id}/deny", data={"csrf_token": token, "reason": "  "})
    assert blank.status_code == 422 and "A denial needs a reason" in blank.text
    assert 'id="deny-errors"' in blank.text and 'aria-describedby="deny-reason-hint deny-errors"' in blank.text
    assert 'aria-invalid="true"' in blank.text
    assert (await _approval(api, approval_id)).state == "pending"

    denied = await browser.post(
        f"/inbox/approvals/{approval_id}/deny", data={"csrf_token": token, "reason": "not these <b>people</b>"}
    )
    assert denied.status_code == 303
    run = await api.wait_for_run("alice", run_id, until=lambda r: r["status"] == "completed")
    assert await crm_contact_count(api.app.state.runtime.session_factory) == 0
    assert run["output"]

    history = await browser.get("/inbox/history")
    assert history.status_code == 200 and 'aria-current="page">History' in history.text
    assert "denied" in history.text and "not these &lt;b&gt;people&lt;/b&gt;" in history.text
    assert "<td>bob</td>" in history.text


async def test_edits_are_validated_and_errors_shown_in_the_form(api: Api, browser: httpx.AsyncClient) -> None:
    run_id, approval_id = await api.start_demo()
    token = await _signed_in(api, browser)
    path = f"/inbox/approvals/{approval_id}/approve-edited"

    not_json = await browser.post(path, data={"csrf_token": token, "arguments": '{"contacts": [}'})
    assert not_json.status_code == 422 and "The arguments are not valid JSON" in not_json.text
    assert "{&#34;contacts&#34;: [}</textarea>" in not_json.text  # what was typed stays in the form

    not_object = await browser.post(path, data={"csrf_token": token, "arguments": "[1, 2]"})
    assert not_object.status_code == 422 and "must be a JSON object" in not_object.text

    over_limit = await browser.post(
        path, data={"csrf_token": token, "arguments": json.dumps({"contacts": contacts(11)})}
    )
    assert over_limit.status_code == 422 and "batch_limit" in over_limit.text
    assert 'id="edit-errors"' in over_limit.text

    invalid = await browser.post(
        path, data={"csrf_token": token, "arguments": json.dumps({"contacts": [{"email": "nope"}]})}
    )
    assert invalid.status_code == 422
    assert "do not fit the tool&#39;s schema" in invalid.text and "<code>contacts.0.email</code>" in invalid.text

    row = await _approval(api, approval_id)
    assert (row.state, row.approved_args_json, row.decided_by) == ("pending", None, None)
    assert await crm_contact_count(api.app.state.runtime.session_factory) == 0

    arguments = json.loads(row.requested_args_json)
    arguments["contacts"] = arguments["contacts"][:3]
    edited = await browser.post(
        path, data={"csrf_token": token, "arguments": json.dumps(arguments), "note": "only three"}
    )
    assert edited.status_code == 303
    assert "Approved with edits:" in (await browser.get("/inbox")).text
    await api.wait_for_run("alice", run_id, until=lambda r: r["status"] == "completed")
    assert await crm_contact_count(api.app.state.runtime.session_factory) == 3
    row = await _approval(api, approval_id)
    assert row.approved_args_json is not None and len(json.loads(row.approved_args_json)["contacts"]) == 3


async def test_self_approval_and_already_decided_are_explained(api: Api, browser: httpx.AsyncClient) -> None:
    _run_id, own_approval = await api.start_demo("dave")
    token = await _signed_in(api, browser, "dave")
    detail = await browser.get(f"/inbox/approvals/{own_approval}")
    assert "You requested this run, so someone else must decide its calls." in detail.text
    assert 'action="/inbox/approvals' not in detail.text
    refused = await browser.post(f"/inbox/approvals/{own_approval}/approve", data={"csrf_token": token})
    assert refused.status_code == 403 and "someone else must decide" in refused.text
    assert (await _approval(api, own_approval)).state == "pending"

    run_id, approval_id = await api.start_demo()
    api_decision = await api["bob"].post(f"/v1/approvals/{approval_id}/decision", json={"decision": "approve"})
    assert api_decision.status_code == 200
    await api.wait_for_run("alice", run_id, until=lambda r: r["status"] == "completed")
    late = await browser.post(f"/inbox/approvals/{approval_id}/deny", data={"csrf_token": token, "reason": "late"})
    assert late.status_code == 409 and "This approval is already executed; nothing was changed." in late.text


async def test_history_lists_decided_and_expired_approvals(api: Api, browser: httpx.AsyncClient) -> None:
    _run_id, expiring = await api.start_demo()
    async with api.app.state.runtime.session_factory.begin() as session:
        await session.execute(
            update(ApprovalRow)
            .where(ApprovalRow.approval_id == expiring)
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    token = await _signed_in(api, browser)
    assert "Nothing is waiting for a decision." in (await browser.get("/inbox")).text

    run_id, approved = await api.start_demo()
    assert (await browser.post(f"/inbox/approvals/{approved}/approve", data={"csrf_token": token})).status_code == 303
    await api.wait_for_run("alice", run_id, until=lambda r: r["status"] == "completed")

    history = await browser.get("/inbox/history")
    rows = history.text.split("<tbody>", 1)[1].split("<tr>")[1:]
    assert len(rows) == 2
    # Newest first: the executed approval, decided by bob; then the expired one, decided by nobody.
    assert f"/inbox/approvals/{approved}" in rows[0] and "executed" in rows[0] and "<td>bob</td>" in rows[0]
    assert f"/inbox/approvals/{expiring}" in rows[1] and "expired" in rows[1] and "nobody" in rows[1]
    decided = await browser.get(f"/inbox/approvals/{expiring}")
    assert "there is nothing left to decide" in decided.text and 'action="/inbox/approvals' not in decided.text
