"""Label moves: each recorded with who, when, from, to, forced and the eval run; written atomically, never lost."""

from __future__ import annotations

import os
import tomllib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from inline_snapshot import snapshot

from signoff.prompts import LabelError, PromptRegistry
from signoff.prompts.labels import LabelMove, move_label, read_labels
from signoff.tools.sales.prompt_dir import SALES_PROMPTS

WHEN = datetime(2026, 11, 28, 10, 30, tzinfo=UTC)


def test_the_repo_labels_file_is_consistent_with_its_history() -> None:
    book = SALES_PROMPTS.labels()
    assert book.labels_of("sales_agent") == {"production": "1", "staging": "1"}
    assert book.labels_of("reply_classifier") == {"production": "1", "staging": "1"}
    assert all(move.moved_by and move.moved_at.tzinfo is not None for move in book.history)
    # The classifier's labels were created when its instructions moved from code, with no evaluation run:
    # recorded as forced, by the maintainers, with a note saying so.
    assert [
        (move.label, move.from_version, move.to_version, move.forced, move.eval_run_id)
        for move in book.history_of("reply_classifier")
    ] == [("production", None, "1", True, None), ("staging", None, "1", True, None)]
    assert all("moved from code" in (move.note or "") for move in book.history_of("reply_classifier"))


def test_a_move_updates_the_pointer_and_appends_who_when_from_to(prompts_copy: PromptRegistry) -> None:
    before = prompts_copy.labels().history
    move = move_label(
        prompts_copy.labels_file,
        prompt="sales_agent",
        label="staging",
        to_version="2",
        moved_by="alice",
        moved_at=WHEN,
        forced=False,
        eval_run_id="eval-42",
    )
    assert move == LabelMove(
        prompt="sales_agent",
        label="staging",
        from_version="1",
        to_version="2",
        moved_by="alice",
        moved_at=WHEN,
        forced=False,
        eval_run_id="eval-42",
    )
    book = prompts_copy.labels()
    assert book.labels_of("sales_agent") == {"production": "1", "staging": "2"}
    assert book.history == (*before, move)
    # Runs that resolve the label now get the new version, and know which label they resolved.
    prompt = prompts_copy.load("sales_agent", label="staging")
    assert (prompt.version, prompt.label) == ("2", "staging")
    assert prompts_copy.load("sales_agent").version == "1"


def test_the_file_is_readable_toml_with_the_history_appended(prompts_copy: PromptRegistry) -> None:
    move_label(
        prompts_copy.labels_file,
        prompt="sales_agent",
        label="canary",
        to_version="2",
        moved_by='bob "the builder"',
        moved_at=WHEN + timedelta(microseconds=5),
        forced=True,
        eval_run_id=None,
        note="hotfix\nsee incident 7",
    )
    text = prompts_copy.labels_file.read_text(encoding="utf-8")
    assert text.split("[[history]]")[-1] == snapshot(
        """\

prompt = "sales_agent"
label = "canary"
to_version = "2"
moved_by = "bob \\"the builder\\""
moved_at = 2026-11-28T10:30:00.000005+00:00
forced = true
note = "hotfix\\nsee incident 7"
"""
    )
    parsed = tomllib.loads(text)
    assert parsed["labels"]["sales_agent"] == {"canary": "2", "production": "1", "staging": "1"}
    # A new label has no from_version; TOML has no null, so the key is absent.
    assert "from_version" not in parsed["history"][-1]
    last = prompts_copy.labels().history[-1]
    assert (last.from_version, last.moved_by, last.forced, last.note) == (
        None,
        'bob "the builder"',
        True,
        "hotfix\nsee incident 7",
    )


def test_history_of_one_prompt_in_order(prompts_copy: PromptRegistry) -> None:
    for minutes, version in enumerate(["2", "1", "2"]):
        move_label(
            prompts_copy.labels_file,
            prompt="sales_agent",
            label="staging",
            to_version=version,
            moved_by="carol",
            moved_at=WHEN + timedelta(minutes=minutes),
            forced=False,
            eval_run_id=f"eval-{minutes}",
        )
    staging = [
        (move.from_version, move.to_version, move.eval_run_id)
        for move in prompts_copy.labels().history_of("sales_agent")
        if move.label == "staging"
    ]
    assert staging == snapshot([(None, "1", None), ("1", "2", "eval-0"), ("2", "1", "eval-1"), ("1", "2", "eval-2")])


def test_moving_onto_the_current_version_records_nothing(prompts_copy: PromptRegistry) -> None:
    before = prompts_copy.labels_file.read_bytes()
    with pytest.raises(LabelError, match="already points at version 1"):
        move_label(
            prompts_copy.labels_file,
            prompt="sales_agent",
            label="production",
            to_version="1",
            moved_by="alice",
            moved_at=WHEN,
            forced=False,
            eval_run_id=None,
        )
    assert prompts_copy.labels_file.read_bytes() == before


@pytest.mark.parametrize("label", ["Production", "2", "", "prod uction", "x" * 65])
def test_bad_label_names_are_refused(prompts_copy: PromptRegistry, label: str) -> None:
    with pytest.raises(LabelError, match="is not a valid label name"):
        move_label(
            prompts_copy.labels_file,
            prompt="sales_agent",
            label=label,
            to_version="2",
            moved_by="alice",
            moved_at=WHEN,
            forced=False,
            eval_run_id=None,
        )


def test_a_move_must_say_who_and_when(prompts_copy: PromptRegistry) -> None:
    common = {"prompt": "sales_agent", "label": "staging", "to_version": "2", "forced": False, "eval_run_id": None}
    with pytest.raises(LabelError, match="must say who"):
        move_label(prompts_copy.labels_file, moved_by="  ", moved_at=WHEN, **common)  # pyright: ignore[reportArgumentType]
    with pytest.raises(LabelError, match="timezone-aware"):
        move_label(prompts_copy.labels_file, moved_by="a", moved_at=WHEN.replace(tzinfo=None), **common)  # pyright: ignore[reportArgumentType]


def test_a_pointer_edited_by_hand_is_refused(prompts_copy: PromptRegistry) -> None:
    text = prompts_copy.labels_file.read_text(encoding="utf-8")
    prompts_copy.labels_file.write_text(text.replace('production = "1"', 'production = "2"'), encoding="utf-8")
    with pytest.raises(LabelError, match="disagree with their history"):
        prompts_copy.load("sales_agent")


def test_a_history_that_skips_a_step_is_refused(prompts_copy: PromptRegistry) -> None:
    with prompts_copy.labels_file.open("a", encoding="utf-8") as handle:
        handle.write(
            '\n[[history]]\nprompt = "sales_agent"\nlabel = "staging"\nfrom_version = "2"\nto_version = "1"\n'
            'moved_by = "mallory"\nmoved_at = 2026-11-28T00:00:00Z\nforced = false\n'
        )
    with pytest.raises(
        LabelError, match="moves sales_agent:staging from '2', but the history before it left it at '1'"
    ):
        prompts_copy.labels()


def test_a_history_entry_without_a_time_zone_is_refused(prompts_copy: PromptRegistry) -> None:
    with prompts_copy.labels_file.open("a", encoding="utf-8") as handle:
        handle.write(
            '\n[[history]]\nprompt = "sales_agent"\nlabel = "canary"\nto_version = "1"\n'
            'moved_by = "mallory"\nmoved_at = 2026-11-28T00:00:00\nforced = false\n'
        )
    with pytest.raises(LabelError, match="'moved_at' must be a date-time with a UTC offset"):
        prompts_copy.labels()


def test_concurrent_moves_are_all_recorded(prompts_copy: PromptRegistry) -> None:
    labels = [f"team-{index}" for index in range(4)]
    rounds = 8

    def mover(label: str) -> None:
        for round_number in range(rounds):
            move_label(
                prompts_copy.labels_file,
                prompt="sales_agent",
                label=label,
                to_version="2" if round_number % 2 == 0 else "1",
                moved_by=label,
                moved_at=WHEN + timedelta(seconds=round_number),
                forced=False,
                eval_run_id=None,
            )

    history_before = len(prompts_copy.labels().history)
    with ThreadPoolExecutor(max_workers=len(labels)) as pool:
        list(pool.map(mover, labels))

    book = read_labels(prompts_copy.labels_file)  # also replays the history against the pointers
    assert len(book.history) == history_before + len(labels) * rounds
    assert all(book.version_of("sales_agent", label) == "1" for label in labels)
    # The writes left no temporary files behind.
    assert sorted(os.listdir(prompts_copy.root)) == ["labels.toml", "released.toml", "templates"]
