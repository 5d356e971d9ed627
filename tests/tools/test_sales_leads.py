"""The offline lead source: deterministic, plausible, and never on a real domain."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st
from inline_snapshot import snapshot

from signoff.tools.sales.models import Contact, IdealCustomerProfile
from signoff.tools.sales.offline import OfflineLeadSource
from signoff.tools.sales.offline.directory import COMPANY_SIZES

_LOGISTICS_DE = IdealCustomerProfile(
    industry="Logistics", location="Germany", company_size="51-200", titles=["Head of Operations", "COO"]
)


async def test_the_same_profile_yields_the_same_leads() -> None:
    first = await OfflineLeadSource().discover_leads(_LOGISTICS_DE, limit=10)
    again = await OfflineLeadSource().discover_leads(_LOGISTICS_DE.model_copy(), limit=10)
    assert first == again
    assert len(first) == 10


async def test_leads_are_pinned_so_demos_and_evals_stay_stable() -> None:
    leads = await OfflineLeadSource().discover_leads(_LOGISTICS_DE, limit=3)
    assert [lead.model_dump() for lead in leads] == snapshot(
        [
            {
                "email": "amara.ramos@foxglove-solutions.example",
                "first_name": "Amara",
                "last_name": "Ramos",
                "title": "COO",
                "company": "Foxglove Solutions",
                "company_domain": "foxglove-solutions.example",
                "industry": "Logistics",
                "location": "Germany",
                "company_size": "51-200",
                "bio": "COO at Foxglove Solutions in Germany. Interested in vendor consolidation.",
            },
            {
                "email": "nikolai.zimmermann@evergreen-industries.example",
                "first_name": "Nikolai",
                "last_name": "Zimmermann",
                "title": "COO",
                "company": "Evergreen Industries",
                "company_domain": "evergreen-industries.example",
                "industry": "Logistics",
                "location": "Germany",
                "company_size": "51-200",
                "bio": "COO at Evergreen Industries in Germany. Interested in partnerships in new markets.",
            },
            {
                "email": "yusuf.fischer@driftwood-partners.example",
                "first_name": "Yusuf",
                "last_name": "Fischer",
                "title": "COO",
                "company": "Driftwood Partners",
                "company_domain": "driftwood-partners.example",
                "industry": "Logistics",
                "location": "Germany",
                "company_size": "51-200",
                "bio": (
                    "COO at Driftwood Partners in Germany. Interested in turning support tickets into product insight."
                ),
            },
        ]
    )


async def test_a_smaller_limit_returns_a_prefix_of_a_larger_one() -> None:
    source = OfflineLeadSource()
    assert (
        await source.discover_leads(_LOGISTICS_DE, limit=4)
        == (await source.discover_leads(_LOGISTICS_DE, limit=20))[:4]
    )


async def test_letter_case_and_title_order_do_not_change_the_search() -> None:
    reworded = IdealCustomerProfile(
        industry="LOGISTICS", location="germany", company_size="51-200", titles=["coo", "head of operations"]
    )
    original = await OfflineLeadSource().discover_leads(_LOGISTICS_DE, limit=5)
    assert [lead.email for lead in await OfflineLeadSource().discover_leads(reworded, limit=5)] == [
        lead.email for lead in original
    ]


async def test_a_different_profile_yields_different_leads() -> None:
    fintech = _LOGISTICS_DE.model_copy(update={"industry": "Fintech"})
    logistics_emails = {lead.email for lead in await OfflineLeadSource().discover_leads(_LOGISTICS_DE, limit=10)}
    fintech_emails = {lead.email for lead in await OfflineLeadSource().discover_leads(fintech, limit=10)}
    assert logistics_emails.isdisjoint(fintech_emails)


async def test_leads_follow_the_profile() -> None:
    leads = await OfflineLeadSource().discover_leads(_LOGISTICS_DE, limit=30)
    assert {lead.title for lead in leads} == {"Head of Operations", "COO"}
    assert {(lead.industry, lead.location, lead.company_size) for lead in leads} == {("Logistics", "Germany", "51-200")}
    for lead in leads:
        local_part, domain = lead.email.split("@")
        assert domain == lead.company_domain
        assert domain.endswith(".example")
        assert local_part.startswith(f"{lead.first_name}.{lead.last_name}".lower())


async def test_without_titles_or_size_the_source_fills_in_plausible_ones() -> None:
    leads = await OfflineLeadSource().discover_leads(
        IdealCustomerProfile(industry="Retail", location="France"), limit=40
    )
    assert len({lead.title for lead in leads}) > 3
    assert {lead.company_size for lead in leads} <= set(COMPANY_SIZES)


async def test_a_limit_below_one_finds_nothing() -> None:
    assert await OfflineLeadSource().discover_leads(_LOGISTICS_DE, limit=0) == []


# Letters, digits, punctuation and spaces: the text people type into a profile, in any script.
_profile_text = st.text(alphabet=st.characters(categories=["L", "N", "P", "Zs"]), min_size=1, max_size=80)


@settings(max_examples=40, deadline=None)
@given(
    industry=_profile_text.filter(str.strip),
    location=_profile_text.filter(str.strip),
    company_size=st.none() | st.sampled_from(COMPANY_SIZES),
    limit=st.integers(min_value=1, max_value=100),
)
def test_any_profile_yields_exactly_limit_distinct_syncable_leads(
    industry: str, location: str, company_size: str | None, limit: int
) -> None:
    icp = IdealCustomerProfile.model_validate(
        {"industry": industry, "location": location, "company_size": company_size}
    )
    leads = asyncio.run(OfflineLeadSource().discover_leads(icp, limit=limit))
    assert len(leads) == limit
    assert len({lead.email for lead in leads}) == limit
    for lead in leads:
        assert lead.email.endswith(".example")
        # Every lead can be handed straight to sync_contacts_to_crm.
        Contact(email=lead.email, first_name=lead.first_name, last_name=lead.last_name, company=lead.company)
