"""What can go wrong with prompts. Every error is a `PromptError`, with a message meant for a person:

- `PromptError`: a prompt, version or label that does not exist, or a template that does not render;
  - `PromptFileError`: a template file whose front matter is missing, malformed or disagrees with its path;
  - `ReleasedPromptChanged`: a released version's file no longer has the hash pinned when it was released;
  - `LabelError`: a bad label name, or a labels file whose pointers and history disagree;
  - `PromotionRefused`: a label move that the rules do not allow (no passing evaluation run, say).
"""

from __future__ import annotations

__all__ = ["LabelError", "PromotionRefused", "PromptError", "PromptFileError", "ReleasedPromptChanged"]


class PromptError(LookupError):
    """A prompt, version or label that does not exist, or a template that does not render."""


class PromptFileError(PromptError):
    """A template file whose front matter is missing, malformed, or disagrees with the file's path."""


class ReleasedPromptChanged(PromptError):
    """A released version's file changed after release: released versions are immutable."""


class LabelError(PromptError):
    """A bad label name, or a labels file whose current pointers and history disagree."""


class PromotionRefused(PromptError):
    """A label move refused by the promotion rules."""
