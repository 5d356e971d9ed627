"""Ask a person before email goes to addresses outside the allowed domains that are not yet contacts."""

from __future__ import annotations

from dataclasses import dataclass, field

from signoff.policies.context import PolicyContext, ToolCallRequest
from signoff.policies.decision import Decision

__all__ = ["OutboundEmailDomainsRule"]

# Enough addresses for the approver to recognise the batch; the approval summary lists the rest.
_MAX_NAMED_RECIPIENTS = 10


@dataclass(frozen=True, kw_only=True)
class OutboundEmailDomainsRule:
    """Require approval for recipients whose domain is not allowed and who are not known contacts.

    Domains match exactly (`acme.io` does not allow `mail.acme.io`). An address without a domain is
    never fine.
    """

    name: str = "outbound_email_domains"
    allowed_domains: frozenset[str] = field(default_factory=frozenset[str])

    def evaluate(self, call: ToolCallRequest, ctx: PolicyContext) -> Decision | None:
        """Require approval naming the recipients that are neither allowed nor known."""
        if call.spec is None:
            return None
        recipients = call.spec.recipients(call.args)
        if not recipients:
            return None
        known = {address.lower() for address in ctx.known_recipients}
        unknown: list[str] = []
        for address in recipients:
            _, at, domain = address.rpartition("@")
            if (at and domain in self.allowed_domains) or address in known:
                continue
            if address not in unknown:
                unknown.append(address)
        if not unknown:
            return None
        named = ", ".join(unknown[:_MAX_NAMED_RECIPIENTS])
        more = len(unknown) - _MAX_NAMED_RECIPIENTS
        if more > 0:
            named += f" and {more} more"
        return Decision.require_approval(
            rule=self.name,
            reason=f"{call.spec.name} would email recipients outside the allowed domains who are not contacts: {named}",
        )
