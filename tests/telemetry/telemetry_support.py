"""Canary values and an in-memory capture of everything logfire would export, for telemetry tests."""

from __future__ import annotations

from dataclasses import dataclass

from logfire.testing import TestExporter
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

# Fake, but shaped like the real thing so that every redaction rule has to fire.
CANARY_KEY = "sk-ant-api03-CANARYKEY0000000000000000000000"
CANARY_EMAIL = "canary.person@example.com"
CANARY_PHONE = "+49 30 1234 5678"
CANARIES = (CANARY_KEY, CANARY_EMAIL, CANARY_PHONE)
# Fragments that would betray a half-redacted canary (e.g. only the domain or the local part removed).
CANARY_FRAGMENTS = ("CANARYKEY", "canary.person", "1234 5678")


@dataclass(kw_only=True)
class TelemetryCapture:
    """Spans and OTel log records exported since `configure_telemetry` ran in the fixture."""

    spans: TestExporter
    logs: InMemoryLogRecordExporter

    def exported_text(self) -> str:
        """Every exported span (pending spans included) and log record, serialized in full: search this for leaks."""
        span_texts = [span.to_json(indent=None) for span in self.spans.exported_spans]
        log_texts = [log.to_json(indent=None) for log in self.logs.get_finished_logs()]
        # `to_json` escapes non-ASCII; repr of the raw attributes is a second view that does not.
        raw_texts = [repr(dict(span.attributes or {})) for span in self.spans.exported_spans]
        return "\n".join([*span_texts, *log_texts, *raw_texts])

    def leaked_canaries(self) -> list[str]:
        text = self.exported_text()
        return [canary for canary in (*CANARIES, *CANARY_FRAGMENTS) if canary in text]
