"""An offline enrichment source: deterministic facts per address, as a paid vendor would return them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from signoff.tools.sales.models import EnrichmentFacts
from signoff.tools.sales.offline.directory import COMPANY_FOCUS, DEFAULT_TITLES, Seed, seniority_of

__all__ = ["OfflineEnrichmentSource"]

# Area codes are real, but 555-0100..0199 is reserved for fiction in every one of them.
_AREA_CODES = ("212", "312", "415", "512", "617", "646", "720", "206")
_EMPLOYEE_COUNTS = (8, 24, 45, 120, 180, 350, 480, 760, 1400, 3200, 8500)
# Mailbox providers say nothing about the person's employer.
_PERSONAL_MAIL_DOMAINS = frozenset({"gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "proton.me"})


@dataclass(frozen=True, kw_only=True)
class OfflineEnrichmentSource:
    """An `EnrichmentSource` whose facts derive from a hash of the address: same address, same facts.

    It is pure; `CachingEnricher` in front of it stores the results and counts the (pretend) paid lookups.
    """

    name: str = "offline-enrichment"

    async def lookup(self, emails: Sequence[str]) -> list[EnrichmentFacts]:
        """Facts for each address, in order."""
        return [_facts_for(email) for email in emails]


def _facts_for(email: str) -> EnrichmentFacts:
    address = email.lower()
    local_part, _, domain = address.rpartition("@")
    seed = Seed("enrichment", address)
    # Addresses shaped first.last@ (as the offline lead source makes them) give the person's name.
    name_parts = local_part.split(".")
    first_name, last_name = (
        (name_parts[0].capitalize(), name_parts[1].capitalize())
        if len(name_parts) == 2 and all(part.isalpha() for part in name_parts)
        else (None, None)
    )
    title = seed.pick(0, DEFAULT_TITLES)
    is_company_domain = domain not in _PERSONAL_MAIL_DOMAINS
    company_label = domain.split(".", 1)[0]  # 'northwind-labs.example' -> 'northwind-labs'
    company = company_label.replace("-", " ").title() if is_company_domain else None
    return EnrichmentFacts(
        email=address,
        first_name=first_name,
        last_name=last_name,
        phone=f"+1 {seed.pick(1, _AREA_CODES)} 555 01{seed.number(2, 100):02d}",
        linkedin_url=(
            f"https://linkedin.example/in/{first_name.lower()}-{last_name.lower()}-{seed.hex(4)}"
            if first_name and last_name
            else None
        ),
        title=title,
        seniority=seniority_of(title),
        company=company,
        company_domain=domain if is_company_domain else None,
        employee_count=seed.pick(3, _EMPLOYEE_COUNTS) if is_company_domain else None,
        company_description=f"{company} builds {seed.pick(5, COMPANY_FOCUS)}." if company else None,
        # 55..98: offline facts are plausible but never certain.
        quality_score=55 + seed.number(4, 44),
    )
