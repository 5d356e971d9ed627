"""Released versions are immutable: their files' hashes are pinned, and a changed file does not load."""

from __future__ import annotations

import hashlib
import re

import pytest
from inline_snapshot import snapshot

from signoff.prompts import PromptError, PromptRegistry, ReleasedPromptChanged
from signoff.prompts.pins import pin_release, read_pins
from signoff.tools.sales.prompt_dir import SALES_PROMPTS
from tests.prompts.conftest import write_version

SHIPPED = SALES_PROMPTS


def test_every_released_file_in_the_repo_matches_its_pin() -> None:
    pins = read_pins(SHIPPED.released_file)
    assert pins, "released.toml pins nothing"
    for key, pinned in pins.items():
        name, _, version = key.partition("@")
        path = SHIPPED.templates_dir / name / f"v{version}.j2"
        assert path.is_file(), f"{key} is pinned but {path} does not exist"
        # Computed here, independently of the registry: a changed released file fails this test.
        assert "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest() == pinned, (
            f"{path} changed after release; restore it and put the change in a new version file"
        )
        assert SHIPPED.load(name, version=version).released


def test_every_labelled_version_in_the_repo_is_released() -> None:
    book = SHIPPED.labels()
    for name, labels in book.pointers.items():
        for label, version in labels.items():
            assert SHIPPED.load(name, label=label).released, f"{name}:{label} points at unreleased version {version}"


def test_the_production_prompt_stays_on_version_1() -> None:
    prompt = SALES_PROMPTS.load("sales_agent")
    assert (prompt.version, prompt.label) == ("1", "production")
    assert prompt.content_hash == snapshot("sha256:0c7d405107f1815e28a41fd081e5f9b52bf042b3f85161af9b1482c674a552d6")


def test_an_altered_released_file_fails_to_load(prompts_copy: PromptRegistry) -> None:
    path = prompts_copy.templates_dir / "sales_agent" / "v1.j2"
    path.write_bytes(path.read_bytes().replace(b"Read before you write.", b"Write first."))

    with pytest.raises(ReleasedPromptChanged) as raised:
        prompts_copy.load("sales_agent", version="1")
    message = str(raised.value).replace(str(prompts_copy.root), "<copy>")
    assert message == snapshot(
        "prompt sales_agent@1 was released with "
        "sha256:0c7d405107f1815e28a41fd081e5f9b52bf042b3f85161af9b1482c674a552d6 but its file now hashes to "
        "sha256:84c44b9a90219642f013713abf8fe8fb829de0d4bd6554ef52e493714a2cddd0; released versions are immutable "
        "(pinned in <copy>/released.toml): restore the file and put the change in a new version file"
    )
    # Through a label, and in the listing, it fails the same way: nothing runs the changed text as version 1.
    with pytest.raises(ReleasedPromptChanged):
        prompts_copy.load("sales_agent", label="production")
    with pytest.raises(ReleasedPromptChanged):
        prompts_copy.list()
    # Even a change that leaves the template identical (a byte in the front matter) is caught.
    path.write_bytes(path.read_bytes().replace(b"Write first.", b"Read before you write.") + b"\n")
    with pytest.raises(ReleasedPromptChanged):
        prompts_copy.load("sales_agent", version="1")


def test_a_new_version_is_a_new_file_and_loads_unreleased(prompts_copy: PromptRegistry) -> None:
    write_version(prompts_copy, "sales_agent", "3", "You are a careful assistant.\n")
    draft = prompts_copy.load("sales_agent", version="3")
    assert (draft.released, draft.label, draft.render()) == (False, None, "You are a careful assistant.")
    assert [prompt.version for prompt in prompts_copy.versions_of("sales_agent")] == ["1", "2", "3"]


def test_pinning_is_idempotent_and_a_conflicting_pin_is_refused(prompts_copy: PromptRegistry) -> None:
    path = write_version(prompts_copy, "sales_agent", "3", "Draft.\n")
    draft = prompts_copy.load("sales_agent", version="3")
    assert pin_release(prompts_copy.released_file, name="sales_agent", version="3", content_hash=draft.content_hash)
    assert not pin_release(prompts_copy.released_file, name="sales_agent", version="3", content_hash=draft.content_hash)
    assert read_pins(prompts_copy.released_file)["sales_agent@3"] == draft.content_hash
    assert prompts_copy.load("sales_agent", version="3").released

    path.write_text(path.read_text(encoding="utf-8") + "More.\n", encoding="utf-8")
    with pytest.raises(ReleasedPromptChanged):
        pin_release(prompts_copy.released_file, name="sales_agent", version="3", content_hash="sha256:" + "0" * 64)


def test_a_malformed_pins_file_is_an_error(prompts_copy: PromptRegistry) -> None:
    prompts_copy.released_file.write_text('"sales_agent@1" = 12\n', encoding="utf-8")
    with pytest.raises(PromptError, match=re.escape("must be a 'sha256:...' string")):
        prompts_copy.load("sales_agent", version="1")


def test_a_missing_pins_file_fails_closed(prompts_copy: PromptRegistry) -> None:
    prompts_copy.released_file.unlink()
    with pytest.raises(PromptError, match=r"released\.toml is missing"):
        prompts_copy.load("sales_agent", version="1")
    prompts_copy.released_file.write_text("", encoding="utf-8")
    assert not prompts_copy.load("sales_agent", version="1").released
