"""`signoff eval run` and `signoff eval list` end to end: exit 0 when the gates pass, 1 when one fails, 2 for
bad input; the run is recorded in the configured database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.api.test_cli import Signoff
from tests.evals.support import write_dataset

QUESTION = {"name": "weather", "task": "what is the weather in Berlin?"}


def _dataset(tmp_path: Path, expect: dict[str, object], *, name: str = "cli-dataset") -> str:
    return str(write_dataset(tmp_path / "datasets", [{**QUESTION, "expect": expect}], name=name))


def test_passing_gates_exit_0_and_the_run_is_recorded(signoff: Signoff, tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, {"must_not_call": [{"tool": "sync_contacts_to_crm"}], "max_seconds": 60})
    payload = signoff.json("eval", "run", dataset, "--prompt", "sales_agent@1")
    assert payload["passed"] is True
    assert payload["model"] == "offline"
    assert payload["report"]["gates"]["failures"] == []
    assert payload["report"]["totals"]["candidate"]["passed"] == 1

    text = signoff.ok("eval", "run", dataset, "--prompt", "sales_agent@1")
    assert "All gates passed." in text
    assert "judge calls: none" in text

    [latest, first] = signoff.json("eval", "list")
    assert first["eval_run_id"] == payload["eval_run_id"]
    assert (first["dataset"], first["prompt"], first["model"], first["passed"]) == (
        "cli-dataset",
        "sales_agent@1",
        "offline",
        True,
    )
    assert first["created_by"] == "cli:tester"
    assert latest["passed"] is True


def test_a_failed_gate_exits_1_and_lists_it(signoff: Signoff, tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, {"must_call": [{"tool": "sync_contacts_to_crm"}]})
    result = signoff.invoke("eval", "run", dataset, "--prompt", "sales_agent@1", "--threshold", "trajectory=1")
    assert result.exit_code == 1, result.output
    assert "GATES FAILED:" in result.stdout
    assert "  - trajectory: 0.0% of runs passed; the threshold is 100.0%" in result.stdout

    payload = json.loads(
        signoff.invoke(
            "eval", "run", dataset, "--prompt", "sales_agent@1", "--threshold", "trajectory=1", "--json"
        ).stdout
    )
    assert payload["passed"] is False
    [stored, _] = signoff.json("eval", "list")
    assert stored["passed"] is False
    assert stored["gate_failures"] == ["trajectory: 0.0% of runs passed; the threshold is 100.0%"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-dataset"], "no dataset named 'no-such-dataset'"),
        (["DATASET", "--prompt", "sales_agent@99"], "prompt 'sales_agent' has no version '99'"),
        (["DATASET", "--prompt", "sales_agent"], "'sales_agent' is not NAME@VERSION (for example sales_agent@1)"),
        (["DATASET", "--model", "nonsense"], "unknown model 'nonsense'"),
        (["DATASET", "--model", "replay:/no/such/recording.json"], "replay: cannot read '/no/such/recording.json'"),
        (["DATASET", "--threshold", "speed=1"], "no evaluator named 'speed'"),
        (["DATASET", "--baseline", "sales_agent@1"], "the baseline sales_agent@1 is the same file as sales_agent@1"),
        (["BROKEN"], "not valid YAML"),
    ],
)
def test_bad_input_exits_2_with_one_line(signoff: Signoff, tmp_path: Path, args: list[str], message: str) -> None:
    dataset = _dataset(tmp_path, {"max_seconds": 60})
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    argv = [{"DATASET": dataset, "BROKEN": str(broken)}.get(arg, arg) for arg in args]
    if "--prompt" not in argv:
        argv += ["--prompt", "sales_agent@1"]
    [line] = signoff.fails("eval", "run", *argv, exit_code=2)
    assert line.startswith("Error: ")
    assert message in line


def test_record_then_replay_from_the_command_line(signoff: Signoff, tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, {"must_not_call": [{"tool": "send_email"}]})
    recording = tmp_path / "recording.json"
    recorded = signoff.json("eval", "run", dataset, "--prompt", "sales_agent@1", "--record", str(recording))
    replayed = signoff.json("eval", "run", dataset, "--prompt", "sales_agent@1", "--model", f"replay:{recording}")
    assert recorded["passed"] and replayed["passed"]
    assert replayed["model"] == f"replay:{recording}"
    assert replayed["report"]["totals"]["candidate"]["model_requests"] == 1
