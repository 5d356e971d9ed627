"""The double's deterministic stand-in for Anthropic's tokenizer.

Real token counts are unknowable offline; what tests need is a count that is deterministic, grows with
the content, and can be computed by hand. A "token" here is one match of `\\w+|[^\\w\\s]` (a run of word
characters, or one punctuation mark) in a canonical serialization: strings are counted as they are,
anything else as its canonical JSON (sorted keys, no spaces, UTF-8 kept).
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "MESSAGE_OVERHEAD_TOKENS",
    "TOOL_OVERHEAD_TOKENS",
    "canonical_json",
    "count_tokens_stand_in",
]

_TOKEN = re.compile(r"\w+|[^\w\s]")

# The real API wraps every turn and every tool definition in formatting tokens the client never sees.
# A small fixed charge keeps that visible in the figures (an empty message is not free) without
# dominating them; 3 is in the range the real count_tokens endpoint shows for an empty user turn.
MESSAGE_OVERHEAD_TOKENS = 3
TOOL_OVERHEAD_TOKENS = 3


def canonical_json(value: Any) -> str:
    """The one serialization the double counts and hashes: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def count_tokens_stand_in(value: Any) -> int:
    """Count the stand-in tokens of `value`: a string as it is, anything else as its canonical JSON.

    >>> count_tokens_stand_in("Hello, world")
    3
    >>> count_tokens_stand_in({"type": "text", "text": "Hi"})
    17
    """
    text = value if isinstance(value, str) else canonical_json(value)
    return len(_TOKEN.findall(text))
