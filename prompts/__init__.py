"""Versioned prompt templates: one jinja2 file per immutable version, with front matter and a hash.

See `prompts.registry` for loading and rendering.
"""

from prompts.registry import PromptError, PromptListing, PromptTemplate, list_prompts, load_prompt

__all__ = ["PromptError", "PromptListing", "PromptTemplate", "list_prompts", "load_prompt"]
