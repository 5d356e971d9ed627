"""The sales pack's prompts: `prompts/` beside this file (templates, labels and release pins).

The pack ships them as any pack ships its own (`ToolPack.prompt_dir`): the agent's `sales_agent` and the
reply classifier's `reply_classifier`, each a versioned template with labels moved by
`signoff prompts promote` and released versions pinned by hash.
"""

from __future__ import annotations

from pathlib import Path

from signoff.prompts import PromptRegistry

__all__ = ["SALES_PROMPTS", "SALES_PROMPTS_DIR"]

SALES_PROMPTS_DIR = Path(__file__).with_name("prompts")
SALES_PROMPTS = PromptRegistry(root=SALES_PROMPTS_DIR)
"""The sales pack's prompt registry: `SALES_PROMPTS.load("sales_agent")` is the production version."""
