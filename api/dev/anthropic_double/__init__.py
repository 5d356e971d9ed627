"""A local double of Anthropic's Messages API, for exercising the real SDK path over real HTTP.

```python
double = MessagesDouble([Reply(tool_uses=[ToolUse("get_contact", {"email": "a@example.com"})]), Reply("Done.")])
with double.serve() as base_url:  # what ANTHROPIC_BASE_URL takes
    ...
double.exchanges  # every request, in arrival order
```

It answers `POST /v1/messages` (JSON or server-sent events) and `POST /v1/messages/count_tokens`,
checks requests as the real API does, accounts for prompt caching by Anthropic's documented rules,
counts tokens with a deterministic stand-in (`count_tokens_stand_in`), and misbehaves on demand
(`Fault`). See docs/anthropic-double.md.
"""

from ._cache import DEFAULT_LOOKBACK_BLOCKS, DEFAULT_MIN_CACHEABLE_TOKENS, CacheUsage, minimum_cacheable_tokens
from ._double import COUNT_TOKENS_PATH, MESSAGES_PATH, MessagesDouble, Script
from ._exchange import RecordedExchange
from ._prompt import Breakpoint, Prompt, PromptBlock, build_prompt, count_input_tokens
from ._script import Fault, FaultKind, Reply, StopReason, ToolUse
from ._script_file import ScriptFileError, load_script
from ._tokens import MESSAGE_OVERHEAD_TOKENS, TOOL_OVERHEAD_TOKENS, canonical_json, count_tokens_stand_in
from ._validation import MAX_CACHE_BREAKPOINTS

__all__ = [
    "COUNT_TOKENS_PATH",
    "DEFAULT_LOOKBACK_BLOCKS",
    "DEFAULT_MIN_CACHEABLE_TOKENS",
    "MAX_CACHE_BREAKPOINTS",
    "MESSAGES_PATH",
    "MESSAGE_OVERHEAD_TOKENS",
    "TOOL_OVERHEAD_TOKENS",
    "Breakpoint",
    "CacheUsage",
    "Fault",
    "FaultKind",
    "MessagesDouble",
    "Prompt",
    "PromptBlock",
    "RecordedExchange",
    "Reply",
    "Script",
    "ScriptFileError",
    "StopReason",
    "ToolUse",
    "build_prompt",
    "canonical_json",
    "count_input_tokens",
    "count_tokens_stand_in",
    "load_script",
    "minimum_cacheable_tokens",
]
