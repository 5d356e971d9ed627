"""A whole run with secrets and personal data in tool arguments, a tool error and the model's text:
none of it may appear in any exported span or log."""

from __future__ import annotations

from pydantic_ai.messages import ModelMessage, ModelResponse

from tests.conftest import RuntimeFactory
from tests.support.scripted import ScriptedModel, call, text
from tests.telemetry.telemetry_support import CANARY_EMAIL, CANARY_KEY, CANARY_PHONE, TelemetryCapture


def _final(messages: list[ModelMessage]) -> ModelResponse:
    return ModelResponse(parts=[text(f"Done. Reach {CANARY_EMAIL} at {CANARY_PHONE}; the key was {CANARY_KEY}.")])


async def test_no_canary_leaks_from_a_full_run(
    make_runtime: RuntimeFactory, telemetry_capture: TelemetryCapture
) -> None:
    model = ScriptedModel(
        [
            [
                call("get_contact", {"email": CANARY_EMAIL}, "read-1"),
                # An unknown campaign: the tool fails with an error that names the (secret-bearing) id.
                call("enroll_contacts", {"campaign_id": f"camp-{CANARY_KEY}", "emails": [CANARY_EMAIL]}, "enroll-1"),
                call(
                    "send_email",
                    {"to": CANARY_EMAIL, "subject": f"Call me at {CANARY_PHONE}", "body": f"key {CANARY_KEY}"},
                    "email-1",
                ),
            ],
            _final,
        ]
    )
    runtime = make_runtime(model.model)
    outcome = await runtime.runner.start(f"email {CANARY_EMAIL} about {CANARY_PHONE}")
    for approval_id in outcome.pending_approval_ids:
        await runtime.approvals.approve(approval_id, decided_by="canary-approver", note=f"ok {CANARY_PHONE}")
    final = await runtime.runner.resume(outcome.run_id)
    assert final.status == "completed"
    assert final.output is not None and CANARY_KEY in final.output  # the canaries really went through the run

    exported = telemetry_capture.exported_text()
    assert "policy decision" in exported  # spans were captured at all
    assert telemetry_capture.leaked_canaries() == []
