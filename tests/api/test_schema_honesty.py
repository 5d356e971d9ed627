"""The OpenAPI schema and the server agree on the requests issue #13 found them disagreeing on.

Each request is judged twice: by the served schema (JSON Schema validation of the parameter or body,
formats included) and by the server (accepted, or refused with 422). The verdicts must match. The fuzz
test (test_api_fuzz.py) checks the same for generated requests; these are the named cases.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from tests.api.http_support import Api, api_settings, running_api


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(api_settings(database_url, tmp_path)) as running:
        yield running


async def _document(api: Api) -> dict[str, Any]:
    response = await api["anonymous"].get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def _allows(schema: dict[str, Any], value: Any, document: dict[str, Any]) -> bool:
    rooted = {**schema, "components": document.get("components", {})}
    return jsonschema_rs.validator_for(rooted, validate_formats=True).is_valid(value)


def _parameter_schema(document: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    [parameter] = [p for p in document["paths"][path][method]["parameters"] if p["name"] == name]
    return parameter["schema"]


def _body_schema(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]


def _accepted(response: Any) -> bool:
    assert response.status_code < 500, response.text
    if response.status_code == 422:
        return False
    assert response.status_code in {200, 204}, response.text
    return True


async def test_a_time_bound_is_an_rfc_3339_date_time_or_date_never_an_epoch_number(api: Api) -> None:
    document = await _document(api)
    for name in ("from", "to"):
        schema = _parameter_schema(document, "/v1/costs", "get", name)
        for value in ("0.5", "1700000000", "2025-06-01T08:00", "2025-06-01T08:00:00Z", "2025-06-01", "2025-02-30"):
            response = await api["carol"].get("/v1/costs", params={name: value})
            assert _accepted(response) == _allows(schema, value, document), (name, value, response.text)
    refused = await api["carol"].get("/v1/costs", params={"to": "0.5"})
    assert refused.status_code == 422  # read as half a second after 1970 before


async def test_every_cursor_of_the_documented_form_is_taken(api: Api) -> None:
    document = await _document(api)
    schema = _parameter_schema(document, "/v1/approvals", "get", "cursor")
    for cursor in ("1764234000000000_8c3f2a6e-0b1d-4c55-9a53-2f1f0e6f4b7a", "0_", "garbage", ""):
        response = await api["bob"].get("/v1/approvals", params={"cursor": cursor})
        assert _accepted(response) == _allows(schema, cursor, document), (cursor, response.text)
    # A cursor from a page is of that form, and takes the next page.
    await api.start_demo()
    await api.start_demo("dave")
    first = (await api["bob"].get("/v1/approvals", params={"limit": 1})).json()
    assert _allows(schema, first["next_cursor"], document)
    second = (await api["bob"].get("/v1/approvals", params={"limit": 1, "cursor": first["next_cursor"]})).json()
    assert [item["approval_id"] for item in second["items"]] != [item["approval_id"] for item in first["items"]]


async def test_a_null_note_is_taken_where_the_schema_allows_it_and_refused_where_it_does_not(api: Api) -> None:
    document = await _document(api)
    path = "/v1/approvals/{approval_id}/decision"
    schema = _body_schema(document, path, "post")
    _run_id, approval_id = await api.start_demo()
    url = f"/v1/approvals/{approval_id}/decision"
    # Refusals first: they change nothing, so the approval is still pending for the approval after them.
    for body in (
        {"decision": "deny", "note": None},
        {"decision": "deny"},
        {"decision": "deny", "note": "   "},
        {"decision": "deny", "note": "no", "edited_args": {}},
        {"decision": "approve", "note": None},
    ):
        response = await api["bob"].post(url, json=body)
        assert _accepted(response) == _allows(schema, body, document), (body, response.text)
    decided = await api["bob"].get(f"/v1/approvals/{approval_id}")
    assert decided.json()["state"] in {"approved", "executing", "executed"}


async def test_last_event_id_is_an_integer_on_both_sides(api: Api) -> None:
    document = await _document(api)
    schema = _parameter_schema(document, "/v1/runs/{run_id}/events", "get", "Last-Event-ID")
    # A header cannot carry JSON null: `Last-Event-ID: null` is the text "null", and the schema must not
    # offer null as a value (it did, and the server refused it).
    assert not _allows(schema, None, document)
    accepted = await api["alice"].post("/v1/tasks", json={"message": "say hello"})
    run_id = accepted.json()["run_id"]
    await api.wait_for_run("alice", run_id, until=lambda run: run["status"] == "completed")
    for header, value in (("null", None), ("yesterday", "yesterday"), ("0", 0), ("3", 3)):
        response = await api["alice"].get(f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": header})
        assert _accepted(response) == _allows(schema, value, document), (header, response.text)
    after_schema = _parameter_schema(document, "/v1/runs/{run_id}/events", "get", "after")
    assert not _allows(after_schema, None, document)


async def test_no_parameter_of_any_operation_is_documented_as_null(api: Api) -> None:
    # Query strings, headers and paths carry text; a parameter is left out to mean none.
    document = await _document(api)
    nullable = [
        f"{method.upper()} {path} {parameter['name']}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        for parameter in operation.get("parameters", ())
        if _allows(parameter["schema"], None, document)
    ]
    assert nullable == []
