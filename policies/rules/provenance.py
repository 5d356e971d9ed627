"""Ask a person before a destructive call uses a value that only outside data put in front of the model.

This is the defence against instructions planted in text the agent reads (a lead's bio, enrichment data,
a CRM note, an email reply): such an instruction has to name where the harm goes (an address, a domain,
a campaign or contact id), and that value then appears in the call's arguments although the user never
wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass

from signoff.policies.context import PolicyContext, ToolCallRequest
from signoff.policies.decision import Decision
from signoff.policies.provenance import values_in, values_in_text

__all__ = ["ProvenanceRule"]

# Enough values for the approver to see what is at stake; the approval summary shows the whole call.
_MAX_NAMED_VALUES = 5


@dataclass(frozen=True, kw_only=True)
class ProvenanceRule:
    """Require approval when a destructive call's arguments contain a value (email address, domain, id)
    that appeared in this conversation's untrusted tool outputs and not in the user's task or context.

    Values that appear nowhere (the model made them up) are not this rule's concern: the outbound-email
    rule and the tool's own approval requirement cover new recipients and risky tools. Values the user
    wrote are trusted even when outside data repeats them.
    """

    name: str = "provenance"

    def evaluate(self, call: ToolCallRequest, ctx: PolicyContext) -> Decision | None:
        """Require approval naming the values that came only from outside data; no opinion otherwise."""
        spec = call.spec
        if spec is None or not spec.destructive or not ctx.untrusted_values:
            return None
        candidates = values_in(dict(call.args)) & ctx.untrusted_values.keys()
        if not candidates:
            return None
        suspect = sorted(candidates - values_in_text(ctx.trusted_text))
        if not suspect:
            return None
        named = ", ".join(f"{value} (from {ctx.untrusted_values[value]})" for value in suspect[:_MAX_NAMED_VALUES])
        more = len(suspect) - _MAX_NAMED_VALUES
        if more > 0:
            named += f" and {more} more"
        return Decision.require_approval(
            rule=self.name,
            reason=(
                f"{spec.name} uses values that appeared only in outside data the agent read, not in the "
                f"user's request: {named}"
            ),
        )
