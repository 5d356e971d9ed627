"""An `unknown` call, end to end (issue #13, item 3): the run is never plain `completed` in the HTTP API, the
event stream, the inbox or the CLI, and a person records what they found in the outside system, audited.

The CRM writes the contacts and then never answers (a timeout): Signoff cannot know whether the sync
happened, so the call is `unknown` and a person must check.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from signoff.tools.packs import PackContext, ToolPack
from signoff.tools.sales import SalesProviders, offline_providers, sales_pack
from tests.api.http_support import Api, api_settings, running_api
from tests.support.cli import Signoff, cli_env
from tests.support.providers import CrmThatTimesOutAfterWriting
from tests.support.scripted import ScriptedModel, call, text

CONTACTS = [
    {"email": "ana@acme.example", "first_name": "Ana", "last_name": "Lima", "company": "Acme"},
    {"email": "ben@acme.example", "first_name": "Ben", "last_name": "Ode", "company": "Acme"},
]


def _timing_out_pack() -> ToolPack:
    def providers(context: PackContext) -> SalesProviders:
        base = offline_providers(context.session_factory, clock=context.clock)
        return replace(base, crm=CrmThatTimesOutAfterWriting(base.crm))

    return sales_pack(providers=providers)


def _model() -> ScriptedModel:
    return ScriptedModel(
        [
            [
                call("get_contact", {"email": "ana@acme.example"}, "read-1"),
                call("sync_contacts_to_crm", {"contacts": CONTACTS}, "sync-1"),
            ],
            [text("I finished the task.")],
        ]
    )


async def _unknown_run(api: Api) -> tuple[str, str]:
    """Run the task, bob approves the sync, the CRM times out after writing: (run id, approval id)."""
    accepted = await api["alice"].post("/v1/tasks", json={"message": "add Ana and Ben to the CRM"})
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    waiting = await api.wait_for_run("alice", run_id, until=lambda r: r["status"] != "running")
    [pending] = waiting["pending_approvals"]
    decided = await api["bob"].post(f"/v1/approvals/{pending['approval_id']}/decision", json={"decision": "approve"})
    assert decided.status_code == 200, decided.text
    await api.wait_for_run("alice", run_id, until=lambda r: r["status"] == "completed")
    return run_id, pending["approval_id"]


def _stream_events(body: str) -> list[tuple[str, dict[str, Any]]]:
    """(kind, payload) of each event frame of a finished run's stream."""
    events: list[tuple[str, dict[str, Any]]] = []
    for frame in body.split("\n\n"):
        data = "\n".join(line[len("data: ") :] for line in frame.splitlines() if line.startswith("data: "))
        if data:
            event = json.loads(data)
            events.append((event["kind"], event["payload"]))
    return events


async def _signed_in_browser(api: Api, principal: str) -> tuple[httpx.AsyncClient, str]:
    browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://signoff.test")
    form = await browser.get("/inbox/sign-in")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    signed_in = await browser.post("/inbox/sign-in", data={"csrf_token": csrf.group(1), "api_key": api.keys[principal]})
    assert signed_in.status_code == 303, signed_in.text
    page = await browser.get("/inbox")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    return browser, token.group(1)


async def test_an_unknown_call_is_shown_everywhere_until_a_person_resolves_it(
    database_url: str, tmp_path: Path
) -> None:
    async with running_api(
        api_settings(database_url, tmp_path), model=_model().model, packs=[_timing_out_pack()]
    ) as api:
        run_id, _approval_id = await _unknown_run(api)

        # The API: still `completed`, with the unknown call in the status detail, and in the effects.
        detail = (await api["alice"].get(f"/v1/runs/{run_id}")).json()
        assert detail["status"] == "completed"
        [attention] = detail["attention"]
        assert (attention["kind"], [c["tool_call_id"] for c in attention["calls"]]) == ("unknown_outcome", ["sync-1"])
        assert attention["message"].startswith("the outcome of 1 call is unknown (Create or update 2 contacts")
        [effect] = detail["outcome"]["effects"]
        assert (effect["outcome"], effect["resolution"]) == ("unknown", None)

        # The event stream: the tool result as unknown, and the final event with the detail.
        stream = await api["alice"].get(f"/v1/runs/{run_id}/events")
        events = _stream_events(stream.text)
        results = {p["tool_call_id"]: p["status"] for kind, p in events if kind == "tool_result"}
        assert results == {"read-1": "succeeded", "sync-1": "unknown"}
        assert events[-1][0] == "completed"
        assert [item["kind"] for item in events[-1][1]["attention"]] == ["unknown_outcome"]

        # The inbox: listed for a check above the queue; the run page says so before the answer, with a form.
        browser, csrf = await _signed_in_browser(api, "bob")
        try:
            pending = (await browser.get("/inbox")).text
            assert 'id="calls-to-check"' in pending and f'href="/inbox/runs/{run_id}"' in pending
            page = (await browser.get(f"/inbox/runs/{run_id}")).text
            assert 'id="run-needs-attention"' in page
            assert page.index('id="attention-unknown_outcome"') < page.index('id="run-output"')
            action = f"/inbox/runs/{run_id}/tool-calls/sync-1/resolution"
            assert f'action="{action}"' in page

            # Only approvers and admins record findings; only unknown calls have one to record.
            refused = await api["alice"].post(
                f"/v1/runs/{run_id}/tool-calls/sync-1/resolution", json={"happened": True}
            )
            assert refused.status_code == 403
            known = await api["bob"].post(f"/v1/runs/{run_id}/tool-calls/read-1/resolution", json={"happened": True})
            assert (known.status_code, known.json()["error"]["code"]) == (409, "outcome_not_unknown")
            missing = await api["bob"].post(f"/v1/runs/{run_id}/tool-calls/nope/resolution", json={"happened": True})
            assert (missing.status_code, missing.json()["error"]["code"]) == (404, "tool_call_not_found")
            forged = await browser.post(action, data={"csrf_token": "forged", "happened": "yes"})
            assert forged.status_code == 403

            # Bob checks the CRM and records it in the inbox.
            recorded = await browser.post(
                action, data={"csrf_token": csrf, "happened": "yes", "note": "both in the CRM"}
            )
            assert (recorded.status_code, recorded.headers["location"]) == (303, f"/inbox/runs/{run_id}")
            page = (await browser.get(f"/inbox/runs/{run_id}")).text
            assert "Recorded for sync-1: it happened." in page
            assert 'id="run-needs-attention"' not in page
            assert "checked by bob: it happened (both in the CRM)" in page
            assert 'id="calls-to-check"' not in (await browser.get("/inbox")).text
        finally:
            await browser.aclose()

        detail = (await api["alice"].get(f"/v1/runs/{run_id}")).json()
        assert detail["attention"] == []
        [effect] = detail["outcome"]["effects"]
        assert effect["outcome"] == "unknown"  # it stays unknown in history, with the person's finding
        assert {k: v for k, v in effect["resolution"].items() if k != "resolved_at"} == {
            "happened": True,
            "resolved_by": "bob",
            "note": "both in the CRM",
        }

        # The API records a correction the same way, and answers with the run's attention after it.
        corrected = await api["carol"].post(
            f"/v1/runs/{run_id}/tool-calls/sync-1/resolution", json={"happened": False, "note": "Ben is missing"}
        )
        assert corrected.status_code == 200, corrected.text
        assert (corrected.json()["resolution"]["resolved_by"], corrected.json()["attention"]) == ("carol", [])


async def test_the_cli_shows_an_unknown_call_and_resolves_it(database_url: str, tmp_path: Path) -> None:
    async with running_api(
        api_settings(database_url, tmp_path), model=_model().model, packs=[_timing_out_pack()]
    ) as api:
        run_id, approval_id = await _unknown_run(api)
    signoff = Signoff(env=cli_env(tmp_path / "cli", database_url), database_url=database_url, data_dir=tmp_path / "cli")

    shown = await asyncio.to_thread(signoff.ok, "show", run_id)
    assert shown.splitlines()[0] == f"run {run_id}  [completed, needs attention: unknown_outcome]"
    assert "NEEDS ATTENTION (unknown_outcome): the outcome of 1 call is unknown" in shown
    assert f"signoff resolve {run_id} sync-1 --happened | --did-not-happen" in shown
    [listed] = await asyncio.to_thread(signoff.json, "runs")
    assert [item["kind"] for item in listed["attention"]] == ["unknown_outcome"]

    assert "--happened or --did-not-happen" in await asyncio.to_thread(signoff.usage_error, "resolve", approval_id)
    resolved = await asyncio.to_thread(
        signoff.json, "resolve", approval_id, "--did-not-happen", "--note", "not in the CRM", "--as", "ops:kim"
    )
    assert resolved["resolution"]["happened"] is False
    assert (resolved["run_id"], resolved["tool_call_id"], resolved["attention"]) == (run_id, "sync-1", [])
    assert resolved["resolution"]["resolved_by"] == "ops:kim"
    shown = await asyncio.to_thread(signoff.ok, "show", run_id)
    assert shown.splitlines()[0] == f"run {run_id}  [completed]"
    assert "checked by ops:kim: it did not happen (not in the CRM)" in shown
    error = await asyncio.to_thread(signoff.error, "resolve", run_id, "read-1", "--happened")
    assert "is succeeded, not unknown" in error
