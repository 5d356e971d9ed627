"""The HTTP API's core: tasks, runs, the approval queue, who may do what, and errors as JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.agent.helpers import crm_contact_count
from tests.api.http_support import DEMO, Api, api_settings, running_api


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(api_settings(database_url, tmp_path)) as running:
        yield running


async def test_demo_task_over_http_waits_for_an_approver_then_completes(api: Api) -> None:
    run_id, approval_id = await api.start_demo()

    queue = await api["bob"].get("/v1/approvals")
    assert queue.status_code == 200
    [item] = queue.json()["items"]
    assert item["approval_id"] == approval_id
    assert item["summary"].startswith("Create or update 5 contacts in the CRM")

    decided = await api["bob"].post(f"/v1/approvals/{approval_id}/decision", json={"decision": "approve", "note": "ok"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "approved"

    run = await api.wait_for_run("alice", run_id, until=lambda r: r["status"] == "completed")
    assert "5 contacts created" in run["output"]
    assert await crm_contact_count(api.app.state.runtime.session_factory) == 5
    assert [c["tool"] for c in run["tool_calls"]] == ["discover_leads", "enrich_contacts", "sync_contacts_to_crm"]
    assert run["model_requests"] == 4 and run["cost_usd"] is None and run["unpriced_requests"] == 4

    again = await api["bob"].post(f"/v1/approvals/{approval_id}/decision", json={"decision": "approve"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "approval_already_decided"


async def test_who_may_do_what(api: Api) -> None:
    assert (await api["anonymous"].post("/v1/tasks", json={"message": DEMO})).status_code == 401
    bad = await api["anonymous"].get("/v1/approvals", headers={"Authorization": "Bearer sk-signoff-nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthenticated"
    assert (await api["bob"].post("/v1/tasks", json={"message": DEMO})).status_code == 403
    assert (await api["alice"].get("/v1/approvals")).status_code == 403

    run_id, approval_id = await api.start_demo("dave")
    # Dave requested the run: even as an approver he may not decide its calls.
    refused = await api["dave"].post(f"/v1/approvals/{approval_id}/decision", json={"decision": "approve"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "self_approval_refused"
    # Another requester cannot see Dave's run; an admin can.
    assert (await api["alice"].get(f"/v1/runs/{run_id}")).status_code == 404
    assert (await api["carol"].get(f"/v1/runs/{run_id}")).status_code == 200


async def test_idempotency_key_returns_the_same_run(api: Api) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = await api["alice"].post("/v1/tasks", json={"message": "say hello"}, headers=headers)
    second = await api["alice"].post("/v1/tasks", json={"message": "say hello"}, headers=headers)
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["run_id"] == second.json()["run_id"]
    assert second.json()["created"] is False


async def test_bad_decisions_are_refused_and_change_nothing(api: Api) -> None:
    _run_id, approval_id = await api.start_demo()
    over_limit = {"contacts": [{"email": f"p{i}@acme.example", "first_name": "A", "last_name": "B"} for i in range(11)]}
    edit = await api["bob"].post(
        f"/v1/approvals/{approval_id}/decision", json={"decision": "approve", "edited_args": over_limit}
    )
    assert edit.status_code == 422 and "batch_limit" in edit.json()["error"]["message"]
    invalid = await api["bob"].post(
        f"/v1/approvals/{approval_id}/decision",
        json={"decision": "approve", "edited_args": {"contacts": [{"email": "nope"}]}},
    )
    assert invalid.status_code == 422
    assert {"contacts.0.email"} <= {".".join(map(str, d["loc"])) for d in invalid.json()["error"]["details"]}
    for no_reason in ({"decision": "deny"}, {"decision": "deny", "note": None}, {"decision": "deny", "note": " \n"}):
        refused = await api["bob"].post(f"/v1/approvals/{approval_id}/decision", json=no_reason)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request", no_reason
    edited_denial = {"decision": "deny", "note": "no", "edited_args": {}}
    refused = await api["bob"].post(f"/v1/approvals/{approval_id}/decision", json=edited_denial)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request"
    unknown = await api["bob"].post("/v1/approvals/nope/decision", json={"decision": "approve"})
    assert unknown.status_code == 404
    still = await api["bob"].get(f"/v1/approvals/{approval_id}")
    assert still.json()["state"] == "pending"


async def test_input_limits(api: Api) -> None:
    too_long = await api["alice"].post("/v1/tasks", json={"message": "x" * 4001})
    assert too_long.status_code == 422 and too_long.json()["error"]["code"] == "invalid_request"
    huge = await api["alice"].post("/v1/tasks", content=b"{" + b" " * (300 * 1024) + b"}")
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "body_too_large"
    not_json = await api["alice"].post("/v1/tasks", content=b"nope", headers={"content-type": "application/json"})
    assert not_json.status_code == 422


async def test_follow_up_message_continues_the_conversation(api: Api) -> None:
    first = await api["alice"].post("/v1/tasks", json={"message": "hello"})
    run = await api.wait_for_run("alice", first.json()["run_id"], until=lambda r: r["status"] == "completed")
    conversation_id = run["conversation_id"]
    follow = await api["alice"].post(f"/v1/conversations/{conversation_id}/messages", json={"message": "and again"})
    assert follow.status_code == 202
    second = await api.wait_for_run("alice", follow.json()["run_id"], until=lambda r: r["status"] == "completed")
    assert second["conversation_id"] == conversation_id
    assert [e["content"] for e in second["conversation"] if e["kind"] == "user"] == [["hello"], ["and again"]]
    stranger = await api["dave"].post(f"/v1/conversations/{conversation_id}/messages", json={"message": "hi"})
    assert stranger.status_code == 404


async def test_health_and_readiness(api: Api) -> None:
    assert (await api["anonymous"].get("/healthz")).json() == {"status": "ok"}
    ready = await api["anonymous"].get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["packs"] == {"sales": "sales_0002"}  # every enabled pack's schema is checked too
    # Offline providers call no outside service: nothing to report, nothing degraded.
    assert (ready.json()["services"], ready.json()["degraded"]) == ({}, [])
