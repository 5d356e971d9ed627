"""A property-based fuzz of the whole HTTP API from its own OpenAPI schema (schemathesis).

Every operation in the schema gets valid and invalid requests (schemathesis' positive and negative
modes) from a principal holding every role, against the app with its lifespan running. The database
holds a run awaiting approval (requested by someone else) and a conversation of the fuzzing principal,
and path parameters are sometimes their real ids, so the fuzz reaches decisions, follow-ups and event
streams of real records, not only 404s. Each response must not be a 5xx, must have a status and content
type the schema documents, and must match that status's documented schema. The schema must also be
honest about requests: every request it allows is accepted (`positive_data_acceptance`: no 400 or 422),
every one it forbids is refused (`negative_data_rejection`), and a method it does not list gets 405
(`unsupported_method`). Besides the random cases, every operation runs schemathesis' coverage phase:
deterministic boundary and type-mutation cases of each parameter (`to=0.5`, `Last-Event-ID: null`,
a cursor at the edge of its pattern).

When this fails, fix the product, not the test: map the exception to a 4xx in api/errors.py, declare
the status with `responses=error_responses(...)` on the route, or make the schema say what the server
takes (a pattern, a discriminated union, a non-nullable parameter: see api/openapi.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import GenerationConfig
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from signoff.agent.runtime import prepare_database
from signoff.agent.store.engine import create_engine
from signoff.api.app import create_app
from signoff.api.keys import ROLES, create_api_key
from signoff.api.settings import Settings
from signoff.tools.sales import sales_pack
from tests.api.http_support import WAIT_SECONDS, api_settings

DEMO = "find 5 fintech leads in Berlin, enrich them and add them to the CRM"

# Enough to find a missing error mapping or an undocumented status on every operation, little enough
# that the whole fuzz takes about 15 seconds on two cores. Derandomized: CI runs the same cases each time.
EXAMPLES_PER_OPERATION = 40

# The fuzz is about answers, not limits: a limit the fuzz never reaches.
UNLIMITED = 1_000_000

# Answers within the schema, and the schema honest about which requests are valid.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    positive_data_acceptance,
    negative_data_rejection,
    unsupported_method,
    missing_required_header,
]


def _schema_settings() -> Settings:
    # Only for reading the OpenAPI document at collection time: no database is opened.
    return api_settings("sqlite+aiosqlite:///:memory:", Path("unused"))


OPERATIONS = [
    f"{method.upper()} {path}"
    for path, item in create_app(_schema_settings()).openapi()["paths"].items()
    for method in item
]


@dataclass(frozen=True)
class FuzzTarget:
    """The schema loaded from the running app, the all-roles key, and ids of real records."""

    schema: BaseSchema
    authorization: dict[str, str]
    known_ids: dict[str, str]


async def _create_keys(database_url: str) -> tuple[str, str]:
    """Keys for the fuzzing principal (every role) and for the requester of the seeded run.

    The seeded run's requester is someone else, so the fuzzing principal may decide its approval."""
    engine = create_engine(database_url)
    try:
        session_factory = await prepare_database(engine, [sales_pack()])
        _row, fuzz_key = await create_api_key(session_factory, name="fuzz", roles=ROLES)
        _row, requester_key = await create_api_key(session_factory, name="fuzz-requester", roles=["requester"])
    finally:
        await engine.dispose()
    return fuzz_key, requester_key


def _seed_records(app: FastAPI, *, fuzz_key: str, requester_key: str) -> dict[str, str]:
    """A run awaiting approval requested by someone else, and a conversation of the fuzzing principal."""
    with asgi.get_client(app) as client:
        own = client.post("/v1/tasks", json={"message": "hello"}, headers={"Authorization": f"Bearer {fuzz_key}"})
        assert own.status_code == 202, own.text
        client.headers["Authorization"] = f"Bearer {requester_key}"
        accepted = client.post("/v1/tasks", json={"message": DEMO})
        assert accepted.status_code == 202, accepted.text
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            run = client.get(f"/v1/runs/{accepted.json()['run_id']}").json()
            if run["status"] == "awaiting_approval":
                [approval] = run["pending_approvals"]
                return {
                    "run_id": run["run_id"],
                    "approval_id": approval["approval_id"],
                    "conversation_id": own.json()["conversation_id"],
                }
            time.sleep(0.05)
    raise AssertionError("the seeded run never came to await approval")


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    database_url = f"sqlite+aiosqlite:///{data_dir / 'signoff.db'}"
    fuzz_key, requester_key = asyncio.run(_create_keys(database_url))
    settings = api_settings(
        database_url,
        data_dir,
        rate_limit_per_minute=UNLIMITED,
        rate_limit_burst=UNLIMITED,
        # The seeded run waits for approval, so its event stream stays open by design: without a short
        # limit each request for it would last until the test client gives up (10 s).
        event_stream_max_seconds=0.5,
    )
    app = create_app(settings)
    try:
        # Loading the schema through the app starts its lifespan (in schemathesis' event loop thread).
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        yield FuzzTarget(
            schema=schema,
            authorization={"Authorization": f"Bearer {fuzz_key}"},
            known_ids=_seed_records(app, fuzz_key=fuzz_key, requester_key=requester_key),
        )
    finally:
        asgi.shutdown_lifespans()


def _cases(operation: APIOperation, known_ids: dict[str, str]) -> st.SearchStrategy[Case]:
    """Valid and invalid requests, plus valid ones aimed at the seeded records where the path names them."""
    strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
    path_names = {parameter.name for parameter in operation.path_parameters}
    if known := {name: value for name, value in known_ids.items() if name in path_names}:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known))
    return st.one_of(strategies)


@pytest.mark.parametrize("operation_label", OPERATIONS)
def test_operation_answers_within_its_schema(operation_label: str, fuzz_target: FuzzTarget) -> None:
    operation = fuzz_target.schema.find_operation_by_label(operation_label)
    assert operation is not None

    @given(case=_cases(operation, fuzz_target.known_ids))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    def answers_within_schema(case: Case) -> None:
        case.call_and_validate(headers=fuzz_target.authorization, checks=CHECKS)

    answers_within_schema()


@pytest.mark.parametrize("operation_label", OPERATIONS)
def test_operation_boundaries_answer_within_its_schema(operation_label: str, fuzz_target: FuzzTarget) -> None:
    """Schemathesis' coverage phase: each parameter at its bounds, missing, null, of another type, and an
    unlisted method. Deterministic, a few dozen cases an operation; every failure is reported, not the first."""
    operation = fuzz_target.schema.find_operation_by_label(operation_label)
    assert operation is not None
    failures: list[str] = []
    cases = fuzz_target.schema.iter_coverage_cases(
        operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=GenerationConfig(),
    )
    for case in cases:
        try:
            case.call_and_validate(headers=fuzz_target.authorization, checks=CHECKS)
        except* Exception as group:
            failures.append(str(group.exceptions[0]).split("Reproduce with:")[0].strip())
    assert not failures, "\n\n".join(dict.fromkeys(failures))
