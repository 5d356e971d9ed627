"""Every route of the core routers (tasks, conversations, runs, approvals) with each role and each error.

test_http_core.py walks the main paths; this module covers the rest: filters and pages of the queue,
each kind of decision, who gets 401/403/404, and the 409/413/422/429 answers, always as JSON.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from signoff.agent.store.tables import ApprovalRow
from signoff.api.errors import install_error_handlers
from signoff.api.rate_limit import RateLimiter
from tests.agent.helpers import contacts, crm_contact_count
from tests.api.http_support import Api, api_settings, running_api

CRM_TOOL = "sync_contacts_to_crm"


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(api_settings(database_url, tmp_path)) as running:
        yield running


def _error(response: Any, status_code: int, code: str) -> dict[str, Any]:
    """Assert an error answer: the status, JSON with the code and a message; returns the error object."""
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    return error


# Tasks and conversations


async def test_a_task_is_accepted_with_its_links(api: Api) -> None:
    response = await api["alice"].post("/v1/tasks", json={"message": "hello", "context": {"account": "Acme"}})
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["created"] is True and accepted["status"] == "running"
    assert response.headers["Location"] == accepted["links"]["run"] == f"/v1/runs/{accepted['run_id']}"
    assert accepted["links"]["events"] == f"/v1/runs/{accepted['run_id']}/events"
    run = await api.wait_for_run("alice", accepted["run_id"], until=lambda r: r["status"] == "completed")
    assert run["requested_by"] == "alice" and run["task"] == "hello"


async def test_admins_may_start_tasks_and_approvers_may_not(api: Api) -> None:
    assert (await api["carol"].post("/v1/tasks", json={"message": "hello"})).status_code == 202
    _error(await api["bob"].post("/v1/tasks", json={"message": "hello"}), 403, "forbidden")
    follow_up = await api["bob"].post("/v1/conversations/whatever/messages", json={"message": "hi"})
    _error(follow_up, 403, "forbidden")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"message": ""},
        {"message": 42},
        {"message": "hi", "unexpected": True},
        {"message": "hi", "context": ["not", "an", "object"]},
        {"message": "hi", "conversation_id": "c" * 65},
    ],
)
async def test_invalid_task_bodies_are_422_with_field_details(api: Api, body: dict[str, Any]) -> None:
    error = _error(await api["alice"].post("/v1/tasks", json=body), 422, "invalid_request")
    assert error["details"] and all(detail["loc"] and detail["msg"] for detail in error["details"])


async def test_context_over_its_limit_is_an_invalid_task(api: Api) -> None:
    response = await api["alice"].post("/v1/tasks", json={"message": "hi", "context": {"notes": "x" * 21_000}})
    _error(response, 422, "invalid_task")


async def test_a_task_may_continue_its_own_conversation_only(api: Api) -> None:
    first = (await api["alice"].post("/v1/tasks", json={"message": "hello"})).json()
    await api.wait_for_run("alice", first["run_id"], until=lambda r: r["status"] == "completed")
    again = await api["alice"].post("/v1/tasks", json={"message": "again", "conversation_id": first["conversation_id"]})
    assert again.status_code == 202 and again.json()["conversation_id"] == first["conversation_id"]
    stranger = await api["dave"].post("/v1/tasks", json={"message": "hi", "conversation_id": first["conversation_id"]})
    _error(stranger, 404, "conversation_not_found")
    unknown = await api["alice"].post("/v1/tasks", json={"message": "hi", "conversation_id": "no-such-conversation"})
    _error(unknown, 404, "conversation_not_found")


async def test_a_conversation_with_a_run_in_progress_is_busy(api: Api) -> None:
    run = await api.demo_awaiting_approval()
    follow_up = await api["alice"].post(
        f"/v1/conversations/{run['conversation_id']}/messages", json={"message": "and?"}
    )
    _error(follow_up, 409, "conversation_busy")
    unknown = await api["alice"].post("/v1/conversations/nope/messages", json={"message": "hi"})
    _error(unknown, 404, "conversation_not_found")
    _error(await api["alice"].post("/v1/conversations/nope/messages", json={"message": ""}), 422, "invalid_request")


async def test_idempotency_keys_are_per_principal_and_cover_follow_ups(api: Api) -> None:
    headers = {"Idempotency-Key": "invoice-7"}
    first = await api["alice"].post("/v1/tasks", json={"message": "hello"}, headers=headers)
    replay = await api["alice"].post("/v1/tasks", json={"message": "hello"}, headers=headers)
    assert (first.status_code, replay.status_code) == (202, 200)
    assert replay.json()["run_id"] == first.json()["run_id"] and replay.json()["created"] is False
    assert replay.headers["Location"] == f"/v1/runs/{first.json()['run_id']}"
    # Another principal's key of the same name is another request.
    other = await api["dave"].post("/v1/tasks", json={"message": "hello"}, headers=headers)
    assert other.status_code == 202 and other.json()["run_id"] != first.json()["run_id"]

    await api.wait_for_run("alice", first.json()["run_id"], until=lambda r: r["status"] == "completed")
    path = f"/v1/conversations/{first.json()['conversation_id']}/messages"
    follow_up_key = {"Idempotency-Key": "follow-up-1"}
    follow_up = await api["alice"].post(path, json={"message": "more"}, headers=follow_up_key)
    follow_up_replay = await api["alice"].post(path, json={"message": "more"}, headers=follow_up_key)
    assert (follow_up.status_code, follow_up_replay.status_code) == (202, 200)
    assert follow_up_replay.json()["run_id"] == follow_up.json()["run_id"]

    too_long = await api["alice"].post("/v1/tasks", json={"message": "hi"}, headers={"Idempotency-Key": "k" * 201})
    _error(too_long, 422, "invalid_request")


# Runs


async def test_who_may_read_a_run(api: Api) -> None:
    accepted = (await api["alice"].post("/v1/tasks", json={"message": "hello"})).json()
    run_path = f"/v1/runs/{accepted['run_id']}"
    assert (await api["alice"].get(run_path)).status_code == 200
    assert (await api["carol"].get(run_path)).status_code == 200
    # Neither another requester nor an approver learns that the run exists.
    _error(await api["dave"].get(run_path), 404, "run_not_found")
    _error(await api["bob"].get(run_path), 404, "run_not_found")
    _error(await api["alice"].get("/v1/runs/no-such-run"), 404, "run_not_found")
    unauthenticated = _error(await api["anonymous"].get(run_path), 401, "unauthenticated")
    assert "Bearer" in unauthenticated["message"]


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer    ", "Basic dXNlcjpwYXNz", "Bearer sk-signoff-unknown", "Bearer not-a-signoff-key"],
)
async def test_missing_or_bad_keys_are_401_with_a_challenge(api: Api, authorization: str) -> None:
    response = await api["anonymous"].get("/v1/approvals", headers={"Authorization": authorization})
    _error(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"] == "Bearer"


# The approval queue


async def _add_approvals(
    api: Api,
    template: ApprovalRow,
    *,
    count: int,
    created_from: datetime,
    per_second: int = 1,
    tool_name: str = CRM_TOOL,
    state: str = "pending",
) -> list[str]:
    """Copies of `template` for the same run with their own ids and times, `per_second` sharing each
    second (so pages must break ties by id); returns their ids."""
    rows = [
        ApprovalRow(
            **{
                column: getattr(template, column)
                for column in (c.key for c in ApprovalRow.__table__.columns)
                if column not in {"approval_id", "tool_call_id", "created_at", "tool_name", "state"}
            },
            approval_id=f"{tool_name}-{state}-{index:04d}",
            tool_call_id=f"call-{tool_name}-{state}-{index:04d}",
            created_at=created_from + timedelta(seconds=index // per_second),
            tool_name=tool_name,
            state=state,
        )
        for index in range(count)
    ]
    async with api.app.state.runtime.session_factory.begin() as session:
        session.add_all(rows)
    return [row.approval_id for row in rows]


async def _approval_row(api: Api, approval_id: str) -> ApprovalRow:
    async with api.app.state.runtime.session_factory() as session:
        return (await session.execute(select(ApprovalRow).where(ApprovalRow.approval_id == approval_id))).scalar_one()


async def test_the_queue_pages_through_120_pending_oldest_first_without_duplicates(api: Api) -> None:
    run = await api.demo_awaiting_approval()
    [demo] = run["pending_approvals"]
    template = await _approval_row(api, demo["approval_id"])
    # 119 more, three to a second, all after the demo's own approval.
    await _add_approvals(
        api, template, count=119, created_from=template.created_at + timedelta(seconds=1), per_second=3
    )

    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        params = {"cursor": cursor} if cursor else {}
        response = await api["bob"].get("/v1/approvals", params=params)
        assert response.status_code == 200, response.text
        pages.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break

    assert [len(page) for page in pages] == [50, 50, 20]
    items = [item for page in pages for item in page]
    ids = [item["approval_id"] for item in items]
    assert len(set(ids)) == 120 and ids[0] == demo["approval_id"]
    assert [(item["created_at"], item["approval_id"]) for item in items] == sorted(
        (item["created_at"], item["approval_id"]) for item in items
    )
    assert {item["state"] for item in items} == {"pending"}

    small_pages = await api["bob"].get("/v1/approvals", params={"limit": 7})
    assert [item["approval_id"] for item in small_pages.json()["items"]] == ids[:7]


async def test_the_queue_filters_by_status_tool_and_run(api: Api) -> None:
    first = await api.demo_awaiting_approval()
    second = await api.demo_awaiting_approval("dave")
    template = await _approval_row(api, first["pending_approvals"][0]["approval_id"])
    later = template.created_at + timedelta(minutes=1)
    emails = await _add_approvals(api, template, count=3, created_from=later, tool_name="send_email")
    denied = await _add_approvals(api, template, count=2, created_from=later, state="denied")

    async def ids(**params: Any) -> list[str]:
        response = await api["bob"].get("/v1/approvals", params=params)
        assert response.status_code == 200, response.text
        return [item["approval_id"] for item in response.json()["items"]]

    first_id = first["pending_approvals"][0]["approval_id"]
    second_id = second["pending_approvals"][0]["approval_id"]
    assert await ids() == [first_id, second_id, *emails]
    assert await ids(tool="send_email") == emails
    assert await ids(tool=CRM_TOOL) == [first_id, second_id]
    assert await ids(run_id=second["run_id"]) == [second_id]
    assert await ids(run_id=first["run_id"], tool="send_email") == emails
    assert await ids(status="denied") == denied
    assert await ids(status="approved") == []
    assert await ids(tool="no_such_tool") == []
    assert await ids(run_id="no-such-run") == []


@pytest.mark.parametrize(
    "params",
    [{"status": "waiting"}, {"limit": 0}, {"limit": 201}, {"limit": "ten"}, {"tool": "t" * 201}],
)
async def test_invalid_queue_queries_are_422(api: Api, params: dict[str, Any]) -> None:
    _error(await api["bob"].get("/v1/approvals", params=params), 422, "invalid_request")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "",
        # The base64 JSON cursors this API gave out before cursors had a documented form.
        base64.urlsafe_b64encode(json.dumps(["2026-11-27T09:00:00+00:00", "a"]).encode()).decode().rstrip("="),
        "1764234000000000",  # no approval id part
        "-1_approval",
        "1" * 18 + "_approval",  # past year 9999
        "1764234000000000_not/an/id",
    ],
    ids=["garbage", "empty", "old-base64", "no-id", "negative", "too-many-digits", "id-not-an-id"],
)
async def test_a_cursor_outside_its_documented_pattern_is_422(api: Api, cursor: str) -> None:
    _error(await api["bob"].get("/v1/approvals", params={"cursor": cursor}), 422, "invalid_cursor")


@pytest.mark.parametrize("cursor", ["0_", "1764234000000000_a", "99999999999999999_zzz", "5_" + "f" * 64])
async def test_every_cursor_the_schema_allows_is_a_position(api: Api, cursor: str) -> None:
    # The schema's pattern is the whole rule: any cursor of that form is a position, even one no page gave out.
    response = await api["bob"].get("/v1/approvals", params={"cursor": cursor})
    assert response.status_code == 200, response.text


async def test_only_approvers_read_the_queue(api: Api) -> None:
    run = await api.demo_awaiting_approval()
    approval_id = run["pending_approvals"][0]["approval_id"]
    for principal in ("alice", "carol"):
        _error(await api[principal].get("/v1/approvals"), 403, "forbidden")
        _error(await api[principal].get(f"/v1/approvals/{approval_id}"), 403, "forbidden")
        decided = await api[principal].post(f"/v1/approvals/{approval_id}/decision", json={"decision": "approve"})
        _error(decided, 403, "forbidden")
    _error(await api["anonymous"].get(f"/v1/approvals/{approval_id}"), 401, "unauthenticated")
    one = await api["bob"].get(f"/v1/approvals/{approval_id}")
    assert one.status_code == 200 and one.json()["run_id"] == run["run_id"] and one.json()["tool"] == CRM_TOOL
    _error(await api["bob"].get("/v1/approvals/no-such-approval"), 404, "approval_not_found")


# Decisions


async def test_a_denial_with_a_note_lets_the_run_finish_without_the_call(api: Api) -> None:
    run = await api.demo_awaiting_approval()
    approval_id = run["pending_approvals"][0]["approval_id"]
    denied = await api["bob"].post(
        f"/v1/approvals/{approval_id}/decision", json={"decision": "deny", "note": "not this quarter"}
    )
    assert denied.status_code == 200, denied.text
    assert denied.json()["state"] == "denied" and denied.json()["decided_by"] == "bob"
    assert denied.json()["decision_note"] == "not this quarter"
    finished = await api.wait_for_run("alice", run["run_id"], until=lambda r: r["status"] in {"completed", "failed"})
    assert finished["status"] == "completed" and finished["pending_approvals"] == []
    assert await crm_contact_count(api.app.state.runtime.session_factory) == 0
    again = await api["bob"].post(f"/v1/approvals/{approval_id}/decision", json={"decision": "approve"})
    _error(again, 409, "approval_already_decided")


async def test_an_edited_approval_executes_the_edited_arguments(api: Api) -> None:
    run = await api.demo_awaiting_approval()
    approval_id = run["pending_approvals"][0]["approval_id"]
    edited = {"contacts": contacts(3)}
    decided = await api["bob"].post(
        f"/v1/approvals/{approval_id}/decision",
        json={"decision": "approve", "edited_args": edited, "note": "only the first three"},
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "approved"
    assert [c["email"] for c in decided.json()["approved_args"]["contacts"]] == [c["email"] for c in contacts(3)]
    assert len(decided.json()["requested_args"]["contacts"]) == 5
    await api.wait_for_run("alice", run["run_id"], until=lambda r: r["status"] == "completed")
    assert await crm_contact_count(api.app.state.runtime.session_factory) == 3


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"decision": "maybe"}, "invalid_request"),
        ({"decision": "approve", "extra": 1}, "invalid_request"),
        ({"decision": "approve", "note": "n" * 2001}, "invalid_request"),
        ({"decision": "approve", "edited_args": ["not", "an", "object"]}, "invalid_request"),
        ({"decision": "deny", "note": "no", "edited_args": {"contacts": []}}, "invalid_request"),
        # A denial without a reason does not fit the schema (it refused only in the service before).
        ({"decision": "deny"}, "invalid_request"),
        ({"decision": "deny", "note": None}, "invalid_request"),
        ({"decision": "approve", "edited_args": {"contacts": "everyone"}}, "approval_refused"),
    ],
)
async def test_invalid_decisions_are_422_and_leave_the_approval_pending(
    api: Api, body: dict[str, Any], code: str
) -> None:
    run = await api.demo_awaiting_approval()
    approval_id = run["pending_approvals"][0]["approval_id"]
    _error(await api["bob"].post(f"/v1/approvals/{approval_id}/decision", json=body), 422, code)
    assert (await api["bob"].get(f"/v1/approvals/{approval_id}")).json()["state"] == "pending"


async def test_decisions_on_unknown_approvals_are_404(api: Api) -> None:
    for decision in ({"decision": "approve"}, {"decision": "deny", "note": "no"}):
        _error(
            await api["bob"].post("/v1/approvals/no-such-approval/decision", json=decision), 404, "approval_not_found"
        )


async def test_a_decision_body_over_the_limit_is_413(api: Api) -> None:
    run = await api.demo_awaiting_approval()
    approval_id = run["pending_approvals"][0]["approval_id"]
    huge = json.dumps({"decision": "deny", "note": "n" * (300 * 1024)})
    response = await api["bob"].post(
        f"/v1/approvals/{approval_id}/decision", content=huge, headers={"content-type": "application/json"}
    )
    _error(response, 413, "body_too_large")
    assert (await api["bob"].get(f"/v1/approvals/{approval_id}")).json()["state"] == "pending"


async def test_self_approval_is_refused_unless_the_service_allows_it(database_url: str, tmp_path: Path) -> None:
    async with running_api(api_settings(database_url, tmp_path, allow_self_approval=True)) as api:
        run = await api.demo_awaiting_approval("dave")
        approval_id = run["pending_approvals"][0]["approval_id"]
        decided = await api["dave"].post(f"/v1/approvals/{approval_id}/decision", json={"decision": "approve"})
        assert decided.status_code == 200 and decided.json()["decided_by"] == "dave"


# Errors and limits


async def test_a_body_that_is_not_json_is_422_and_one_that_cannot_be_decoded_is_400(api: Api) -> None:
    headers = {"content-type": "application/json"}
    _error(await api["alice"].post("/v1/tasks", content=b'{"message": ', headers=headers), 422, "invalid_request")
    _error(await api["alice"].post("/v1/tasks", content=b"\xff\xfe\x00", headers=headers), 400, "http_400")


async def test_unknown_routes_and_methods_are_json_errors(api: Api) -> None:
    _error(await api["alice"].get("/v1/nothing-here"), 404, "http_404")
    _error(await api["alice"].delete("/v1/tasks"), 405, "http_405")


class _FakePostgresError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


async def test_text_postgresql_cannot_store_is_422_and_other_database_errors_500() -> None:
    # PostgreSQL refuses NUL characters (SQLSTATE 22021) that SQLite stores: the client's error, not ours.
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/store/{sqlstate}")
    async def store(sqlstate: str) -> None:
        raise DBAPIError("INSERT ...", {}, _FakePostgresError(sqlstate))

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://signoff.test") as client:
        _error(await client.get("/store/22021"), 422, "invalid_request")
        _error(await client.get("/store/22P05"), 422, "invalid_request")
        _error(await client.get("/store/40001"), 500, "internal_error")


class _ManualClock:
    """Monotonic seconds that a test moves by hand."""

    def __init__(self) -> None:
        self.seconds = 1_000.0

    def __call__(self) -> float:
        return self.seconds


async def test_a_key_over_its_burst_gets_429_with_retry_after(database_url: str, tmp_path: Path) -> None:
    clock = _ManualClock()
    settings = api_settings(database_url, tmp_path, rate_limit_per_minute=30, rate_limit_burst=3)
    limiter = RateLimiter(per_minute=settings.rate_limit_per_minute, burst=settings.rate_limit_burst, clock=clock)
    async with running_api(settings, rate_limiter=limiter) as api:
        for _ in range(3):
            assert (await api["bob"].get("/v1/approvals")).status_code == 200
        limited = await api["bob"].get("/v1/approvals")
        error = _error(limited, 429, "rate_limited")
        # 30 a minute is one token every 2 seconds.
        assert limited.headers["Retry-After"] == "2" and "30 requests a minute" in error["message"]
        # Each route that takes a key is limited, and the refusal costs nothing.
        _error(await api["bob"].get("/v1/approvals/whatever"), 429, "rate_limited")

        # Other keys have their own buckets; unauthenticated requests and health checks are not limited.
        assert (await api["alice"].post("/v1/tasks", json={"message": "hello"})).status_code == 202
        _error(await api["anonymous"].get("/v1/approvals"), 401, "unauthenticated")
        assert (await api["bob"].get("/healthz")).status_code == 200
        assert (await api["bob"].get("/readyz")).status_code == 200

        clock.seconds += 1.5
        assert (await api["bob"].get("/v1/approvals")).headers.get("Retry-After") == "1"
        clock.seconds += 0.5
        assert (await api["bob"].get("/v1/approvals")).status_code == 200
        # A long pause refills the bucket to the burst, no further.
        clock.seconds += 3_600
        statuses = [(await api["bob"].get("/v1/approvals")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]


def test_settings_default_rate_limit_and_refuse_zero(tmp_path: Path) -> None:
    settings = api_settings("sqlite+aiosqlite:///unused.db", tmp_path)
    assert (settings.rate_limit_per_minute, settings.rate_limit_burst) == (120, 30)
    with pytest.raises(ValueError, match="rate_limit_burst"):
        api_settings("sqlite+aiosqlite:///unused.db", tmp_path, rate_limit_burst=0)
