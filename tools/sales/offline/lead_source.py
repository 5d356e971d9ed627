"""An offline lead source: the same profile always yields the same plausible, undeliverable leads."""

from __future__ import annotations

from dataclasses import dataclass

from signoff.tools.registry import canonical_json
from signoff.tools.sales.models import IdealCustomerProfile, Lead
from signoff.tools.sales.offline.directory import (
    BIO_INTERESTS,
    COMPANY_SIZES,
    COMPANY_STEMS,
    COMPANY_SUFFIXES,
    DEFAULT_TITLES,
    FIRST_NAMES,
    LAST_NAMES,
    RESERVED_TLD,
    Seed,
    slugify,
)

__all__ = ["OfflineLeadSource"]


@dataclass(frozen=True, kw_only=True)
class OfflineLeadSource:
    """A `LeadSource` that invents leads from a hash of the profile; nothing is stored.

    Lead number i depends only on the profile and i, so a smaller `limit` returns a prefix of a larger
    one. Profiles that differ only in letter case or title order are the same search.
    """

    name: str = "offline-leads"

    async def discover_leads(self, icp: IdealCustomerProfile, *, limit: int) -> list[Lead]:
        """`limit` leads for `icp` (none for a limit below 1), with distinct `.example` addresses."""
        titles = sorted(icp.titles, key=str.casefold) or list(DEFAULT_TITLES)
        search_key = canonical_json(
            {
                "industry": icp.industry.casefold(),
                "location": icp.location.casefold(),
                "company_size": icp.company_size,
                "titles": [title.casefold() for title in titles],
            }
        )
        leads: list[Lead] = []
        seen_emails: set[str] = set()
        for index in range(limit):
            seed = Seed("lead", search_key, str(index))
            first_name = seed.pick(0, FIRST_NAMES)
            last_name = seed.pick(1, LAST_NAMES)
            company = f"{seed.pick(2, COMPANY_STEMS)} {seed.pick(3, COMPANY_SUFFIXES)}"
            company_domain = f"{slugify(company)}.{RESERVED_TLD}"
            local_part = f"{first_name}.{last_name}".lower()
            email = f"{local_part}@{company_domain}"
            if email in seen_emails:  # the same person twice would be one lead; number the namesake
                email = f"{local_part}{index}@{company_domain}"
            seen_emails.add(email)
            title = seed.pick(4, titles)
            leads.append(
                Lead(
                    email=email,
                    first_name=first_name,
                    last_name=last_name,
                    title=title,
                    company=company,
                    company_domain=company_domain,
                    industry=icp.industry,
                    location=icp.location,
                    company_size=icp.company_size or seed.pick(5, COMPANY_SIZES),
                    bio=f"{title} at {company} in {icp.location}. Interested in {seed.pick(6, BIO_INTERESTS)}.",
                )
            )
        return leads
