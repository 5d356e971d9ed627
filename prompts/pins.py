"""Release pins: the content hash each released prompt version had when it was released.

`released.toml` holds one line per released version, `"sales_agent@1" = "sha256:..."`, and is tracked
in git like a lock file. A released version is immutable: loading one whose file no longer has its pinned
hash fails, so a changed prompt can never run (or be evaluated, or be promoted) under an old version
number. A change is a new file, `v<next>.j2`, which is pinned when it is first promoted to a label.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from signoff.prompts.errors import PromptError, ReleasedPromptChanged
from signoff.prompts.files import atomic_write_text, directory_lock

__all__ = ["RELEASED_FILE_NAME", "check_pin", "pin_release", "read_pins"]

RELEASED_FILE_NAME = "released.toml"

_HEADER = """\
# Released prompt versions and the sha256 of each version's file at release. Released versions are
# immutable: loading one whose file no longer matches fails. Put changes in a new file (v<next>.j2).
# Written by `signoff prompts promote`, which pins a version the first time a label moves onto it.
"""


def _key(name: str, version: str) -> str:
    return f"{name}@{version}"


def read_pins(path: Path) -> dict[str, str]:
    """`{"name@version": "sha256:..."}` from the pins file.

    A missing file is an error rather than "nothing is released": with the file lost (a packaging slip,
    a bad checkout), every released version would otherwise load unchecked. An empty file pins nothing.
    """
    if not path.exists():
        raise PromptError(f"{path} is missing: it pins released prompt versions (create an empty one if none is)")
    try:
        loaded = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise PromptError(f"{path}: not valid TOML: {error}") from None
    pins: dict[str, str] = {}
    for key, value in loaded.items():
        if not isinstance(value, str) or not value.startswith("sha256:"):
            raise PromptError(f"{path}: {key!r} must be a 'sha256:...' string, got {value!r}")
        pins[key] = value
    return pins


def check_pin(pins: dict[str, str], *, name: str, version: str, content_hash: str, pins_file: Path) -> bool:
    """Whether `name@version` is released; raises `ReleasedPromptChanged` when its file's hash differs."""
    pinned = pins.get(_key(name, version))
    if pinned is None:
        return False
    if pinned != content_hash:
        raise ReleasedPromptChanged(
            f"prompt {name}@{version} was released with {pinned} but its file now hashes to {content_hash}; "
            f"released versions are immutable (pinned in {pins_file}): restore the file and put the change "
            f"in a new version file"
        )
    return True


def pin_release(path: Path, *, name: str, version: str, content_hash: str) -> bool:
    """Pin `name@version` to `content_hash`; False when it already was. A different pin is an error."""
    with directory_lock(path.parent):
        pins = read_pins(path)
        if check_pin(pins, name=name, version=version, content_hash=content_hash, pins_file=path):
            return False
        pins[_key(name, version)] = content_hash
        lines = [f"{json.dumps(key)} = {json.dumps(pins[key])}\n" for key in sorted(pins, key=_sort_key)]
        atomic_write_text(path, _HEADER + "".join(lines))
        return True


def _sort_key(key: str) -> tuple[str, int, str]:
    name, _, version = key.partition("@")
    return (name, int(version) if version.isdigit() else 0, version)
