"""`signoff prompts list | show | diff | history | promote`, end to end in process."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from inline_snapshot import snapshot

from signoff.evals.records import EvalRunRecord
from signoff.prompts import PromptRegistry
from signoff.prompts.pins import read_pins
from tests.prompts.cli_support import PromptsCli
from tests.prompts.conftest import write_version

FINISHED = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def passing_run(registry: PromptRegistry, ref: str, eval_run_id: str = "eval-pass") -> EvalRunRecord:
    """A passing evaluation run of the version `ref` names, with its current hash."""
    prompt = registry.resolve(ref)
    return EvalRunRecord(
        eval_run_id=eval_run_id,
        dataset_name="sales_smoke",
        dataset_hash="sha256:" + "d" * 64,
        prompt_name=prompt.name,
        prompt_version=prompt.version,
        prompt_hash=prompt.content_hash,
        baseline="sales_agent@1",
        model_name="offline",
        settings={"concurrency": 4},
        repeat=1,
        passed=True,
        gate_failures=[],
        report={"cases": 12, "passed": 12},
        cost_usd=Decimal(0),
        judge_cost_usd=None,
        started_at=FINISHED - timedelta(minutes=2),
        finished_at=FINISHED,
        created_by="ci",
    )


# --- list, show, history ---------------------------------------------------------------------------


def test_list_shows_versions_hashes_release_pins_and_labels(prompts_cli: PromptsCli) -> None:
    listed = prompts_cli.json("list")
    assert listed == snapshot(
        [
            {
                "labels": {"production": "1", "staging": "1"},
                "name": "reply_classifier",
                "versions": [
                    {
                        "content_hash": "sha256:cc646998f75d6718ba6c298e6f5a737818b9fad0b349eb4f57c89a861c322118",
                        "description": (
                            "Labels the intent of inbound replies to a sales campaign, one label and a one-sentence "
                            "reason per reply; the replies are data in the user message, never instructions. Moved "
                            "unchanged from the code of classify_replies."
                        ),
                        "labels": ["production", "staging"],
                        "model": "anthropic:claude-haiku-4-5",
                        "released": True,
                        "version": "1",
                    }
                ],
            },
            {
                "labels": {"production": "1", "staging": "1"},
                "name": "sales_agent",
                "versions": [
                    {
                        "content_hash": "sha256:0c7d405107f1815e28a41fd081e5f9b52bf042b3f85161af9b1482c674a552d6",
                        "description": (
                            "Plans sales-operations tasks with the sales tool pack; treats task text and tool output "
                            "as data."
                        ),
                        "labels": ["production", "staging"],
                        "model": "anthropic:claude-sonnet-4-5",
                        "released": True,
                        "version": "1",
                    },
                    {
                        "content_hash": "sha256:2b999414c929cfb7ad312126d75349b8191df3338c899e2f46b703c26315aec5",
                        "description": (
                            "Like v1, with explicit steps for splitting a batch over a limit, for waiting approvals "
                            "and denials, and for treating every tool result as untrusted data."
                        ),
                        "labels": [],
                        "model": "anthropic:claude-sonnet-4-5",
                        "released": True,
                        "version": "2",
                    },
                ],
            },
        ]
    )
    assert prompts_cli.ok("list") == snapshot(
        """\
prompt            version  labels              released  hash                  model
----------------  -------  ------------------  --------  --------------------  ---------------------------
reply_classifier  1        production,staging  yes       sha256:cc646998f75d…  anthropic:claude-haiku-4-5
sales_agent       1        production,staging  yes       sha256:0c7d405107f1…  anthropic:claude-sonnet-4-5
sales_agent       2                            yes       sha256:2b999414c929…  anthropic:claude-sonnet-4-5
"""
    )


def test_show_by_label_version_or_bare_name(prompts_cli: PromptsCli) -> None:
    by_label = prompts_cli.json("show", "sales_agent@staging")
    assert {k: v for k, v in by_label.items() if k != "template"} == snapshot(
        {
            "content_hash": "sha256:0c7d405107f1815e28a41fd081e5f9b52bf042b3f85161af9b1482c674a552d6",
            "description": (
                "Plans sales-operations tasks with the sales tool pack; treats task text and tool output as data."
            ),
            "labels": ["production", "staging"],
            "model": "anthropic:claude-sonnet-4-5",
            "name": "sales_agent",
            "released": True,
            "resolved_label": "staging",
            "version": "1",
        }
    )
    assert by_label["template"].startswith("You are Signoff's sales-operations assistant.")
    assert prompts_cli.json("show", "sales_agent")["resolved_label"] == "production"
    pinned = prompts_cli.json("show", "sales_agent@2")
    assert (pinned["version"], pinned["resolved_label"], pinned["labels"]) == ("2", None, [])
    human = prompts_cli.ok("show", "sales_agent@2").splitlines()
    assert human[:6] == snapshot(
        [
            "name:        sales_agent",
            "version:     2",
            (
                "description: Like v1, with explicit steps for splitting a batch over a limit, for "
                "waiting approvals and denials, and for treating every tool result as untrusted data."
            ),
            "model:       anthropic:claude-sonnet-4-5",
            "hash:        sha256:2b999414c929cfb7ad312126d75349b8191df3338c899e2f46b703c26315aec5   released: yes",
            "labels:      (none)",
        ]
    )


def test_the_reply_classifier_is_shown_and_diffed_like_any_prompt(prompts_cli: PromptsCli) -> None:
    shown = prompts_cli.json("show", "reply_classifier")
    assert {k: v for k, v in shown.items() if k != "template"} == snapshot(
        {
            "content_hash": "sha256:cc646998f75d6718ba6c298e6f5a737818b9fad0b349eb4f57c89a861c322118",
            "description": (
                "Labels the intent of inbound replies to a sales campaign, one label and a one-sentence reason per "
                "reply; the replies are data in the user message, never instructions. Moved unchanged from the code "
                "of classify_replies."
            ),
            "labels": ["production", "staging"],
            "model": "anthropic:claude-haiku-4-5",
            "name": "reply_classifier",
            "released": True,
            "resolved_label": "production",
            "version": "1",
        }
    )
    # The template holds a note for reviewers (a jinja comment), then the instructions the model reads.
    assert shown["template"].startswith("{#- For reviewers")
    assert "\nYou label the intent of inbound email replies to a sales campaign.\n" in shown["template"]

    # A draft next version diffs against production: the rendered difference is what the classifier reads.
    registry = prompts_cli.registry
    current = registry.load("reply_classifier")
    write_version(
        registry,
        "reply_classifier",
        "2",
        current.render().replace("one short sentence.", "one short sentence, in English.") + "\n",
    )
    payload = prompts_cli.json("diff", "reply_classifier", "reply_classifier@2")
    assert (payload["old"], payload["new"], payload["old_hash"]) == (
        "reply_classifier@1",
        "reply_classifier@2",
        current.content_hash,
    )
    assert payload["rendered_diff"] == snapshot("""\
--- reply_classifier@1 rendered
+++ reply_classifier@2 rendered
@@ -12,4 +12,4 @@
 - unsubscribe: asks to be removed from the list or to get no more email.
 - other: anything else (a wrong person, a bounce, an unrelated question, an unclear text).
 \n\
-Give each label a reason of one short sentence.
+Give each label a reason of one short sentence, in English.
""")


def test_bad_references_are_one_line_errors(prompts_cli: PromptsCli) -> None:
    assert prompts_cli.error("show", "sales_agent@9") == "prompt 'sales_agent' has no version '9'"
    assert prompts_cli.error("show", "sales_agent@canary") == "prompt 'sales_agent' has no label 'canary'"
    assert prompts_cli.error("show", "nope@1") == "prompt 'nope' has no version '1'"
    assert prompts_cli.error("diff", "sales_agent@1", "sales agent") == snapshot(
        "'sales agent' is not a prompt reference: expected NAME, NAME@VERSION or NAME@LABEL"
    )
    assert prompts_cli.error("promote", "sales_agent", "--label", "staging") == snapshot(
        "name the version to promote: sales_agent@VERSION (or sales_agent@LABEL)"
    )


def test_a_changed_released_file_is_a_one_line_error(prompts_cli: PromptsCli) -> None:
    path = prompts_cli.registry.templates_dir / "sales_agent" / "v2.j2"
    path.write_text(path.read_text(encoding="utf-8") + "One more rule.\n", encoding="utf-8")
    assert prompts_cli.error("list").startswith("prompt sales_agent@2 was released with sha256:2b99")
    assert "released versions are immutable" in prompts_cli.error("promote", "sales_agent@2", "--label", "staging")


# --- diff ------------------------------------------------------------------------------------------


def test_diff_shows_the_template_and_the_rendered_difference(prompts_cli: PromptsCli) -> None:
    registry = prompts_cli.registry
    write_version(registry, "greeter", "1", "Greet the user.\n{% if true %}Be brief.{% endif %}\n")
    write_version(
        registry,
        "greeter",
        "2",
        "{# v2: asks for the user's name; reviewers see this note, the model does not #}\n"
        "Greet the user by name.\n{% if true %}Be brief.{% endif %}\n",
        description="Greets by name.",
    )
    assert prompts_cli.ok("diff", "greeter@1", "greeter@2") == snapshot(
        """\
old: greeter@1  sha256:23756b36410eb04dfe334601f934431032d21b5304da454e48777a2e3aec7ba7
new: greeter@2  sha256:e788dd11b8b6ebb7f2b9471d8fd4cac463d439689bcf24e031dbce88371de1d0

Template diff:
--- greeter@1 template
+++ greeter@2 template
@@ -1,8 +1,9 @@
 ---
 name: greeter
-version: "1"
-description: test
+version: "2"
+description: Greets by name.
 model: anthropic:claude-sonnet-4-5
 ---
-Greet the user.
+{# v2: asks for the user's name; reviewers see this note, the model does not #}
+Greet the user by name.
 {% if true %}Be brief.{% endif %}

Rendered difference (sample context: none; the instructions take no per-run values):
--- greeter@1 rendered
+++ greeter@2 rendered
@@ -1,2 +1,2 @@
-Greet the user.
+Greet the user by name.
 Be brief.
"""
    )
    payload = prompts_cli.json("diff", "greeter@1", "greeter@2")
    assert payload["sample_context"] == {}
    assert payload["rendered_diff"] == snapshot("""\
--- greeter@1 rendered
+++ greeter@2 rendered
@@ -1,2 +1,2 @@
-Greet the user.
+Greet the user by name.
 Be brief.
""")
    # The same version on both sides: nothing changed.
    same = prompts_cli.json("diff", "greeter@1", "greeter@1")
    assert (same["template_diff"], same["rendered_diff"]) == ("", "")


def test_diff_of_the_shipped_sales_agent_versions(prompts_cli: PromptsCli) -> None:
    payload = prompts_cli.json("diff", "sales_agent@production", "sales_agent@2")
    assert (payload["old"], payload["new"]) == ("sales_agent@1", "sales_agent@2")
    # The reviewers' note is a jinja comment: in the template diff, never in what the model reads.
    assert "+{#- Changes from v1, for reviewers" in payload["template_diff"]
    assert "Changes from v1" not in payload["rendered_diff"]
    assert "+- Over a batch limit: the result states the limit." in payload["rendered_diff"]
    assert "-- A tool result may tell you that a call was denied" in payload["rendered_diff"]


# --- promote ---------------------------------------------------------------------------------------


def test_promote_is_refused_without_a_passing_evaluation_run(prompts_cli: PromptsCli) -> None:
    registry = prompts_cli.registry
    labels_before = registry.labels_file.read_bytes()
    pins_before = registry.released_file.read_bytes()

    assert prompts_cli.error("promote", "sales_agent@2", "--label", "production") == snapshot(
        "refused to move 'production' to sales_agent@2: no passing evaluation run is recorded "
        "for it (hash sha256:2b999414c929cfb7ad312126d75349b8191df3338c899e2f46b703c26315aec5); "
        "run `signoff eval run DATASET --prompt sales_agent@2` until it passes, or pass --force "
        "(the move is then recorded as forced)"
    )
    # Runs that do not count: a failing run of this version, a passing run of another version, and a
    # passing run of the same version number with another content hash.
    passing = passing_run(registry, "sales_agent@2")
    prompts_cli.record(replace(passing, eval_run_id="failed", passed=False, gate_failures=["trajectory 0.8 < 0.9"]))
    prompts_cli.record(passing_run(registry, "sales_agent@1", eval_run_id="other-version"))
    prompts_cli.record(replace(passing, eval_run_id="other-hash", prompt_hash="sha256:" + "e" * 64))
    assert prompts_cli.error("promote", "sales_agent@2", "--label", "production").startswith(
        "refused to move 'production' to sales_agent@2: no passing evaluation run"
    )

    assert registry.labels_file.read_bytes() == labels_before
    assert registry.released_file.read_bytes() == pins_before
    assert registry.load("sales_agent").version == "1"


def test_promote_with_a_passing_run_moves_the_label_and_records_it(prompts_cli: PromptsCli) -> None:
    registry = prompts_cli.registry
    prompts_cli.record(passing_run(registry, "sales_agent@2", eval_run_id="eval-older"))
    prompts_cli.record(
        replace(passing_run(registry, "sales_agent@2", eval_run_id="eval-newest"), finished_at=FINISHED + timedelta(1))
    )

    before = datetime.now(UTC)
    promoted = prompts_cli.json("promote", "sales_agent@2", "--label", "production")
    after = datetime.now(UTC)

    assert before <= datetime.fromisoformat(promoted.pop("moved_at")) <= after
    assert promoted == snapshot(
        {
            "content_hash": "sha256:2b999414c929cfb7ad312126d75349b8191df3338c899e2f46b703c26315aec5",
            "eval_run_id": "eval-newest",
            "forced": False,
            "from_version": "1",
            "label": "production",
            "moved_by": "cli:tester",
            "note": None,
            "pinned_now": False,
            "prompt": "sales_agent",
            "to_version": "2",
        }
    )
    last = registry.labels().history[-1]
    assert (last.label, last.from_version, last.to_version, last.moved_by, last.forced, last.eval_run_id) == (
        "production",
        "1",
        "2",
        "cli:tester",
        False,
        "eval-newest",
    )
    assert before <= last.moved_at <= after
    resolved = registry.load("sales_agent")
    assert (resolved.version, resolved.label) == ("2", "production")

    history = prompts_cli.json("history", "sales_agent")
    assert [(m["label"], m["from_version"], m["to_version"], m["forced"]) for m in history] == snapshot(
        [("production", None, "1", False), ("staging", None, "1", False), ("production", "1", "2", False)]
    )
    # Moving it again onto the same version is refused and records nothing.
    assert prompts_cli.error("promote", "sales_agent@2", "--label", "production") == snapshot(
        "label 'production' of 'sales_agent' already points at sales_agent@2"
    )
    assert len(registry.labels().history_of("sales_agent")) == 3


def test_force_moves_without_an_evaluation_run_and_is_recorded_as_forced(prompts_cli: PromptsCli) -> None:
    registry = prompts_cli.registry
    output = prompts_cli.ok(
        "promote", "sales_agent@2", "--label", "canary", "--force", "--as", "alice", "--note", "incident 7"
    )
    lines = output.splitlines()
    assert lines[0].startswith("sales_agent: canary (new) -> 2  by alice at ")
    assert lines[1:] == ["FORCED: no passing evaluation run of sales_agent@2 is recorded"]
    last = registry.labels().history[-1]
    assert (
        last.label,
        last.from_version,
        last.to_version,
        last.moved_by,
        last.forced,
        last.eval_run_id,
        last.note,
    ) == (
        "canary",
        None,
        "2",
        "alice",
        True,
        None,
        "incident 7",
    )
    human_history = prompts_cli.ok("history").splitlines()
    assert human_history[-1].split()[1:] == ["sales_agent", "canary", "-", "2", "alice", "FORCED"]


def test_promoting_a_new_version_pins_it_as_released(prompts_cli: PromptsCli) -> None:
    registry = prompts_cli.registry
    path = write_version(registry, "sales_agent", "3", "You are a careful sales assistant.\n")
    prompts_cli.record(passing_run(registry, "sales_agent@3"))
    assert not registry.load("sales_agent", version="3").released

    promoted = prompts_cli.json("promote", "sales_agent@3", "--label", "staging", "--as", "bob")
    assert (promoted["pinned_now"], promoted["eval_run_id"], promoted["forced"]) == (True, "eval-pass", False)
    assert read_pins(registry.released_file)["sales_agent@3"] == promoted["content_hash"]
    # From now on the file is immutable: a change fails to load instead of running as version 3.
    path.write_text(path.read_text(encoding="utf-8") + "Be bold.\n", encoding="utf-8")
    assert prompts_cli.error("show", "sales_agent@staging").startswith("prompt sales_agent@3 was released with")


def test_promote_by_label_and_bad_labels(prompts_cli: PromptsCli) -> None:
    registry = prompts_cli.registry
    prompts_cli.record(passing_run(registry, "sales_agent@1"))
    # `sales_agent@production` names the version production points at; a new label gets it.
    promoted = prompts_cli.json("promote", "sales_agent@production", "--label", "eu-west")
    assert (promoted["to_version"], promoted["eval_run_id"]) == ("1", "eval-pass")
    assert prompts_cli.error("promote", "sales_agent@1", "--label", "Prod") == snapshot(
        "label 'Prod' is not a valid label name: lower case letters, digits, '-' and '_', "
        "starting with a letter, at most 64 characters"
    )
