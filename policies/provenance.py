"""Which values a piece of text or a JSON value mentions: email addresses, domains and ids.

The provenance rule compares these between a destructive call's arguments, the run's outside data (tool
outputs marked untrusted) and what the user wrote (task and context). Values are compared exactly, after
lower-casing, so the extraction must find the same value in all three places:

- email addresses, and the domain of each;
- bare domains and URL hosts (`acme.io`, `https://linkedin.example/in/...`);
- ids shaped like the providers' (`cmp_1a2b3c4d5e6f7a8b`, `crm_...`, `msg_...`): a short lower-case
  prefix, an underscore and at least six letters or digits, at least one of them a digit (so snake_case
  words such as `company_domain` are not taken for ids).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence

__all__ = ["MAX_SCANNED_CHARS", "strings_in", "values_in", "values_in_text"]

_EMAIL = re.compile(
    r"(?<![a-z0-9._%+-])[a-z0-9._%+-]+@((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})(?![a-z0-9-])"
)
# Not preceded by '@' or a name character, so an address's domain is not found twice (or truncated),
# and not followed by '@', so the local part of `ana.lopez@...` is not taken for a domain.
_DOMAIN = re.compile(r"(?<![a-z0-9@._-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}(?![a-z0-9@_-])")
_ID = re.compile(r"(?<![a-z0-9_])[a-z]{2,8}_(?=[a-z0-9]*[0-9])[a-z0-9]{6,64}(?![a-z0-9_])")

MAX_SCANNED_CHARS = 1_000_000
"""Text beyond this many characters (per call of `values_in_text`) is not scanned: tool outputs and
tasks are bounded far below it, and an unbounded scan would let one huge value stall every decision."""


def values_in_text(text: str) -> set[str]:
    """The email addresses, domains and ids in `text`, lower-cased."""
    lowered = text[:MAX_SCANNED_CHARS].lower()
    found: set[str] = set()
    for match in _EMAIL.finditer(lowered):
        found.add(match.group(0))
        found.add(match.group(1))
    found.update(match.group(0) for match in _DOMAIN.finditer(lowered))
    found.update(match.group(0) for match in _ID.finditer(lowered))
    return found


def values_in(value: object) -> set[str]:
    """The values in every string of a JSON-shaped value (mapping keys included), lower-cased."""
    found: set[str] = set()
    for text in strings_in(value):
        found |= values_in_text(text)
    return found


def strings_in(value: object) -> Iterator[str]:
    """Every string in a JSON-shaped value, mapping keys included, depth first."""
    # An explicit stack rather than recursion: arguments come from the model and may nest deeply.
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            for key, inner in item.items():  # pyright: ignore[reportUnknownVariableType]
                stack.append(key)  # pyright: ignore[reportUnknownArgumentType]
                stack.append(inner)  # pyright: ignore[reportUnknownArgumentType]
        elif isinstance(item, Sequence) and not isinstance(item, bytes | bytearray):
            stack.extend(item)  # pyright: ignore[reportUnknownArgumentType]
