"""Versioned prompt templates: one jinja2 file per immutable version, with front matter and a hash.

See `prompts.registry` for loading and rendering, `prompts.labels` for labels and their history,
`prompts.pins` for release pins, `prompts.diffing` for comparing versions and `evals.promotion`
for moving a label.
"""

from signoff.prompts.errors import LabelError, PromotionRefused, PromptError, PromptFileError, ReleasedPromptChanged
from signoff.prompts.registry import (
    DEFAULT_LABEL,
    PromptListing,
    PromptRef,
    PromptRegistry,
    PromptTemplate,
    parse_prompt_ref,
)

__all__ = [
    "DEFAULT_LABEL",
    "LabelError",
    "PromotionRefused",
    "PromptError",
    "PromptFileError",
    "PromptListing",
    "PromptRef",
    "PromptRegistry",
    "PromptTemplate",
    "ReleasedPromptChanged",
    "parse_prompt_ref",
]
