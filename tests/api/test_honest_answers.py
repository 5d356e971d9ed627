"""Honest answers end to end: a model that says "I sent the email" after a person denied the send.

The run goes through the HTTP API with a scripted model; then the API's run detail, `signoff show` and
`signoff run` output, and the inbox run page must each show the truth beside the answer.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
from inline_snapshot import Is, snapshot

from signoff.api.cli import _describe_outcome  # pyright: ignore[reportPrivateUsage]
from tests.api.http_support import Api, api_settings, running_api
from tests.conftest import RuntimeFactory
from tests.support.cli import Signoff, cli_env
from tests.support.scripted import ScriptedModel, call, text

RECIPIENT = "ana@acme.example"
LIE = f"I sent the email to {RECIPIENT}."
SEND = {"to": RECIPIENT, "subject": "Tuesday", "body": "Hi Ana, does Tuesday at 10 suit you?"}


def _lying_model() -> ScriptedModel:
    """Asks to send one email, then claims it was sent, whatever the tool result said."""
    return ScriptedModel([[call("send_email", SEND, "send-1")], [text(LIE)]])


async def _denied_run(api: Api) -> str:
    """Run the task, have bob deny the send, and wait for the model's (false) final answer."""
    accepted = await api["alice"].post("/v1/tasks", json={"message": f"email {RECIPIENT} about Tuesday"})
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    waiting = await api.wait_for_run("alice", run_id, until=lambda r: r["status"] != "running")
    [pending] = waiting["pending_approvals"]
    assert pending["tool"] == "send_email"
    decided = await api["bob"].post(
        f"/v1/approvals/{pending['approval_id']}/decision",
        json={"decision": "deny", "note": "not this week"},
    )
    assert decided.status_code == 200, decided.text
    await api.wait_for_run("alice", run_id, until=lambda r: r["status"] == "completed")
    return run_id


async def _inbox_run_page(api: Api, run_id: str) -> str:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://signoff.test") as browser:
        form = await browser.get("/inbox/sign-in")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf is not None
        signed_in = await browser.post("/inbox/sign-in", data={"csrf_token": csrf.group(1), "api_key": api.keys["bob"]})
        assert signed_in.status_code == 303, signed_in.text
        page = await browser.get(f"/inbox/runs/{run_id}")
    assert page.status_code == 200, page.text
    return page.text


async def test_a_false_claim_is_shown_with_the_truth_everywhere(database_url: str, tmp_path: Path) -> None:
    model = _lying_model()
    async with running_api(api_settings(database_url, tmp_path), model=model.model) as api:
        run_id = await _denied_run(api)
        detail = (await api["alice"].get(f"/v1/runs/{run_id}")).json()
        page = await _inbox_run_page(api, run_id)

    # The API: the answer as the model wrote it (unchanged), and beside it what happened and the contradiction.
    assert detail["output"] == LIE
    assert detail["outcome"] == snapshot(
        {
            "summary": "1 effect: 1 denied by a person",
            "counts": {
                "executed": 0,
                "running": 0,
                "approved": 0,
                "awaiting_approval": 0,
                "denied_by_policy": 0,
                "denied_by_person": 1,
                "expired": 0,
                "failed": 0,
                "unknown": 0,
                "not_executed": 0,
            },
            "effects": [
                {
                    "tool_call_id": "send-1",
                    "tool": "send_email",
                    "summary": 'Send an email to ana@acme.example with the subject "Tuesday"',
                    "outcome": "denied_by_person",
                    "detail": "denied by a person (bob): not this week",
                    "approval_id": Is(detail["outcome"]["effects"][0]["approval_id"]),
                    "resolution": None,
                }
            ],
        }
    )
    assert detail["claims"] == snapshot(
        [
            {
                "claim": "I sent the email to ana@acme.example",
                "verb": "sent",
                "tool": "send_email",
                "tool_call_id": "send-1",
                "run_id": Is(run_id),
                "outcome": "denied_by_person",
                "note": 'the answer says "I sent the email to ana@acme.example", but the audit says: Send an email '
                'to ana@acme.example with the subject "Tuesday" — denied by a person (bob): not this week',
            }
        ]
    )
    note = detail["claims"][0]["note"]

    # The inbox run page: the contradiction as an alert inside the answer's section, before the answer.
    answer_section = page[page.index('<h2 id="run-output">') : page.index("</section>", page.index('id="run-output"'))]
    assert 'role="alert" id="answer-contradictions"' in answer_section
    assert answer_section.index("answer-contradictions") < answer_section.index("I sent the email to")
    assert "Note: the answer says &#34;I sent the email to ana@acme.example&#34;, but the audit says" in page
    assert "denied_by_person</span>: denied by a person (bob): not this week" in page
    assert "1 effect: 1 denied by a person" in page

    # `signoff show`: the effects before the answer, the note right after it; `--json` has the same blocks.
    signoff = Signoff(env=cli_env(tmp_path / "cli", database_url), database_url=database_url, data_dir=tmp_path / "cli")
    shown = await asyncio.to_thread(signoff.ok, "show", run_id)
    tail = shown[shown.index("What happened (from the audit):") :].rstrip("\n").splitlines()
    assert tail == [
        "What happened (from the audit): 1 effect: 1 denied by a person",
        '  [denied_by_person] Send an email to ana@acme.example with the subject "Tuesday" — denied by a person '
        "(bob): not this week",
        "",
        "Answer:",
        LIE,
        "",
        f"Note: {note}",
    ]
    shown_json = await asyncio.to_thread(signoff.json, "show", run_id)
    assert (shown_json["outcome"], shown_json["claims"]) == (detail["outcome"], detail["claims"])


async def test_an_honest_answer_gets_no_note(database_url: str, tmp_path: Path) -> None:
    model = ScriptedModel(
        [[call("send_email", SEND, "send-1")], [text(f"The email to {RECIPIENT} was denied, so nothing was sent.")]]
    )
    async with running_api(api_settings(database_url, tmp_path), model=model.model) as api:
        run_id = await _denied_run(api)
        detail = (await api["alice"].get(f"/v1/runs/{run_id}")).json()
        page = await _inbox_run_page(api, run_id)
    assert detail["claims"] == []
    assert detail["outcome"]["summary"] == "1 effect: 1 denied by a person"
    assert "answer-contradictions" not in page
    assert "1 effect: 1 denied by a person" in page


async def test_run_and_decision_output_carries_the_note(make_runtime: RuntimeFactory) -> None:
    """What `signoff run`, `approve` and `deny` print once a run finishes (the CLI runs the offline model,
    so the lying model drives this runtime, and the CLI's renderer describes its outcome)."""
    runtime = make_runtime(_lying_model().model)
    paused = await runtime.runner.start(f"email {RECIPIENT} about Tuesday")
    [approval_id] = paused.pending_approval_ids
    while_paused = await _describe_outcome(runtime, paused)
    assert "What happened (from the audit): 1 effect: 1 awaiting approval" in while_paused
    assert while_paused.count("Send an email to ana@acme.example") == 1  # listed once, under its approval id

    await runtime.approvals.deny(approval_id, decided_by="bob", reason="not this week")
    final = await runtime.runner.resume(paused.run_id)
    assert final.output == LIE
    lines = (await _describe_outcome(runtime, final)).splitlines()
    assert lines[0] == f"run {final.run_id}: completed"
    assert lines[1:] == snapshot(
        [
            "",
            "What happened (from the audit): 1 effect: 1 denied by a person",
            '  [denied_by_person] Send an email to ana@acme.example with the subject "Tuesday" — denied by a person '
            "(bob): not this week",
            "",
            "I sent the email to ana@acme.example.",
            "",
            'Note: the answer says "I sent the email to ana@acme.example", but the audit says: Send an email to '
            'ana@acme.example with the subject "Tuesday" — denied by a person (bob): not this week',
        ]
    )
    check = await runtime.answer_check(final.run_id)
    assert [c.outcome for c in check.contradictions] == ["denied_by_person"]
