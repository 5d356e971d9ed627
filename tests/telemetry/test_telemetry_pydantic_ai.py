"""pydantic-ai runs are traced without their content: no prompt, model text or tool argument lands in a span."""

from __future__ import annotations

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from signoff.agent.telemetry import configure_telemetry
from tests.telemetry.telemetry_support import CANARY_EMAIL, CANARY_KEY, CANARY_PHONE, TelemetryCapture

# Matches none of the redaction patterns: if it is absent, the content was never recorded, not merely redacted.
CANARY_PROSE = "zebra-lantern-canary-prose"


def _scripted_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if len(messages) == 1:
        return ModelResponse(
            parts=[
                TextPart(f"Looking up {CANARY_EMAIL} ({CANARY_PROSE})"),
                ToolCallPart("lookup_contact", {"email": CANARY_EMAIL, "note": f"{CANARY_PROSE} {CANARY_PHONE}"}),
            ]
        )
    return ModelResponse(parts=[TextPart(f"Found {CANARY_EMAIL}, key {CANARY_KEY}, {CANARY_PROSE}")])


def _sales_agent() -> Agent[None, str]:
    agent = Agent(FunctionModel(_scripted_model), name="sales_agent", instructions=f"Be brief. {CANARY_PROSE}")

    @agent.tool_plain
    def lookup_contact(email: str, note: str) -> str:
        """Find a CRM contact by e-mail."""
        return f"contact {email} is active; {note}; {CANARY_PROSE}"

    return agent


async def test_agent_run_spans_carry_no_content(telemetry_capture: TelemetryCapture) -> None:
    result = await _sales_agent().run(f"Find the contact for {CANARY_EMAIL}, {CANARY_PROSE}")

    assert CANARY_EMAIL in result.output  # the run itself saw the canaries
    assert telemetry_capture.leaked_canaries() == []
    assert CANARY_PROSE not in telemetry_capture.exported_text()
    # Structure survives: the run, both model requests and the tool call, with the tool's name.
    names = [span.name for span in telemetry_capture.spans.exported_spans]
    assert "invoke_agent sales_agent" in names
    assert names.count("chat function:_scripted_model:") >= 2
    assert "execute_tool lookup_contact" in names
    [tool_span] = [
        span
        for span in telemetry_capture.spans.exported_spans
        if span.name == "execute_tool lookup_contact" and (span.attributes or {}).get("logfire.span_type") == "span"
    ]
    assert (tool_span.attributes or {})["gen_ai.tool.name"] == "lookup_contact"


async def test_tool_errors_carry_no_content(telemetry_capture: TelemetryCapture) -> None:
    agent = Agent(FunctionModel(_scripted_model), name="failing_agent")

    @agent.tool_plain
    def lookup_contact(email: str, note: str) -> str:
        raise RuntimeError(f"CRM rejected {email}: {note} {CANARY_PROSE}")

    with pytest.raises(RuntimeError, match=CANARY_PROSE):
        await agent.run("Find the contact")

    assert telemetry_capture.leaked_canaries() == []
    assert CANARY_PROSE not in telemetry_capture.exported_text()
    # The failure is still visible: pydantic-ai records the exception type without its message.
    [tool_span] = [
        span
        for span in telemetry_capture.spans.exported_spans
        if span.name == "execute_tool lookup_contact" and span.events
    ]
    assert [dict(event.attributes or {}) for event in tool_span.events] == [
        {"exception.type": "RuntimeError", "exception.escaped": "True"}
    ]


async def test_instrumentation_can_be_switched_off(telemetry_capture: TelemetryCapture) -> None:
    configure_telemetry(
        additional_span_processors=[],
        instrument_pydantic_ai=False,
    )
    telemetry_capture.spans.clear()

    await _sales_agent().run("Find the contact")

    assert telemetry_capture.spans.exported_spans == []
