"""Watching and accounting over HTTP: a run's event stream, costs, the tool and prompt registries, metrics."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from signoff.agent.store.engine import SessionFactory
from signoff.agent.store.tables import LedgerRow
from signoff.api.event_stream import RETRY_MILLISECONDS, StreamTiming, run_event_stream, sse_frame
from signoff.tools.sales.prompt_dir import SALES_PROMPTS
from tests.api.http_support import DEMO, WAIT_SECONDS, Api, api_settings, running_api


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(api_settings(database_url, tmp_path)) as running:
        yield running


# --- server-sent events ---------------------------------------------------------------------------


@dataclass
class Frame:
    """One dispatched server-sent-events frame (fields as the EventSource spec parses them)."""

    event_id: str | None = None
    event: str | None = None
    data_lines: list[str] = field(default_factory=list)
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def data(self) -> dict[str, Any]:
        return json.loads("\n".join(self.data_lines))


async def sse_frames(lines: AsyncIterator[str]) -> AsyncIterator[Frame]:
    """Parse `text/event-stream` lines into frames; a blank line dispatches the frame so far."""
    frame = Frame()
    async for line in lines:
        if line == "":
            yield frame
            frame = Frame()
            continue
        if line.startswith(":"):
            frame.comments.append(line[1:].removeprefix(" "))
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            frame.event_id = value
        elif name == "event":
            frame.event = value
        elif name == "data":
            frame.data_lines.append(value)
        elif name == "retry":
            frame.retry = int(value)


async def _lines(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
    buffer = ""
    async for chunk in chunks:
        buffer += chunk
        *complete, buffer = buffer.split("\n")
        for line in complete:
            yield line


@asynccontextmanager
async def real_server(app: FastAPI) -> AsyncIterator[uvicorn.Server]:
    """Serve the (already started) app with uvicorn on a free local port, in this event loop.

    httpx's ASGITransport hands a response over only once it has ended, so a stream that stays open
    needs a real socket. The server's `config.port` is the port it listens on.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(
            app, port=sock.getsockname()[1], lifespan="off", log_level="warning", timeout_graceful_shutdown=2
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                if server.started:
                    break
                await asyncio.sleep(0.01)
        yield server
    finally:
        server.should_exit = True
        await serving
        sock.close()


async def _read_stream(
    client: httpx.AsyncClient, url: str, *, headers: dict[str, str], until: str | None = None
) -> tuple[list[Frame], bool]:
    """Frames of one stream, up to the first `until` event (then the client hangs up), or to its end.

    Returns the frames and whether the server ended the stream."""
    frames: list[Frame] = []
    async with asyncio.timeout(WAIT_SECONDS), client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for frame in sse_frames(_lines(response.aiter_text())):
            frames.append(frame)
            if until is not None and frame.event == until:
                return frames, False
    return frames, True


def _events(frames: list[Frame]) -> list[Frame]:
    return [frame for frame in frames if frame.event is not None]


async def test_event_stream_follows_a_run_through_approval_and_resumes_from_last_event_id(api: Api) -> None:
    started = await api["alice"].post("/v1/tasks", json={"message": DEMO})
    run_id = started.json()["run_id"]
    url = f"/v1/runs/{run_id}/events"
    alice = {"Authorization": api["alice"].headers["Authorization"]}

    async with (
        real_server(api.app) as server,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.config.port}") as client,
    ):
        first, _ = await _read_stream(client, url, headers=alice, until="awaiting_approval")
        # The client hung up on a run that is still waiting: the server stops streaming (and polling).
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                if not server.server_state.tasks:
                    break
                await asyncio.sleep(0.01)
        assert first[0].retry is not None and first[0].event is None
        events = _events(first)
        assert events[0].event == "run_started"
        assert events[0].data == {
            "event_id": int(events[0].event_id or 0),
            "run_id": run_id,
            "kind": "run_started",
            "created_at": events[0].data["created_at"],
            "payload": {"task": DEMO, "requested_by": "alice"},
        }
        assert {"tool_call", "decision", "tool_result", "approval_requested"} <= {e.event for e in events}
        ids = [int(e.event_id or 0) for e in events]
        assert ids == sorted(set(ids))
        [approval_id] = events[-1].data["payload"]["approval_ids"]

        decided = await api["bob"].post(f"/v1/approvals/{approval_id}/decision", json={"decision": "approve"})
        assert decided.status_code == 200, decided.text

        resumed = {**alice, "Last-Event-ID": str(ids[-1])}
        second, ended = await _read_stream(client, url, headers=resumed)
        assert ended, "the stream ends by itself after the run's last event"
        later = _events(second)
        assert all(int(e.event_id or 0) > ids[-1] for e in later)
        assert later[0].event == "approval_decided"
        assert later[-1].event == "completed"
        assert "run_resumed" in [e.event for e in later]
        assert "5 contacts created" in str(later[-1].data["payload"])

        # Nothing left for a finished run: 204 tells an EventSource to stop reconnecting.
        done = await client.get(url, headers={**alice, "Last-Event-ID": str(later[-1].event_id)})
        assert done.status_code == 204

    # `?after=` is the alternative to the header; the header wins when both are given.
    by_query = await api["alice"].get(url, params={"after": ids[-1]})
    assert by_query.status_code == 200
    assert [f.event_id for f in _events([f async for f in sse_frames(_aiter(by_query.text))])] == [
        e.event_id for e in later
    ]
    header_wins = await api["alice"].get(url, params={"after": 0}, headers={"Last-Event-ID": str(later[-1].event_id)})
    assert header_wins.status_code == 204


async def _aiter(text: str) -> AsyncIterator[str]:
    for line in text.split("\n"):
        yield line


async def test_event_stream_has_the_visibility_of_the_run(api: Api) -> None:
    started = await api["alice"].post("/v1/tasks", json={"message": "say hello"})
    run_id = started.json()["run_id"]
    await api.wait_for_run("alice", run_id, until=lambda r: r["status"] == "completed")
    url = f"/v1/runs/{run_id}/events"
    for stranger in ("dave", "bob"):  # another requester; an approver who is no requester
        refused = await api[stranger].get(url)
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "run_not_found"
    assert (await api["anonymous"].get(url)).status_code == 401
    assert (await api["alice"].get("/v1/runs/nope/events")).status_code == 404
    admin = await api["carol"].get(url)
    assert admin.status_code == 200 and admin.headers["cache-control"] == "no-store"
    assert [f.event for f in _events([f async for f in sse_frames(_aiter(admin.text))])][-1] == "completed"
    bad = await api["alice"].get(url, headers={"Last-Event-ID": "yesterday"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    for after in (-1, 2**64):
        assert (await api["alice"].get(url, params={"after": after})).status_code == 422


async def test_a_waiting_run_keeps_its_stream_open_with_heartbeats_until_the_time_limit(api: Api) -> None:
    started = await api["alice"].post("/v1/tasks", json={"message": DEMO})
    run_id = started.json()["run_id"]
    await api.wait_for_run("alice", run_id, until=lambda r: r["status"] == "awaiting_approval")
    # The limit leaves room for many heartbeat intervals after the replay, even on a slow database.
    timing = StreamTiming(poll_seconds=0.01, heartbeat_seconds=0.05, max_stream_seconds=1.5, retry_milliseconds=1500)
    session_factory = api.app.state.runtime.session_factory
    async with asyncio.timeout(WAIT_SECONDS):
        frames = [
            frame
            async for frame in sse_frames(
                _lines(run_event_stream(session_factory, run_id=run_id, timing=timing))  # ends by its time limit
            )
        ]
    assert frames[0].retry == 1500
    assert _events(frames)[-1].event == "awaiting_approval"
    last_event = frames.index(_events(frames)[-1])
    assert any("keep-alive" in frame.comments for frame in frames[last_event + 1 :])

    calls = 0

    async def hung_up() -> bool:
        nonlocal calls
        calls += 1
        return calls > 1

    async with asyncio.timeout(WAIT_SECONDS):
        after_hang_up = [
            chunk async for chunk in run_event_stream(session_factory, run_id=run_id, is_disconnected=hung_up)
        ]
    # One poll's events, then the stream notices the client is gone (no time limit involved).
    assert "event: awaiting_approval" in "".join(after_hang_up)


async def test_a_stream_ends_cleanly_when_the_database_does_not_answer() -> None:
    def unreachable() -> AsyncSession:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError())

    frames = [chunk async for chunk in run_event_stream(cast(SessionFactory, unreachable), run_id="r")]
    assert frames == [sse_frame(retry_milliseconds=RETRY_MILLISECONDS)]


def test_frames_cannot_be_broken_by_line_breaks_in_data() -> None:
    assert sse_frame(event_id=7, event="model_text", data="one\ntwo") == (
        "id: 7\nevent: model_text\ndata: one\ndata: two\n\n"
    )
    assert sse_frame(comment="keep-alive") == ": keep-alive\n\n"
    assert sse_frame(retry_milliseconds=3000) == "retry: 3000\n\n"


# --- costs, tools, prompts -----------------------------------------------------------------------


async def _completed_demo(api: Api) -> str:
    started = await api["alice"].post("/v1/tasks", json={"message": DEMO})
    run_id = started.json()["run_id"]
    run = await api.wait_for_run("alice", run_id, until=lambda r: r["status"] == "awaiting_approval")
    [pending] = run["pending_approvals"]
    decided = await api["bob"].post(f"/v1/approvals/{pending['approval_id']}/decision", json={"decision": "approve"})
    assert decided.status_code == 200, decided.text
    await api.wait_for_run("alice", run_id, until=lambda r: r["status"] == "completed")
    return run_id


async def test_costs_by_each_grouping_for_admins(api: Api) -> None:
    run_id = await _completed_demo(api)
    async with api.app.state.runtime.session_factory.begin() as session:
        session.add(
            LedgerRow(
                run_id=run_id,
                step=99,
                purpose="test",
                model_name="anthropic:claude-priced",
                input_tokens=1000,
                output_tokens=200,
                cache_read_tokens=50,
                cache_write_tokens=10,
                cost_usd=Decimal("0.0123"),
                prompt_name="sales_agent",
                prompt_version="1",
                prompt_hash="sha256:test",
                latency_ms=5,
                created_at=datetime.now(UTC),
            )
        )

    by_model = await api["carol"].get("/v1/costs", params={"group_by": "model"})
    assert by_model.status_code == 200, by_model.text
    report = by_model.json()
    assert report["group_by"] == "model" and report["from"] is None and report["to"] is None
    lines = {line["group"]: line for line in report["lines"]}
    priced = lines.pop("anthropic:claude-priced")
    assert priced["cost_usd"] == "0.0123" and priced["unpriced_requests"] == 0 and priced["input_tokens"] == 1000
    [offline] = lines.values()
    assert offline["requests"] == 4 and offline["cost_usd"] is None and offline["unpriced_requests"] == 4
    assert report["total"]["requests"] == 5 and report["total"]["cost_usd"] == "0.0123"
    assert report["total"]["unpriced_requests"] == 4

    by_run = (await api["carol"].get("/v1/costs", params={"group_by": "run"})).json()
    assert [line["group"] for line in by_run["lines"]] == [run_id]
    by_prompt = (await api["carol"].get("/v1/costs", params={"group_by": "prompt"})).json()
    assert [line["group"] for line in by_prompt["lines"]] == ["sales_agent@1"]
    by_day = (await api["carol"].get("/v1/costs")).json()
    assert by_day["group_by"] == "day"
    assert [line["group"] for line in by_day["lines"]] == [datetime.now(UTC).date().isoformat()]
    assert by_day["total"] == by_run["total"] == by_prompt["total"] == {**report["total"], "group": "total"}

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    empty = (await api["carol"].get("/v1/costs", params={"from": tomorrow})).json()
    assert empty["lines"] == [] and empty["total"]["requests"] == 0 and empty["total"]["cost_usd"] is None
    assert empty["from"] == f"{tomorrow}T00:00:00+00:00"
    bounded = await api["carol"].get("/v1/costs", params={"from": "2000-01-01T00:00:00Z", "to": tomorrow})
    assert bounded.json()["total"]["requests"] == 5


async def test_costs_refuse_other_roles_and_bad_input(api: Api) -> None:
    for principal in ("alice", "bob", "dave"):
        refused = await api[principal].get("/v1/costs")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert (await api["anonymous"].get("/v1/costs")).status_code == 401
    for params in (
        {"group_by": "week"},
        {"from": "yesterday"},
        {"to": "2025-13-01"},
        # Only RFC 3339 date-times (with a zone) and dates, as the schema says: no epoch numbers, no bare times.
        {"to": "0.5"},
        {"from": "1700000000"},
        {"from": "2025-06-01T08:00"},
        {"from": "2025-06-01 08:00:00Z"},
    ):
        bad = await api["carol"].get("/v1/costs", params=params)
        assert bad.status_code == 422, params
        assert bad.json()["error"]["code"] == "invalid_request"
    # Valid bounds are answered: an empty range is empty, a bound beyond what a datetime holds is its edge.
    for params in (
        {"from": "2025-06-02", "to": "2025-06-01"},
        {"from": "0001-01-01T00:00:00+05:00"},
        {"to": "9999-12-31T23:59:59-05:00"},
        {"from": "2016-12-31T23:59:60Z"},
    ):
        answered = await api["carol"].get("/v1/costs", params=params)
        assert answered.status_code == 200, (params, answered.text)
    empty = (await api["carol"].get("/v1/costs", params={"from": "2025-06-02", "to": "2025-06-01"})).json()
    assert empty["lines"] == [] and empty["total"]["requests"] == 0


async def test_tools_list_the_registry_with_its_metadata(api: Api) -> None:
    assert (await api["anonymous"].get("/v1/tools")).status_code == 401
    for principal in ("alice", "bob", "carol"):
        assert (await api[principal].get("/v1/tools")).status_code == 200
    tools = {tool["name"]: tool for tool in (await api["bob"].get("/v1/tools")).json()["tools"]}
    assert sorted(tools) == sorted(spec.name for spec in api.app.state.runtime.registry)
    assert {"discover_leads", "enrich_contacts", "sync_contacts_to_crm", "send_email"} <= set(tools)
    sync = tools["sync_contacts_to_crm"]
    assert sync["destructive"] is True and sync["requires_approval"] is True
    assert sync["max_batch"] == 10 and sync["batch_arg"] == "contacts"
    assert "contacts" in sync["parameters"]["properties"]
    assert tools["discover_leads"]["destructive"] is False and tools["discover_leads"]["idempotent"] is True
    # Which tools return outside data (the provenance rule traces values from them), and which do not.
    assert {name: tool["untrusted_output"] for name, tool in tools.items()} == {
        spec.name: spec.untrusted_output for spec in api.app.state.runtime.registry
    }
    assert tools["get_contact"]["untrusted_output"] is True and sync["untrusted_output"] is False
    assert Decimal(tools["send_email"]["unit_cost_usd"]) >= 0


async def test_prompts_list_versions_hashes_and_labels(api: Api) -> None:
    assert (await api["anonymous"].get("/v1/prompts")).status_code == 401
    response = await api["alice"].get("/v1/prompts")
    assert response.status_code == 200
    prompts = {prompt["name"]: prompt for prompt in response.json()["prompts"]}
    sales = prompts["sales_agent"]
    assert sales["labels"]["production"] == "1"
    version_1 = next(v for v in sales["versions"] if v["version"] == "1")
    file_hash = hashlib.sha256((SALES_PROMPTS.templates_dir / "sales_agent" / "v1.j2").read_bytes()).hexdigest()
    assert version_1["content_hash"] == f"sha256:{file_hash}"
    assert "production" in version_1["labels"]
    assert version_1["model"].startswith("anthropic:") and version_1["description"]


# --- metrics -------------------------------------------------------------------------------------


async def _metrics(api: Api) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await api["anonymous"].get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _label(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


async def test_metrics_count_runs_approvals_decisions_and_tokens(api: Api) -> None:
    before = await _metrics(api)
    assert before[("signoff_runs", _label(status="completed"))] == 0
    assert before[("signoff_approvals_pending", _label())] == 0

    started = await api["alice"].post("/v1/tasks", json={"message": DEMO})
    run_id = started.json()["run_id"]
    run = await api.wait_for_run("alice", run_id, until=lambda r: r["status"] == "awaiting_approval")
    waiting = await _metrics(api)
    assert waiting[("signoff_runs", _label(status="awaiting_approval"))] == 1
    assert waiting[("signoff_approvals", _label(state="pending"))] == 1
    assert waiting[("signoff_approvals_pending", _label())] == 1

    [pending] = run["pending_approvals"]
    await api["bob"].post(f"/v1/approvals/{pending['approval_id']}/decision", json={"decision": "approve"})
    run = await api.wait_for_run("alice", run_id, until=lambda r: r["status"] == "completed")

    async with asyncio.timeout(WAIT_SECONDS):  # the background task ends just after the run does
        while True:
            after = await _metrics(api)
            if after[("signoff_runs_in_flight", _label())] == 0:
                break
            await asyncio.sleep(0.05)
    assert after[("signoff_runs", _label(status="completed"))] == 1
    assert after[("signoff_runs", _label(status="awaiting_approval"))] == 0
    assert after[("signoff_approvals", _label(state="executed"))] == 1
    assert after[("signoff_approvals_pending", _label())] == 0

    expected = Counter((call["rule"], call["verdict"]) for call in run["tool_calls"])
    decisions = {
        (dict(labels)["rule"], dict(labels)["verdict"]): value
        for (name, labels), value in after.items()
        if name == "signoff_tool_call_decisions_total"
    }
    assert decisions == expected and sum(decisions.values()) == 3

    costs = (await api["carol"].get("/v1/costs", params={"group_by": "model"})).json()
    [line] = costs["lines"]
    model = _label(model=line["group"])
    assert after[("signoff_model_requests_total", model)] == line["requests"] == 4
    assert after[("signoff_model_unpriced_requests_total", model)] == 4
    assert after[("signoff_model_cost_usd_total", model)] == 0
    for kind in ("input", "output", "cache_read", "cache_write"):
        tokens = after[("signoff_model_tokens_total", _label(model=line["group"], kind=kind))]
        assert tokens == line[f"{kind}_tokens"]
    assert after[("signoff_model_tokens_total", _label(model=line["group"], kind="input"))] > 0
