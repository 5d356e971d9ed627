"""What `configure_telemetry` exports: canaries redacted everywhere, everything else intact, nothing sent by default."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import logfire
import pytest
from logfire.testing import TestExporter
from opentelemetry._logs import LogRecord
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from signoff.agent.telemetry import (
    REDACTED_EMAIL,
    REDACTED_PHONE,
    REDACTED_SECRET,
    configure_telemetry,
    scrubbing_options,
)
from tests.telemetry.telemetry_support import CANARY_EMAIL, CANARY_KEY, CANARY_PHONE, TelemetryCapture


class LeadLookupFailed(Exception):
    pass


def _nested_lead() -> dict[str, Any]:
    return {
        "contact": {"email": CANARY_EMAIL, "phones": [CANARY_PHONE, "n/a"], "title": "Head of Sales"},
        "notes": [f"reached via {CANARY_EMAIL}", {"api": f"key={CANARY_KEY}"}],
        # An address as a dict key: logfire never scrubs keys.
        "by_address": {CANARY_EMAIL: "opted in"},
        "employees": 12,
    }


def _emit_everything() -> None:
    """Put the canaries everywhere code could plausibly put them."""
    with logfire.span(
        "enriching lead {lead_email}",
        lead_email=CANARY_EMAIL,
        lead=_nested_lead(),
        lead_json=json.dumps(_nested_lead()),
        tool_name="send_outreach_email",
        batch_size=12,
        scheduled_for="2026-11-27",
    ) as span:
        # Attributes logfire treats as safe and never scrubs, and a message replaced after the span started.
        span.set_attribute("http.url", f"https://api.example.com/find?email={CANARY_EMAIL}&api_key={CANARY_KEY}")
        span.set_attribute("db.statement", f"SELECT * FROM leads WHERE email = '{CANARY_EMAIL}'")
        span.message = f"enriched {CANARY_EMAIL} / {CANARY_PHONE}"
        logfire.info(
            "lead contact {contact}",
            contact={"email": CANARY_EMAIL, "phone": CANARY_PHONE},
            recipients=[CANARY_EMAIL, "ops-team"],
            authorization=f"Bearer {CANARY_KEY}",
            step="lookup",
        )
        # A message built without a template: the whole text becomes the span name.
        logfire.warn("sending to " + CANARY_EMAIL + " at " + CANARY_PHONE)
        try:
            raise LeadLookupFailed(f"no CRM record for {CANARY_EMAIL} / {CANARY_PHONE} using {CANARY_KEY}")
        except LeadLookupFailed:
            logfire.exception("lookup failed for {lead_email}", lead_email=CANARY_EMAIL)
    with pytest.raises(LeadLookupFailed), logfire.span("sync crm", crm="hubspot"):
        raise LeadLookupFailed(f"rejected {CANARY_EMAIL} with key {CANARY_KEY} phone {CANARY_PHONE}")


def _finished_spans(exporter: TestExporter) -> list[ReadableSpan]:
    return [
        span for span in exporter.exported_spans if (span.attributes or {}).get("logfire.span_type") != "pending_span"
    ]


def _span_named(exporter: TestExporter, name: str) -> ReadableSpan:
    [span] = [span for span in _finished_spans(exporter) if span.name == name]
    return span


def test_no_canary_reaches_any_exporter(telemetry_capture: TelemetryCapture) -> None:
    _emit_everything()

    assert telemetry_capture.leaked_canaries() == []
    text = telemetry_capture.exported_text()
    assert REDACTED_EMAIL in text
    assert REDACTED_PHONE in text
    assert REDACTED_SECRET in text
    # Pending spans (sent when a span starts) went through the same pipeline and are clean too.
    span_types = {(span.attributes or {}).get("logfire.span_type") for span in telemetry_capture.spans.exported_spans}
    assert "pending_span" in span_types


def test_non_sensitive_attributes_survive(telemetry_capture: TelemetryCapture) -> None:
    _emit_everything()

    lead_span = _span_named(telemetry_capture.spans, "enriching lead {lead_email}")
    attributes = dict(lead_span.attributes or {})
    assert attributes["tool_name"] == "send_outreach_email"
    assert attributes["batch_size"] == 12
    assert attributes["scheduled_for"] == "2026-11-27"
    assert attributes["lead_email"] == REDACTED_EMAIL
    assert attributes["logfire.msg"] == f"enriched {REDACTED_EMAIL} / {REDACTED_PHONE}"
    assert attributes["http.url"] == f"https://api.example.com/find?email={REDACTED_EMAIL}&api_key={REDACTED_SECRET}"
    for key in ("lead", "lead_json"):
        lead = json.loads(str(attributes[key]))
        assert lead["contact"] == {
            "email": REDACTED_EMAIL,
            "phones": [REDACTED_PHONE, "n/a"],
            "title": "Head of Sales",
        }
        assert lead["notes"] == [f"reached via {REDACTED_EMAIL}", {"api": f"key={REDACTED_SECRET}"}]
        assert lead["employees"] == 12
    # An address used as a dict key: logfire never scrubs keys, our processor redacts them in place.
    assert json.loads(str(attributes["lead"]))["by_address"] == {REDACTED_EMAIL: "opted in"}

    log_span = _span_named(telemetry_capture.spans, "lead contact {contact}")
    log_attributes = dict(log_span.attributes or {})
    assert log_attributes["step"] == "lookup"
    assert json.loads(str(log_attributes["recipients"])) == [REDACTED_EMAIL, "ops-team"]
    # logfire's own key-name scrubbing still applies on top of ours.
    assert log_attributes["authorization"] == "[Scrubbed due to 'auth']"


def test_exception_message_stacktrace_and_status_are_redacted(telemetry_capture: TelemetryCapture) -> None:
    _emit_everything()

    span = _span_named(telemetry_capture.spans, "sync crm")
    assert span.status.description == (
        f"LeadLookupFailed: rejected {REDACTED_EMAIL} with key {REDACTED_SECRET} phone {REDACTED_PHONE}"
    )
    [event] = span.events
    event_attributes = dict(event.attributes or {})
    assert event_attributes["exception.message"] == (
        f"rejected {REDACTED_EMAIL} with key {REDACTED_SECRET} phone {REDACTED_PHONE}"
    )
    stacktrace = str(event_attributes["exception.stacktrace"])
    assert "Traceback (most recent call last)" in stacktrace
    assert "LeadLookupFailed: rejected [redacted:email]" in stacktrace
    # The fingerprint is a sha256 hex digest, exempt from the long-token rule so logfire can group issues.
    fingerprint = str((span.attributes or {})["logfire.exception.fingerprint"])
    assert len(fingerprint) == 64
    assert int(fingerprint, 16) >= 0


def test_span_names_built_from_data_are_redacted(telemetry_capture: TelemetryCapture) -> None:
    _emit_everything()

    names = {span.name for span in telemetry_capture.spans.exported_spans}
    assert f"sending to {REDACTED_EMAIL} at {REDACTED_PHONE}" in names


def test_otel_log_records_are_redacted(telemetry_capture: TelemetryCapture) -> None:
    logger = logfire.DEFAULT_LOGFIRE_INSTANCE.config.get_logger_provider().get_logger("signoff.tests")
    logger.emit(
        LogRecord(
            body=f"bounce from {CANARY_EMAIL}",
            attributes={"phone": CANARY_PHONE, CANARY_EMAIL: "key as data", "detail": f"key {CANARY_KEY}"},
        )
    )

    [log] = telemetry_capture.logs.get_finished_logs()
    assert log.log_record.body == f"bounce from {REDACTED_EMAIL}"
    attributes = dict(log.log_record.attributes or {})
    assert attributes["phone"] == REDACTED_PHONE
    assert attributes["detail"] == f"key {REDACTED_SECRET}"
    # logfire blanks the value under a key its patterns match; our log processor then redacts the key itself,
    # including where logfire copied it into the path recorded in `logfire.scrubbed`.
    assert attributes[REDACTED_EMAIL] == "[Scrubbed due to '']"
    assert json.loads(str(attributes["logfire.scrubbed"])) == [
        {"path": ["attributes", REDACTED_EMAIL], "matched_substring": ""}
    ]
    assert telemetry_capture.leaked_canaries() == []


@pytest.fixture
def logfire_scrubbing_only() -> Iterator[TestExporter]:
    """logfire with our scrubbing options but none of our processors: shows what logfire's scrubber alone does."""
    exporter = TestExporter()
    logfire.configure(
        send_to_logfire=False,
        console=False,
        scrubbing=scrubbing_options(),
        additional_span_processors=[SimpleSpanProcessor(exporter)],
    )
    yield exporter
    configure_telemetry(instrument_pydantic_ai=False)


def test_logfire_scrubber_redacts_substrings_in_values(logfire_scrubbing_only: TestExporter) -> None:
    logfire.info(
        "lead",
        email=CANARY_EMAIL,
        note=f"call {CANARY_PHONE} or mail {CANARY_EMAIL}",
        lead=_nested_lead(),
        password_hint=f"ask {CANARY_EMAIL}",
        remark=f"{CANARY_EMAIL} said the password is on the wiki",
        batch_size=12,
    )

    [span] = _finished_spans(logfire_scrubbing_only)
    attributes = dict(span.attributes or {})
    # A value that is *entirely* an address would be kept by a plain pattern; our detection patterns prevent that.
    assert attributes["email"] == REDACTED_EMAIL
    # Only the sensitive substrings go; the rest of the value stays readable.
    assert attributes["note"] == f"call {REDACTED_PHONE} or mail {REDACTED_EMAIL}"
    assert json.loads(str(attributes["lead"]))["contact"]["phones"] == [REDACTED_PHONE, "n/a"]
    # logfire's default patterns keep their whole-value redaction, on keys and inside values.
    assert attributes["password_hint"] == "[Scrubbed due to 'password']"
    # Here our detection pattern matched first (at the address), so logfire names an empty match; still blanked.
    assert attributes["remark"] == "[Scrubbed due to '']"
    assert attributes["batch_size"] == 12
    # logfire records what matched in `logfire.scrubbed`; our zero-width patterns leave nothing to record there.
    # (It also records the path, dict keys included, which is why `RedactingSpanProcessor` redacts keys.)
    notes = json.loads(str(attributes["logfire.scrubbed"]))
    assert {note["matched_substring"] for note in notes} == {"", "password"}
    assert ["attributes", "lead", "by_address", CANARY_EMAIL] in [note["path"] for note in notes]


def test_logfire_scrubber_alone_leaves_exceptions_and_names(logfire_scrubbing_only: TestExporter) -> None:
    """Pins the gap `RedactingSpanProcessor` exists for; if logfire closes it, the processor could shrink."""
    with pytest.raises(LeadLookupFailed), logfire.span("sync crm"):
        raise LeadLookupFailed(f"rejected {CANARY_EMAIL}")
    logfire.info("sending to " + CANARY_EMAIL)

    exported = "\n".join(span.to_json() for span in logfire_scrubbing_only.exported_spans)
    sync_span = _span_named(logfire_scrubbing_only, "sync crm")
    assert CANARY_EMAIL in str((sync_span.events[0].attributes or {})["exception.message"])
    assert CANARY_EMAIL in (sync_span.status.description or "")
    assert f"sending to {CANARY_EMAIL}" in exported


def test_nothing_is_sent_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    # Even with a token in the environment: only the caller decides, by passing one.
    monkeypatch.setenv("LOGFIRE_TOKEN", "pylf_v1_us_fakefakefakefakefakefakefakefakefakefake")
    monkeypatch.setenv("LOGFIRE_SEND_TO_LOGFIRE", "true")
    configure_telemetry(instrument_pydantic_ai=False)

    assert logfire.DEFAULT_LOGFIRE_INSTANCE.config.send_to_logfire is False


def test_console_is_off_by_default(telemetry_capture: TelemetryCapture, capsys: pytest.CaptureFixture[str]) -> None:
    logfire.info("hello {who}", who="ops")

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""
    assert [span.name for span in _finished_spans(telemetry_capture.spans)] == ["hello {who}"]


def test_console_output_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_telemetry(console=True, instrument_pydantic_ai=False)
    try:
        logfire.info("mailing {who}", who=CANARY_EMAIL)
        logfire.info("sending to " + CANARY_PHONE)
    finally:
        configure_telemetry(instrument_pydantic_ai=False)

    printed = capsys.readouterr().out
    assert f"mailing {REDACTED_EMAIL}" in printed
    assert f"sending to {REDACTED_PHONE}" in printed
    assert CANARY_EMAIL not in printed
    assert CANARY_PHONE not in printed


def test_configure_telemetry_can_be_called_again() -> None:
    first, second = TestExporter(), TestExporter()
    try:
        configure_telemetry(
            additional_span_processors=[SimpleSpanProcessor(first)],
            additional_log_record_processors=[],
            instrument_pydantic_ai=False,
        )
        logfire.info("first")
        configure_telemetry(additional_span_processors=[SimpleSpanProcessor(second)], instrument_pydantic_ai=False)
        configure_telemetry(additional_span_processors=[SimpleSpanProcessor(second)], instrument_pydantic_ai=False)
        logfire.info("second {email}", email=CANARY_EMAIL)
    finally:
        configure_telemetry(instrument_pydantic_ai=False)

    assert [span.name for span in _finished_spans(first)] == ["first"]
    [span] = _finished_spans(second)
    assert span.name == "second {email}"
    # Redacted exactly once even though the pipeline was rebuilt: no stacked processors, no double markers.
    assert dict(span.attributes or {})["email"] == REDACTED_EMAIL
