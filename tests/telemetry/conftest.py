"""Fixtures for telemetry tests: logfire configured by `configure_telemetry`, exporting to memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from logfire.testing import TestExporter
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from pydantic_ai import models

from signoff.agent.telemetry import configure_telemetry
from tests.telemetry.telemetry_support import TelemetryCapture


@pytest.fixture
def telemetry_capture(monkeypatch: pytest.MonkeyPatch) -> Iterator[TelemetryCapture]:
    """Configure telemetry the way production does, plus in-memory exporters placed where real exporters sit."""
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", False)
    capture = TelemetryCapture(spans=TestExporter(), logs=InMemoryLogRecordExporter())
    configure_telemetry(
        additional_span_processors=[SimpleSpanProcessor(capture.spans)],
        additional_log_record_processors=[SimpleLogRecordProcessor(capture.logs)],
    )
    yield capture
    # Leave logfire local-only and pydantic-ai uninstrumented for whatever test runs next.
    configure_telemetry(instrument_pydantic_ai=False)
