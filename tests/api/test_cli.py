"""The `signoff` CLI end to end, in process: configured only through the environment, like a user would.

Each test gets an empty database (a SQLite file in a fresh `SIGNOFF_DATA_DIR`, and PostgreSQL too when
`SIGNOFF_TEST_POSTGRES_URL` is set) and the offline scripted model (no `ANTHROPIC_API_KEY`).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from inline_snapshot import snapshot

from signoff.tools.sales.demo_model import DEMO_TASKS, NO_MODEL_MESSAGE
from tests.agent.helpers import contacts
from tests.support.cli import CLI_USER, Signoff

DEMO_TASK = DEMO_TASKS[0]
OTHER_TASK = "what is the weather in Berlin?"
SALES_TOOLS = [
    "assign_contact_owner",
    "classify_replies",
    "create_campaign",
    "discover_leads",
    "enrich_contacts",
    "enroll_contacts",
    "get_contact",
    "list_replies",
    "send_email",
    "sync_contacts_to_crm",
]


def start_demo(signoff: Signoff) -> tuple[str, str]:
    """Run the README demo up to its approval; the run id and the pending approval id."""
    outcome = signoff.json("run", DEMO_TASK)
    assert outcome["status"] == "awaiting_approval"
    [approval_id] = outcome["pending_approval_ids"]
    return outcome["run_id"], approval_id


def parse_table(text: str, first_header: str) -> list[dict[str, str]]:
    """The rows of the plain-text table whose header line starts with `first_header`, keyed by header.

    Columns are cut where the dashed rule under the header puts them, so headers with spaces work.
    """
    lines = text.splitlines()
    for index in range(len(lines) - 1):
        if lines[index].startswith(first_header) and re.fullmatch(r"-+(  -+)*", lines[index + 1]):
            break
    else:
        raise AssertionError(f"no table starting with {first_header!r} in:\n{text}")
    spans = [match.span() for match in re.finditer(r"-+", lines[index + 1])]
    headers = [lines[index][start:end].strip() for start, end in spans]
    rows: list[dict[str, str]] = []
    for line in lines[index + 2 :]:
        if not line.strip():
            break
        rows.append({header: line[start:end].strip() for header, (start, end) in zip(headers, spans, strict=True)})
    return rows


def table_headers(text: str, first_header: str) -> list[str]:
    lines = text.splitlines()
    [header_line] = [
        line for i, line in enumerate(lines[:-1]) if line.startswith(first_header) and "---" in lines[i + 1]
    ]
    return re.split(r"\s{2,}", header_line.strip())


# --- the README demo ----------------------------------------------------------------------------


def test_readme_demo_end_to_end(signoff: Signoff) -> None:
    outcome = signoff.json("run", DEMO_TASK)
    assert {k: v for k, v in outcome.items() if k not in ("run_id", "pending_approval_ids", "outcome")} == snapshot(
        {"attention": [], "claims": [], "failure_reason": None, "output": None, "status": "awaiting_approval"}
    )
    # What the run's effects came to so far, from the audit: the one destructive call waits for a person.
    assert outcome["outcome"]["summary"] == snapshot("1 effect: 1 awaiting approval")
    assert [(e["tool"], e["outcome"]) for e in outcome["outcome"]["effects"]] == snapshot(
        [("sync_contacts_to_crm", "awaiting_approval")]
    )
    run_id = outcome["run_id"]
    [approval_id] = outcome["pending_approval_ids"]

    [pending] = signoff.json("approvals")
    assert pending["approval_id"] == approval_id
    assert pending["run_id"] == run_id
    assert pending["summary"].startswith("Create or update 5 contacts in the CRM: ")
    requested_emails = [c["email"] for c in pending["requested_args"]["contacts"]]
    assert pending["summary"].removeprefix("Create or update 5 contacts in the CRM: ").split(", ") == requested_emails
    assert {k: pending[k] for k in ("tool", "state", "rule", "reason", "approved_args", "decided_by")} == snapshot(
        {
            "tool": "sync_contacts_to_crm",
            "state": "pending",
            "rule": "tool_metadata_approval",
            "reason": "sync_contacts_to_crm uses values that appeared only in outside data the agent read, not in "
            "the user's request: amara.andersen@northwind-group.example (from discover_leads), "
            "cinder-analytics.example (from discover_leads), dmitri.eriksson@tidewater-group.example (from "
            "discover_leads), driftwood-systems.example (from discover_leads), hiro.oliveira@cinder-analytics.example "
            "(from discover_leads) and 5 more; 'sync_contacts_to_crm' is destructive and requires human approval for "
            "this call",
            "approved_args": None,
            "decided_by": None,
        }
    )

    # Paused: three model requests so far, the CRM untouched.
    paused = signoff.json("show", run_id)
    assert paused["status"] == "awaiting_approval"
    assert [(c["tool"], c["status"]) for c in paused["tool_calls"]] == snapshot(
        [
            ("discover_leads", "succeeded"),
            ("enrich_contacts", "succeeded"),
            ("sync_contacts_to_crm", "awaiting_approval"),
        ]
    )
    assert len(paused["ledger"]) == 3
    assert signoff.crm_contacts() == 0

    decided = signoff.json("approve", approval_id)
    assert decided["approval"]["approval_id"] == approval_id
    assert decided["approval"]["state"] == "approved"
    assert decided["approval"]["decided_by"] == f"cli:{CLI_USER}"
    assert decided["run"]["run_id"] == run_id
    assert decided["run"]["status"] == "completed"
    assert decided["run"]["pending_approval_ids"] == []
    assert decided["run"]["output"] == snapshot(
        "Found 5 leads and enriched them (5 paid lookups, 0 from the cache). "
        "CRM: 5 contacts created, 0 updated, 0 unchanged."
    )
    assert signoff.crm_contacts() == 5
    assert signoff.json("approvals") == []

    shown = signoff.json("show", run_id)
    assert {
        k: shown[k] for k in ("status", "task", "model", "prompt", "requested_by", "failure_reason", "cost_usd")
    } == snapshot(
        {
            "status": "completed",
            "task": "find 5 fintech leads in Berlin, enrich them and add them to the CRM",
            "model": "signoff-offline",
            "prompt": {
                "name": "sales_agent",
                "version": "1",
                "hash": "sha256:0c7d405107f1815e28a41fd081e5f9b52bf042b3f85161af9b1482c674a552d6",
                "label": "production",
            },
            "requested_by": "cli:tester",
            "failure_reason": None,
            "cost_usd": None,
        }
    )
    assert shown["output"] == decided["run"]["output"]
    assert shown["finished_at"] is not None
    assert shown["policy_version"].startswith("sha256:")
    assert [(e["kind"], e.get("tool")) for e in shown["conversation"]] == snapshot(
        [
            ("user", None),
            ("tool_call", "discover_leads"),
            ("tool_result", "discover_leads"),
            ("tool_call", "enrich_contacts"),
            ("tool_result", "enrich_contacts"),
            ("tool_call", "sync_contacts_to_crm"),
            ("tool_result", "sync_contacts_to_crm"),
            ("assistant", None),
        ]
    )
    assert shown["conversation"][0]["content"] == [DEMO_TASK]
    assert shown["conversation"][-1]["content"] == shown["output"]
    assert all(e["outcome"] == "success" for e in shown["conversation"] if e["kind"] == "tool_result")
    assert [(c["tool"], c["verdict"], c["rule"], c["status"], c["items"]) for c in shown["tool_calls"]] == snapshot(
        [
            ("discover_leads", "allow", "default_allow", "succeeded", 5),
            ("enrich_contacts", "allow", "default_allow", "succeeded", 5),
            ("sync_contacts_to_crm", "require_approval", "tool_metadata_approval", "succeeded", 5),
        ]
    )
    assert shown["tool_calls"][2]["approval_id"] == approval_id
    assert [c["args"]["contacts"] for c in shown["tool_calls"][2:]] == [pending["requested_args"]["contacts"]]
    [executed] = shown["approvals"]
    assert {k: executed[k] for k in ("approval_id", "state", "decided_by", "error")} == {
        "approval_id": approval_id,
        "state": "executed",
        "decided_by": "cli:tester",
        "error": None,
    }
    assert executed["finished_at"] is not None
    # One ledger row per model request: three before the pause, one after; the offline model has no price.
    assert [(r["step"], r["model"], r["cost_usd"]) for r in shown["ledger"]] == snapshot(
        [
            (1, "signoff-offline", None),
            (2, "signoff-offline", None),
            (3, "signoff-offline", None),
            (4, "signoff-offline", None),
        ]
    )
    assert all(r["input_tokens"] > 0 and r["output_tokens"] > 0 for r in shown["ledger"])
    assert shown["ledger"][:3] == paused["ledger"]
    assert shown["unpriced_requests"] == 4

    assert signoff.json("approvals", "--all") == [executed]
    assert [r["run_id"] for r in signoff.json("runs")] == [run_id]


def test_cost_reports_match_the_ledger(signoff: Signoff) -> None:
    run_id, approval_id = start_demo(signoff)
    signoff.ok("approve", approval_id)
    other = signoff.json("run", OTHER_TASK)["run_id"]
    ledger = signoff.json("show", run_id)["ledger"] + signoff.json("show", other)["ledger"]
    assert len(ledger) == 5

    def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "requests": len(rows),
            "input_tokens": sum(r["input_tokens"] for r in rows),
            "output_tokens": sum(r["output_tokens"] for r in rows),
            "cache_read_tokens": sum(r["cache_read_tokens"] for r in rows),
            "cache_write_tokens": sum(r["cache_write_tokens"] for r in rows),
            "cost_usd": None,
            "unpriced_requests": len(rows),
            "failed_attempts": 0,
            # The offline demo pays no vendor; with unpriced model requests the total is unknown, not a guess.
            "provider_cost_usd": "0",
            "provider_calls": 0,
            "total_cost_usd": None,
        }

    def report(group_by: str) -> dict[str, dict[str, Any]]:
        lines = signoff.json("costs", "--by", group_by)
        assert [line["group"] for line in lines] == sorted(line["group"] for line in lines)
        return {line.pop("group"): line for line in lines}

    assert report("model") == {"signoff-offline": totals(ledger)}
    assert report("prompt") == {"sales_agent@1": totals(ledger)}
    assert report("run") == {run_id: totals(ledger[:4]), other: totals(ledger[4:])}
    days = {r["created_at"][:10] for r in ledger}
    assert report("day") == {day: totals([r for r in ledger if r["created_at"][:10] == day]) for day in days}
    assert signoff.json("costs") == signoff.json("costs", "--by", "day")


def test_non_demo_task_says_no_model_is_configured(signoff: Signoff) -> None:
    outcome = signoff.json("run", OTHER_TASK)
    assert outcome["status"] == "completed"
    assert outcome["output"] == NO_MODEL_MESSAGE
    assert outcome["pending_approval_ids"] == []
    assert "ANTHROPIC_API_KEY" in outcome["output"]

    shown = signoff.json("show", outcome["run_id"])
    assert shown["tool_calls"] == []
    assert shown["approvals"] == []
    assert [(r["step"], r["model"]) for r in shown["ledger"]] == [(1, "signoff-offline")]
    assert [e["kind"] for e in shown["conversation"]] == ["user", "assistant"]

    human = signoff.ok("run", "say hello")
    assert re.fullmatch(r"run [0-9a-f-]{36}: completed", human.splitlines()[0])
    assert NO_MODEL_MESSAGE in human
    assert "Waiting for approval" not in human


def test_default_database_is_a_sqlite_file_in_the_data_dir(signoff: Signoff) -> None:
    signoff.json("runs")
    uses_sqlite = signoff.database_url.startswith("sqlite")
    assert (signoff.data_dir / "signoff.db").exists() == uses_sqlite


def test_context_is_accepted_as_a_json_object(signoff: Signoff) -> None:
    outcome = signoff.json("run", OTHER_TASK, "--context", '{"account": "Acme", "region": "EMEA"}')
    assert outcome["status"] == "completed"
    [user] = [e for e in signoff.json("show", outcome["run_id"])["conversation"] if e["kind"] == "user"]
    assert user["content"][0] == OTHER_TASK
    assert '"account": "Acme"' in user["content"][1]


# --- denial --------------------------------------------------------------------------------------


def test_deny_completes_the_run_without_touching_the_crm(signoff: Signoff) -> None:
    run_id, approval_id = start_demo(signoff)

    decided = signoff.json("deny", approval_id, "--reason", "wrong list")
    assert {k: decided["approval"][k] for k in ("approval_id", "state", "decided_by", "decision_note")} == {
        "approval_id": approval_id,
        "state": "denied",
        "decided_by": "cli:tester",
        "decision_note": "wrong list",
    }
    assert decided["run"]["status"] == "completed"
    assert decided["run"]["output"] == snapshot(
        "Found 5 leads and enriched them (5 paid lookups, 0 from the cache). A CRM sync was not done: A person "
        "(cli:tester) denied this call: wrong list. It was not executed. Do not retry it; tell the user."
    )

    shown = signoff.json("show", run_id)
    assert shown["status"] == "completed"
    assert [(c["tool"], c["status"]) for c in shown["tool_calls"]] == snapshot(
        [
            ("discover_leads", "succeeded"),
            ("enrich_contacts", "succeeded"),
            ("sync_contacts_to_crm", "not_executed"),
        ]
    )
    assert "denied this call: wrong list" in shown["tool_calls"][2]["error"]
    assert [a["state"] for a in shown["approvals"]] == ["denied"]
    assert len(shown["ledger"]) == 4
    assert signoff.crm_contacts() == 0


def test_deny_human_output(signoff: Signoff) -> None:
    run_id, approval_id = start_demo(signoff)
    text = signoff.ok("deny", approval_id, "--reason", "wrong list", "--as", "alice")
    lines = text.splitlines()
    assert lines[0] == f"denied {approval_id}"
    assert lines[2] == f"run {run_id}: completed"
    assert "denied this call: wrong list" in text
    assert signoff.json("show", run_id)["approvals"][0]["decided_by"] == "alice"


def test_batch_over_the_limit_is_split_and_the_run_resumes_after_the_last_decision(signoff: Signoff) -> None:
    task = "find 12 fintech leads in Berlin, enrich them and add them to the CRM"
    outcome = signoff.json("run", task)
    run_id = outcome["run_id"]
    # Twelve items is over the spend threshold, so discovery and enrichment each wait for a person first.
    for tool in ("discover_leads", "enrich_contacts"):
        [pending] = signoff.json("approvals")
        assert (pending["tool"], pending["rule"]) == (tool, "spend_threshold")
        assert outcome["pending_approval_ids"] == [pending["approval_id"]]
        outcome = signoff.json("approve", pending["approval_id"])["run"]

    # The model asked to sync all 12, was told the limit is 10, and split the batch.
    # The two calls of that step run concurrently, so their rows come in either order.
    pending = signoff.json("approvals", "--run", run_id)
    assert sorted(a["approval_id"] for a in pending) == sorted(outcome["pending_approval_ids"])
    assert sorted(len(a["requested_args"]["contacts"]) for a in pending) == [2, 10]
    assert {a["summary"].split(":")[0] for a in pending} == snapshot(
        {"Create or update 10 contacts in the CRM", "Create or update 2 contacts in the CRM"}
    )
    first, second = (a["approval_id"] for a in pending)

    # One decision of two: the run keeps waiting and nothing executes yet.
    waiting = signoff.json("approve", first)["run"]
    assert (waiting["status"], waiting["pending_approval_ids"]) == ("awaiting_approval", [second])
    assert signoff.crm_contacts() == 0

    done = signoff.json("approve", second)["run"]
    assert done["status"] == "completed"
    assert "CRM: 12 contacts created, 0 updated, 0 unchanged." in done["output"]
    assert signoff.crm_contacts() == 12
    calls = [
        (c["tool"], c["verdict"], c["rule"], c["status"], c["items"])
        for c in signoff.json("show", run_id)["tool_calls"]
    ]
    assert calls[:3] == snapshot(
        [
            ("discover_leads", "require_approval", "spend_threshold", "succeeded", 12),
            ("enrich_contacts", "require_approval", "spend_threshold", "succeeded", 12),
            ("sync_contacts_to_crm", "deny", "batch_limit", "denied", 12),
        ]
    )
    assert sorted(calls[3:], key=lambda call: call[-1]) == snapshot(
        [
            ("sync_contacts_to_crm", "require_approval", "tool_metadata_approval", "succeeded", 2),
            ("sync_contacts_to_crm", "require_approval", "tool_metadata_approval", "succeeded", 10),
        ]
    )


def test_expired_approval_is_settled_by_recover(signoff: Signoff) -> None:
    # Two seconds: long enough that the approval cannot expire while `run` is still pausing the run.
    run_id, approval_id = start_demo(signoff.with_env(SIGNOFF_APPROVAL_TTL_SECONDS="2"))
    [pending] = signoff.json("approvals")
    expires_at = datetime.fromisoformat(pending["expires_at"])
    assert expires_at - datetime.fromisoformat(pending["created_at"]) == timedelta(seconds=2)
    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.05)

    assert signoff.error("approve", approval_id) == f"approval {approval_id!r} is already expired; nothing was changed"
    assert signoff.json("show", run_id)["status"] == "awaiting_approval"
    [recovered] = signoff.json("recover")
    assert (recovered["run_id"], recovered["status"]) == (run_id, "completed")
    assert "the approval request expired before anyone decided. This is not a denial" in recovered["output"]
    shown = signoff.json("show", run_id)
    assert [a["state"] for a in shown["approvals"]] == ["expired"]
    assert shown["tool_calls"][-1]["status"] == "not_executed"
    assert signoff.crm_contacts() == 0
    assert signoff.json("recover") == []


# --- edits ----------------------------------------------------------------------------------------


def test_edited_approval_executes_the_edited_contacts(signoff: Signoff) -> None:
    run_id, approval_id = start_demo(signoff)
    edit = {"contacts": contacts(2)}
    decided = signoff.json("approve", approval_id, "--edit", json.dumps(edit), "--note", "only two")
    approved = decided["approval"]["approved_args"]["contacts"]
    assert [c["email"] for c in approved] == ["person0@acme.example", "person1@acme.example"]
    assert decided["approval"]["requested_args"]["contacts"] != approved
    assert decided["approval"]["decision_note"] == "only two"
    assert decided["run"]["status"] == "completed"
    assert "CRM: 2 contacts created" in decided["run"]["output"]
    assert signoff.crm_contacts() == 2
    [approval] = signoff.json("show", run_id)["approvals"]
    assert approval["state"] == "executed"


def test_bad_edits_are_refused_and_leave_the_approval_pending(signoff: Signoff) -> None:
    run_id, approval_id = start_demo(signoff)
    before = signoff.json("approvals")

    assert signoff.usage_error("approve", approval_id, "--edit", "{bad") == (
        "Invalid value: --edit is not valid JSON: Expecting property name enclosed in double quotes at column 2"
    )
    assert signoff.usage_error("approve", approval_id, "--edit", "[1]") == (
        """Invalid value: --edit must be a JSON object, like '{"key": "value"}'"""
    )
    # An edit cannot lift the tool's hard batch limit.
    assert signoff.error("approve", approval_id, "--edit", json.dumps({"contacts": contacts(11)})) == snapshot(
        "the policy refuses this call (batch_limit): sync_contacts_to_crm accepts at most 10 contacts per call; "
        "you sent 11. Split the batch into calls of at most 10 and try again."
    )
    lines = signoff.fails("approve", approval_id, "--edit", json.dumps({"contacts": [{"email": "not-an-address"}]}))
    assert lines[0].startswith("Error: edited arguments are invalid: ")
    fields = {line.strip().split(":")[0] for line in lines[1:]}
    assert fields == snapshot({"contacts.0.email", "contacts.0.first_name", "contacts.0.last_name"})
    assert signoff.error("deny", approval_id, "--reason", "   ") == "a denial needs a reason: the model is told why"
    assert signoff.usage_error("deny", approval_id) == "Missing option '--reason'."

    # Nothing changed: still pending, not resumed, nothing in the CRM.
    assert signoff.json("approvals") == before
    shown = signoff.json("show", run_id)
    assert shown["status"] == "awaiting_approval"
    assert len(shown["ledger"]) == 3
    assert [c["status"] for c in shown["tool_calls"]][-1] == "awaiting_approval"
    assert signoff.crm_contacts() == 0


# --- bad input ------------------------------------------------------------------------------------


def test_unknown_ids_are_refused(signoff: Signoff) -> None:
    assert signoff.error("show", "no-such-run") == "no run with id 'no-such-run'"
    assert signoff.error("approve", "no-such-approval") == "no approval with id 'no-such-approval'"
    assert signoff.error("deny", "no-such-approval", "--reason", "x") == "no approval with id 'no-such-approval'"
    assert signoff.json("runs") == []
    assert signoff.json("approvals", "--all") == []


def test_a_decision_is_taken_once(signoff: Signoff) -> None:
    run_id, approval_id = start_demo(signoff)
    signoff.ok("approve", approval_id)
    shown = signoff.json("show", run_id)

    # The CLI resumes the run straight after approving, so by now the call has executed.
    assert signoff.error("approve", approval_id) == f"approval {approval_id!r} is already executed; nothing was changed"
    assert signoff.error("deny", approval_id, "--reason", "too late") == (
        f"approval {approval_id!r} is already executed; nothing was changed"
    )
    assert signoff.json("show", run_id) == shown
    assert signoff.crm_contacts() == 5


def test_a_denial_is_final(signoff: Signoff) -> None:
    run_id, approval_id = start_demo(signoff)
    signoff.ok("deny", approval_id, "--reason", "wrong list")
    assert signoff.error("approve", approval_id) == f"approval {approval_id!r} is already denied; nothing was changed"
    assert signoff.json("show", run_id)["approvals"][0]["state"] == "denied"
    assert signoff.crm_contacts() == 0


@pytest.mark.parametrize("task", ["", "   \n"])
def test_empty_task_is_refused(signoff: Signoff, task: str) -> None:
    assert signoff.error("run", task) == "the task is empty"
    assert signoff.json("runs") == []


def test_too_long_task_is_refused(signoff: Signoff) -> None:
    assert signoff.error("run", "x" * 4_001) == "the task is 4001 characters long; the limit is 4000"
    assert signoff.json("runs") == []


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ("nope", "Invalid value: --context is not valid JSON: Expecting value at column 1"),
        ("[1]", """Invalid value: --context must be a JSON object, like '{"key": "value"}'"""),
    ],
)
def test_bad_context_is_refused(signoff: Signoff, context: str, message: str) -> None:
    assert signoff.usage_error("run", OTHER_TASK, "--context", context) == message
    assert signoff.json("runs") == []


def test_bad_options_are_usage_errors(signoff: Signoff) -> None:
    assert signoff.usage_error("runs", "--status", "bogus").startswith("Invalid value for '--status': 'bogus' is not")
    assert signoff.usage_error("costs", "--by", "week").startswith("Invalid value for '--by': 'week' is not one of")
    assert signoff.usage_error("approvals", "--state", "maybe").startswith("Invalid value for '--state'")
    assert signoff.usage_error("policy", "check", "sync_contacts_to_crm", "{bad") == (
        "Invalid value: ARGS_JSON is not valid JSON: Expecting property name enclosed in double quotes at column 2"
    )
    assert signoff.usage_error("policy", "check", "sync_contacts_to_crm", "[]") == (
        """Invalid value: ARGS_JSON must be a JSON object, like '{"key": "value"}'"""
    )


def test_conversation_follow_up(signoff: Signoff) -> None:
    first = signoff.json("run", OTHER_TASK)
    conversation_id = signoff.json("show", first["run_id"])["conversation_id"]
    second = signoff.json("run", "and tomorrow?", "--conversation", conversation_id)
    assert second["status"] == "completed"
    shown = signoff.json("show", second["run_id"])
    assert shown["conversation_id"] == conversation_id
    # The follow-up starts from the first run's history.
    assert [e["kind"] for e in shown["conversation"]] == ["user", "assistant", "user", "assistant"]

    assert "no-such-conversation" in signoff.error("run", "hello", "--conversation", "no-such-conversation")
    assert len(signoff.json("runs")) == 2


def test_follow_up_on_a_paused_conversation_is_refused(signoff: Signoff) -> None:
    run_id, _ = start_demo(signoff)
    conversation_id = signoff.json("show", run_id)["conversation_id"]
    assert signoff.error("run", "and more", "--conversation", conversation_id) == (
        f"conversation {conversation_id!r} has a run that is still awaiting_approval; "
        "wait for it to finish before sending a follow-up"
    )
    assert len(signoff.json("runs")) == 1


# --- configuration errors -------------------------------------------------------------------------


def test_missing_policy_file_is_a_one_line_error(signoff: Signoff, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-policy.toml"
    assert signoff.with_env(SIGNOFF_POLICY_FILE=str(missing)).error("runs") == (
        f"policy config file not found: {str(missing)!r}"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param(
            "SIGNOFF_DATABASE_URL",
            "nope",
            id="unparsable-database-url",
        ),
        pytest.param(
            "SIGNOFF_PROMPT_LABEL",
            "nope",
            id="unknown-prompt-label",
        ),
        pytest.param(
            "SIGNOFF_APPROVAL_TTL_SECONDS",
            "soon",
            id="non-integer-ttl",
        ),
    ],
)
def test_bad_settings_are_one_line_errors(signoff: Signoff, name: str, value: str) -> None:
    message = signoff.with_env(**{name: value}).error("runs")
    # The message names the bad value; a database URL is not echoed, since it may hold a password.
    assert name == "SIGNOFF_DATABASE_URL" or value in message


# --- tools and policy -------------------------------------------------------------------------------


def test_tools_lists_the_sales_pack_with_its_safety_metadata(signoff: Signoff) -> None:
    tools = signoff.json("tools")
    assert [
        (t["name"], t["destructive"], t["requires_approval"], t["max_batch"], t["untrusted_output"]) for t in tools
    ] == snapshot(
        [
            ("assign_contact_owner", True, True, None, True),
            ("classify_replies", False, False, None, True),
            ("create_campaign", True, True, None, False),
            ("discover_leads", False, False, None, True),
            ("enrich_contacts", False, False, 50, True),
            ("enroll_contacts", True, True, 25, False),
            ("get_contact", False, False, None, True),
            ("list_replies", False, False, None, True),
            ("send_email", True, True, None, False),
            ("sync_contacts_to_crm", True, True, 10, False),
        ]
    )
    assert all(t["description"] and t["parameters"]["type"] == "object" for t in tools)
    by_name = {t["name"]: t for t in tools}
    assert by_name["sync_contacts_to_crm"]["batch_arg"] == "contacts"
    assert by_name["enrich_contacts"]["unit_cost_usd"] == "0.50"


def test_policy_check_batch_over_the_limit_is_denied(signoff: Signoff) -> None:
    checked = signoff.json("policy", "check", "sync_contacts_to_crm", json.dumps({"contacts": contacts(12)}))
    assert {k: checked[k] for k in ("tool", "verdict", "rule", "reason")} == snapshot(
        {
            "tool": "sync_contacts_to_crm",
            "verdict": "deny",
            "rule": "batch_limit",
            "reason": "sync_contacts_to_crm accepts at most 10 contacts per call; you sent 12. "
            "Split the batch into calls of at most 10 and try again.",
        }
    )
    assert len(checked["args"]["contacts"]) == 12
    assert checked["policy_version"].startswith("sha256:")
    assert checked["summary"].startswith("Create or update 12 contacts in the CRM: person0@acme.example")


def test_policy_check_small_batch_requires_approval(signoff: Signoff) -> None:
    checked = signoff.json("policy", "check", "sync_contacts_to_crm", json.dumps({"contacts": contacts(3)}))
    assert {k: checked[k] for k in ("verdict", "rule", "reason", "summary")} == snapshot(
        {
            "verdict": "require_approval",
            "rule": "tool_metadata_approval",
            "reason": "'sync_contacts_to_crm' is destructive and requires human approval for this call",
            "summary": "Create or update 3 contacts in the CRM: person0@acme.example, person1@acme.example, "
            "person2@acme.example",
        }
    )
    # The arguments are shown validated, with defaults filled in.
    assert checked["args"]["contacts"][0] == {**contacts(1)[0], "title": None}

    human = signoff.ok("policy", "check", "sync_contacts_to_crm", json.dumps({"contacts": contacts(3)}))
    assert human.splitlines()[0] == "require_approval  (rule: tool_metadata_approval)"
    assert human.splitlines()[2] == f"policy version: {checked['policy_version']}"


def test_policy_check_unknown_tool_is_denied(signoff: Signoff) -> None:
    checked = signoff.json("policy", "check", "delete_all_contacts")
    assert checked["verdict"] == "deny"
    assert checked["rule"] == "unknown_tool"
    assert checked["reason"] == f"unknown tool 'delete_all_contacts'; available: {', '.join(SALES_TOOLS)}"
    assert checked["args"] == {}
    assert checked["summary"] is None


def test_policy_check_invalid_arguments_are_refused(signoff: Signoff) -> None:
    message = signoff.error("policy", "check", "sync_contacts_to_crm", '{"contacts": [{"email": "x"}]}')
    assert message.startswith("invalid arguments for 'sync_contacts_to_crm': contacts.0.email: ")


def test_policy_check_executes_nothing(signoff: Signoff) -> None:
    for args in ({"contacts": contacts(12)}, {"contacts": contacts(3)}):
        signoff.json("policy", "check", "sync_contacts_to_crm", json.dumps(args))
    signoff.json("policy", "check", "send_email", json.dumps({"to": "a@b.example", "subject": "s", "body": "b"}))
    assert signoff.json("runs") == []
    assert signoff.json("approvals", "--all") == []
    assert signoff.json("costs") == []
    assert signoff.crm_contacts() == 0


# --- human output -----------------------------------------------------------------------------------


def test_human_output_renders_tables(signoff: Signoff) -> None:
    assert signoff.ok("runs") == "no runs yet\n"
    assert signoff.ok("approvals") == "no approvals waiting\n"
    assert signoff.ok("approvals", "--all") == "no approvals\n"
    assert signoff.ok("costs") == "no model requests or provider charges recorded yet\n"

    started = signoff.ok("run", DEMO_TASK)
    first_line = started.splitlines()[0]
    assert re.fullmatch(r"run [0-9a-f-]{36}: awaiting_approval", first_line)
    run_id = first_line.split()[1].rstrip(":")
    [waiting] = [line for line in started.splitlines() if "Create or update 5 contacts" in line]
    approval_id = waiting.split()[0]
    assert "Waiting for approval:" in started
    assert "Approve with:  signoff approve APPROVAL_ID" in started
    assert "Deny with:     signoff deny APPROVAL_ID --reason 'why'" in started

    approvals = signoff.ok("approvals")
    assert table_headers(approvals, "approval_id") == ["approval_id", "state", "tool", "warnings", "summary"]
    [row] = parse_table(approvals, "approval_id")
    assert row["approval_id"] == approval_id
    assert row["state"] == "pending"
    assert row["tool"] == "sync_contacts_to_crm"
    assert row["warnings"] == "-"  # the demo's arguments are clean; tests/api/test_display_surfaces.py has dirty ones
    assert "WARNINGS" not in approvals
    assert row["summary"].startswith("Create or update 5 contacts in the CRM: ")
    assert len(row["summary"]) <= 70

    runs = signoff.ok("runs", "--status", "awaiting_approval")
    assert table_headers(runs, "run_id") == ["run_id", "status", "created", "task"]
    assert [(r["run_id"], r["status"]) for r in parse_table(runs, "run_id")] == [(run_id, "awaiting_approval")]
    assert signoff.ok("runs", "--status", "completed") == "no runs yet\n"

    approved = signoff.ok("approve", approval_id)
    assert approved.splitlines()[0] == f"approved {approval_id}"
    assert f"run {run_id}: completed" in approved
    assert "CRM: 5 contacts created" in approved

    shown = signoff.ok("show", run_id)
    assert shown.splitlines()[:3] == [
        f"run {run_id}  [completed]",
        f"task:    {DEMO_TASK}",
        "model:   signoff-offline   prompt: sales_agent@1",
    ]
    assert re.fullmatch(r"policy:  sha256:[0-9a-f]+   requested by cli:tester", shown.splitlines()[3])
    assert "Conversation:" in shown
    assert f"  user:      {DEMO_TASK}" in shown
    assert "  -> discover_leads(" in shown
    assert "  <- sync_contacts_to_crm [success]: " in shown
    assert table_headers(shown, "tool ") == ["tool", "verdict", "rule", "status", "items", "ms"]
    assert [(c["tool"], c["verdict"], c["status"]) for c in parse_table(shown, "tool ")] == [
        ("discover_leads", "allow", "succeeded"),
        ("enrich_contacts", "allow", "succeeded"),
        ("sync_contacts_to_crm", "require_approval", "succeeded"),
    ]
    assert table_headers(shown, "approval_id") == ["approval_id", "state", "decided_by", "summary"]
    assert [(a["approval_id"], a["state"], a["decided_by"]) for a in parse_table(shown, "approval_id")] == [
        (approval_id, "executed", "cli:tester")
    ]
    assert "Model requests: 4   cost: unknown   (4 without a known price)" in shown.splitlines()
    assert shown.rstrip("\n").endswith("CRM: 5 contacts created, 0 updated, 0 unchanged.")

    for group_by in ("day", "model", "run", "prompt"):
        costs = signoff.ok("costs", "--by", group_by)
        assert table_headers(costs, group_by) == [
            group_by,
            "requests",
            "input",
            "output",
            "cache read",
            "cache write",
            "model USD",
            "unpriced",
            "failed",
            "provider USD",
            "total USD",
        ]
        [line] = parse_table(costs, group_by)
        assert (line["requests"], line["model USD"], line["unpriced"], line["failed"]) == ("4", "unknown", "4", "0")
        assert (line["provider USD"], line["total USD"]) == ("0", "unknown")
        assert costs.rstrip("\n").endswith("model spend unknown USD + provider spend 0 USD = unknown USD")
    assert parse_table(signoff.ok("costs", "--by", "run"), "run")[0]["run"] == run_id

    tools = signoff.ok("tools")
    assert table_headers(tools, "tool") == [
        "tool",
        "destructive",
        "approval",
        "max batch",
        "unit cost USD",
        "idempotent",
        "untrusted output",
    ]
    rows = parse_table(tools, "tool")
    assert [r["tool"] for r in rows] == SALES_TOOLS
    assert {r["tool"]: r["max batch"] for r in rows}["sync_contacts_to_crm"] == "10"

    assert signoff.ok("recover") == "nothing to recover\n"


# --- JSON everywhere --------------------------------------------------------------------------------


def test_every_data_command_speaks_json(signoff: Signoff) -> None:
    run_id, approval_id = start_demo(signoff)
    _, other_approval_id = start_demo(signoff)
    commands: list[tuple[str, ...]] = [
        ("runs",),
        ("runs", "--status", "awaiting_approval", "--limit", "1"),
        ("show", run_id),
        ("approvals",),
        ("approvals", "--all"),
        ("approvals", "--run", run_id),
        ("approvals", "--state", "pending"),
        ("approve", approval_id),
        ("deny", other_approval_id, "--reason", "no"),
        ("run", OTHER_TASK),
        ("costs",),
        ("costs", "--by", "model"),
        ("costs", "--by", "run"),
        ("costs", "--by", "prompt"),
        ("tools",),
        ("policy", "check", "get_contact", '{"email": "person0@acme.example"}'),
        ("recover",),
    ]
    for command in commands:
        parsed = signoff.json(*command)
        assert isinstance(parsed, dict | list), command
    assert len(signoff.json("runs", "--status", "awaiting_approval", "--limit", "1")) == 0
    assert [r["status"] for r in signoff.json("runs")] == ["completed", "completed", "completed"]
    assert signoff.json("recover") == []


def test_unreachable_database_is_a_one_line_error_without_the_url(signoff: Signoff) -> None:
    # Port 9 (discard) on loopback: nothing listens there, so the connection is refused at once.
    url = "postgresql+asyncpg://someone:s3cret@127.0.0.1:9/db"
    message = signoff.with_env(SIGNOFF_DATABASE_URL=url).error("runs")
    assert message.startswith("cannot use the database (")
    assert "s3cret" not in message


def test_unknown_conversation_says_so(signoff: Signoff) -> None:
    assert signoff.error("run", "hello", "--conversation", "nope") == "no conversation with id 'nope'"


def test_doctor_reports_the_database_model_packs_and_vendors(signoff: Signoff, tmp_path: Path) -> None:
    backend = "sqlite" if signoff.database_url.startswith("sqlite") else "postgresql"
    assert signoff.json("doctor") == [
        {"check": "database", "verdict": "ok", "detail": f"{backend}, schema 0011"},
        {"check": "model", "verdict": "ok", "detail": "offline model (no ANTHROPIC_API_KEY)"},
        {"check": "pack sales", "verdict": "ok", "detail": "10 tools, schema sales_0002"},
        {"check": "vendors", "verdict": "ok", "detail": "none configured: the packs use their offline providers"},
    ]
    # A secrets file naming an option the pack does not know stops every command, naming the option only.
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[sales]\nhubspot_tokn = "pat-canary-0042"\n', encoding="utf-8")
    misconfigured = replace(signoff, env={**signoff.env, "SIGNOFF_SECRETS_FILE": str(secrets)})
    message = misconfigured.error("doctor")
    assert "'hubspot_tokn'" in message and "pat-canary-0042" not in message
    # The same option in the environment and the file is refused rather than guessed.
    secrets.write_text('[sales]\nhubspot_token = "pat-canary-0042"\n', encoding="utf-8")
    both = replace(
        misconfigured,
        env={**misconfigured.env, "SIGNOFF_PACK_OPTIONS": '{"sales": {"hubspot_token": "pat-canary-0043"}}'},
    )
    message = both.error("doctor")
    assert "set both in SIGNOFF_PACK_OPTIONS and the secrets file" in message
    assert "pat-canary-004" not in message
