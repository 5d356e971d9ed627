"""The OpenAPI document as the server enforces it: what it allows is accepted, what it forbids refused.

FastAPI documents an optional parameter `x: int | None = None` as `anyOf: [integer, null]`, but a query
string or a header cannot carry a JSON null: `?after=null` and `Last-Event-ID: null` arrive as the text
`null`, which the server refuses as not an integer. A parameter is left out to mean "none", so the
document drops the `null` branch of every optional parameter (request and response bodies keep theirs:
JSON can say null). The fuzz test (tests/api/test_api_fuzz.py) holds the server to the result with
schemathesis' `positive_data_acceptance` and `negative_data_rejection` checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

__all__ = ["install_honest_openapi", "without_null_parameters"]

_NULL = {"type": "null"}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    branches = schema.get("anyOf")
    if not isinstance(branches, list) or _NULL not in branches:
        return schema
    rest = [branch for branch in branches if branch != _NULL]
    outer = {key: value for key, value in schema.items() if key != "anyOf"}
    if len(rest) == 1:
        return {**rest[0], **outer}
    return {**outer, "anyOf": rest}


def without_null_parameters(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with no `null` branch in the schema of any path, query, header or cookie parameter."""
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", ()):
                if isinstance(parameter.get("schema"), dict):
                    parameter["schema"] = _without_null(parameter["schema"])
    return document


def install_honest_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` (and so `/openapi.json` and `/docs`) serve the document without null parameters."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def honest_openapi() -> dict[str, Any]:
        # FastAPI caches its document (and rebuilds it when routes change); rewriting it is idempotent.
        return without_null_parameters(generate())

    app.openapi = honest_openapi
