"""The Lemlist client against the Lemlist double on a real socket: pages, leads once, throttling, bad keys."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from inline_snapshot import snapshot
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signoff.tools.sales.errors import InvalidRequestError, NotFoundError, OutcomeUnknownError, UnauthorizedError
from signoff.tools.sales.testing.faults import Fault, FaultPlan
from signoff.tools.sales.testing.lemlist import LemlistState, create_lemlist_app
from signoff.tools.sales.testing.serving import serve_app
from signoff.tools.sales.vendors.http import VendorHealth, VendorLimits
from signoff.tools.sales.vendors.lemlist import LemlistClient, lemlist_throttle_wait
from signoff.tools.sales.vendors.outreach import LemlistSmtpOutreach
from signoff.tools.sales.vendors.smtp import SmtpSender, SmtpSettings, UnsubscribeLinks

API_KEY = "lemlist-canary-key-7f3a9c"


@dataclass(frozen=True, kw_only=True)
class Lemlist:
    state: LemlistState
    plan: FaultPlan
    client: LemlistClient
    health: VendorHealth
    base_url: str


@pytest.fixture
async def lemlist() -> AsyncIterator[Lemlist]:
    state = LemlistState()
    plan = FaultPlan()
    health = VendorHealth()
    async with (
        serve_app(create_lemlist_app(state, api_key=API_KEY, plan=plan)) as served,
        httpx.AsyncClient(base_url=served.base_url) as http,
    ):
        yield Lemlist(
            state=state,
            plan=plan,
            client=LemlistClient(http, api_key=API_KEY, health=health),
            health=health,
            base_url=served.base_url,
        )


@pytest.fixture
def outreach(lemlist: Lemlist, sales_sessionmaker: async_sessionmaker[AsyncSession]) -> LemlistSmtpOutreach:
    # The SMTP side is never reached by these tests; it only has to exist.
    smtp = SmtpSender(
        SmtpSettings(
            host="127.0.0.1",
            port=9,
            sender="ana@acme.example",
            unsubscribe=UnsubscribeLinks(
                mailto="unsubscribe@acme.example", url_base="https://acme.example/u", secret="s"
            ),
        ),
        sessionmaker=sales_sessionmaker,
    )
    return LemlistSmtpOutreach(lemlist=lemlist.client, smtp=smtp)


def _requests(lemlist: Lemlist, method: str, prefix: str) -> list[str]:
    return [
        f"{seen.path}?{seen.query}" if seen.query else seen.path
        for seen in lemlist.state.requests
        if seen.method == method and seen.path.startswith(prefix)
    ]


async def test_campaigns_are_created_and_listed_page_by_page(lemlist: Lemlist) -> None:
    for number in range(230):
        lemlist.state.add_campaign(f"Seeded {number}")

    created = await lemlist.client.create_campaign("Logistics DACH Q3")
    campaigns = await lemlist.client.list_campaigns()

    assert created.name == "Logistics DACH Q3" and created.campaign_id.startswith("cam_")
    assert created.state == "running"  # what Lemlist's documented answer says of a new campaign
    assert len(campaigns) == 231
    assert len({campaign.campaign_id for campaign in campaigns}) == 231
    assert campaigns[-1].campaign_id == created.campaign_id
    # Lemlist pages by offset, at most 100 at a time; a short page is the last.
    assert _requests(lemlist, "GET", "/api/campaigns") == snapshot(
        [
            "/api/campaigns?offset=0&limit=100",
            "/api/campaigns?offset=100&limit=100",
            "/api/campaigns?offset=200&limit=100",
        ]
    )
    assert {seen.auth for seen in lemlist.state.requests} == {"valid"}


async def test_the_double_caps_pages_and_refuses_bad_paging(lemlist: Lemlist) -> None:
    for number in range(120):
        lemlist.state.add_campaign(f"Seeded {number}")
    headers = {"Authorization": "Basic " + base64.b64encode(f":{API_KEY}".encode()).decode()}
    async with httpx.AsyncClient(base_url=lemlist.base_url, headers=headers) as raw:
        capped = await raw.get("/api/campaigns", params={"limit": 500})
        refused = await raw.get("/api/campaigns", params={"offset": "first"})
    assert len(capped.json()) == 100
    assert (refused.status_code, refused.headers["content-type"]) == (400, "text/plain; charset=utf-8")


async def test_a_lead_is_added_with_its_linkedin_profile_and_fields(lemlist: Lemlist) -> None:
    campaign_id = lemlist.state.add_campaign("LinkedIn + email")

    added = await lemlist.client.add_lead(
        campaign_id,
        "Ana.Ng@Acme.example",
        linkedin_url="https://www.linkedin.com/in/ana-ng",
        fields={"firstName": "Ana", "companyName": "Acme"},
    )

    assert (added.outcome, added.email, added.checked_after_unknown) == ("enrolled", "ana.ng@acme.example", False)
    [lead] = lemlist.state.leads(campaign_id)
    assert added.lead_id == lead.lead_id
    # The campaign's LinkedIn steps (visit, invite, message) reach leads that carry a LinkedIn URL.
    assert lead.linkedin_url == "https://www.linkedin.com/in/ana-ng"
    assert lead.fields == {
        "firstName": "Ana",
        "companyName": "Acme",
        "linkedinUrl": "https://www.linkedin.com/in/ana-ng",
    }
    assert await lemlist.client.lead_in_campaign(campaign_id, "ana.ng@acme.example")
    assert not await lemlist.client.lead_in_campaign(campaign_id, "ben@acme.example")


async def test_adding_a_lead_twice_reports_it_already_enrolled(lemlist: Lemlist, outreach: LemlistSmtpOutreach) -> None:
    campaign_id = lemlist.state.add_campaign("Twice")

    first = await outreach.enroll_contacts(campaign_id, ["ana@acme.example", "ANA@acme.example", "ben@acme.example"])
    second = await outreach.enroll_contacts(campaign_id, ["ben@acme.example", "chloe@acme.example"])

    assert first.model_dump() == snapshot(
        {"campaign_id": campaign_id, "enrolled": ["ana@acme.example", "ben@acme.example"], "already_enrolled": []}
    )
    assert second.model_dump() == snapshot(
        {"campaign_id": campaign_id, "enrolled": ["chloe@acme.example"], "already_enrolled": ["ben@acme.example"]}
    )
    assert [lead.email for lead in lemlist.state.leads(campaign_id)] == [
        "ana@acme.example",
        "ben@acme.example",
        "chloe@acme.example",
    ]


async def test_a_lost_answer_after_the_add_is_checked_and_not_sent_again(lemlist: Lemlist) -> None:
    campaign_id = lemlist.state.add_campaign("Dropped")
    # Lemlist adds the lead, then the connection breaks before the answer arrives.
    lemlist.plan.next(Fault.dropped(after_processing=True), method="POST", path=f"/api/campaigns/{campaign_id}/leads/")

    added = await lemlist.client.add_lead(campaign_id, "ana@acme.example")

    assert (added.outcome, added.checked_after_unknown) == ("enrolled", True)
    assert len(lemlist.state.leads(campaign_id)) == 1
    assert _requests(lemlist, "POST", "/api/campaigns/") == [f"/api/campaigns/{campaign_id}/leads/ana@acme.example"]
    assert _requests(lemlist, "GET", "/api/contacts/") == ["/api/contacts/ana@acme.example"]


async def test_a_lost_request_that_never_arrived_is_sent_once_more(lemlist: Lemlist) -> None:
    campaign_id = lemlist.state.add_campaign("Dropped before")
    lemlist.plan.next(Fault.dropped(after_processing=False), method="POST", path=f"/api/campaigns/{campaign_id}/leads/")

    added = await lemlist.client.add_lead(campaign_id, "ana@acme.example")

    assert (added.outcome, added.checked_after_unknown) == ("enrolled", True)
    assert len(lemlist.state.leads(campaign_id)) == 1
    # The fault swallowed the first request before the double saw it; the check found nothing, so it went again.
    assert lemlist.plan.count("drop") == 1
    assert _requests(lemlist, "GET", "/api/contacts/") == ["/api/contacts/ana@acme.example"]
    assert _requests(lemlist, "POST", "/api/campaigns/") == [f"/api/campaigns/{campaign_id}/leads/ana@acme.example"]


async def test_an_add_that_cannot_be_checked_stays_unknown(lemlist: Lemlist) -> None:
    campaign_id = lemlist.state.add_campaign("Unknowable")
    # The add is applied and answered 502 (by a gateway, say); the look-up that follows finds Lemlist down.
    lost = Fault(kind="status", status=502, after_processing=True)
    lemlist.plan.next(lost, method="POST", path=f"/api/campaigns/{campaign_id}/leads/")
    lemlist.plan.next(Fault.server_error(503), Fault.server_error(503), method="GET", path="/api/contacts/")
    async with httpx.AsyncClient(base_url=lemlist.base_url) as http:
        brief = VendorLimits(service="lemlist-brief", requests=20, per_seconds=2, max_attempts=2)
        client = LemlistClient(http, api_key=API_KEY, health=VendorHealth(), limits=brief)
        with pytest.raises(OutcomeUnknownError, match="may or may not have taken effect"):
            await client.add_lead(campaign_id, "ana@acme.example")
    assert len(_requests(lemlist, "POST", "/api/campaigns/")) == 1  # never sent blind
    assert len(lemlist.state.leads(campaign_id)) == 1


async def test_an_unknown_campaign_is_not_found(lemlist: Lemlist, outreach: LemlistSmtpOutreach) -> None:
    with pytest.raises(NotFoundError, match="there is no campaign with id 'cam_missing'"):
        await lemlist.client.add_lead("cam_missing", "ana@acme.example")
    with pytest.raises(NotFoundError, match="cam_missing"):
        await outreach.enroll_contacts("cam_missing", ["ana@acme.example"])
    assert _requests(lemlist, "POST", "/api/campaigns/") == ["/api/campaigns/cam_missing/leads/ana@acme.example"]


async def test_an_invalid_address_is_refused_with_a_safe_message(lemlist: Lemlist) -> None:
    campaign_id = lemlist.state.add_campaign("Bad input")
    with pytest.raises(InvalidRequestError) as refused:
        await lemlist.client.add_lead(campaign_id, "not-an-address")
    assert str(refused.value) == snapshot(
        f"provider 'lemlist': refused to add 'not-an-address' to campaign '{campaign_id}' (HTTP 400)"
    )


async def test_a_429_is_waited_out_as_retry_after_asks(lemlist: Lemlist) -> None:
    lemlist.plan.next(Fault.throttled(retry_after=1, body=b"Too Many Requests"), path="/api/campaigns")
    started = time.monotonic()

    assert await lemlist.client.list_campaigns() == []

    assert time.monotonic() - started >= 1.0
    assert lemlist.plan.count(status=429) == 1
    [status] = await lemlist.health.statuses()
    assert (status.service, status.throttled, status.retries) == ("lemlist", 1, 1)


async def test_the_double_throttles_past_20_requests_in_2_seconds(lemlist: Lemlist) -> None:
    headers = {"Authorization": "Basic " + base64.b64encode(f":{API_KEY}".encode()).decode()}
    async with httpx.AsyncClient(base_url=lemlist.base_url, headers=headers) as raw:
        answers = [await raw.get("/api/campaigns") for _ in range(21)]
    assert [answer.status_code for answer in answers] == [200] * 20 + [429]
    last = answers[-1]
    assert (last.text, last.headers["x-ratelimit-limit"], last.headers["x-ratelimit-remaining"]) == (
        "Too Many Requests",
        "20",
        "0",
    )
    assert 1 <= int(last.headers["retry-after"]) <= 2
    assert answers[0].headers["x-ratelimit-remaining"] == "19"
    wait = lemlist_throttle_wait(last)
    assert wait is not None and wait <= timedelta(seconds=2)


async def test_a_client_over_the_doubles_rate_completes_after_waiting(lemlist: Lemlist) -> None:
    lemlist.state.rate_limit, lemlist.state.rate_window_seconds = 3, 1.0
    async with httpx.AsyncClient(base_url=lemlist.base_url) as http:
        eager = LemlistClient(
            http,
            api_key=API_KEY,
            health=VendorHealth(),
            limits=VendorLimits(service="lemlist-eager", requests=100, per_seconds=1),
        )
        results = await asyncio.gather(*(eager.list_campaigns() for _ in range(5)))
    assert results == [[]] * 5
    assert lemlist.state.throttled >= 1


async def test_a_bad_key_is_unauthorized_and_appears_nowhere(
    lemlist: Lemlist, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "lemlist-wrong-canary-0c1d2e"
    async with httpx.AsyncClient(base_url=lemlist.base_url) as http:
        client = LemlistClient(http, api_key=wrong, health=VendorHealth())
        with pytest.raises(UnauthorizedError) as refused:
            await client.check()
        assert wrong not in repr(client)

    assert str(refused.value) == snapshot(
        "provider 'lemlist': credentials refused (HTTP 401: authentication incorrect); check the settings"
    )
    assert lemlist.state.requests[-1].auth == "invalid"
    basic = base64.b64encode(f":{wrong}".encode()).decode()
    for secret in (wrong, basic, API_KEY):
        assert secret not in str(refused.value)
        assert secret not in caplog.text
    assert any("api/campaigns" in record.getMessage() for record in caplog.records)  # the logs were captured


async def test_a_request_without_a_key_is_refused_as_lemlist_does(lemlist: Lemlist) -> None:
    async with httpx.AsyncClient(base_url=lemlist.base_url) as raw:
        missing = await raw.get("/api/campaigns")
        wrong = await raw.get("/api/campaigns", auth=("", "nope"))
    assert (missing.status_code, missing.text) == (400, "No API key provided")
    assert (wrong.status_code, wrong.text) == (401, "The authentication you supplied is incorrect")


async def test_replies_come_from_reply_activities_newest_first(lemlist: Lemlist, outreach: LemlistSmtpOutreach) -> None:
    campaign_id = lemlist.state.add_campaign("Replies")
    other_id = lemlist.state.add_campaign("Other")
    noon = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
    for hour, (campaign, email, text) in enumerate(
        [
            (campaign_id, "ana@acme.example", "Interested, call me."),
            (other_id, "ana@acme.example", "Not now."),
            (campaign_id, "Ben@Acme.example", "Out of office."),
        ]
    ):
        lemlist.state.seed_reply(
            campaign_id=campaign,
            lead_email=email,
            subject="Re: hello",
            text=text,
            created_at=noon + timedelta(hours=hour),
        )
    lemlist.state.activities.append(
        {"_id": "act_sent", "type": "emailsSent", "campaignId": campaign_id, "createdAt": "2025-03-03T20:00:00.000Z"}
    )

    to_campaign = await outreach.list_replies(campaign_id=campaign_id, limit=1)
    from_ana = await outreach.list_replies(from_email="ANA@acme.example", limit=10)

    assert (to_campaign.total, [reply.body for reply in to_campaign.replies]) == (2, ["Out of office."])
    assert to_campaign.replies[0].from_email == "ben@acme.example"
    assert [(reply.campaign_id, reply.body) for reply in from_ana.replies] == [
        (other_id, "Not now."),
        (campaign_id, "Interested, call me."),
    ]
    assert from_ana.replies[0].received_at == noon + timedelta(hours=1)
    with pytest.raises(InvalidRequestError):
        await outreach.list_replies(limit=5)


async def test_a_created_campaign_has_the_tools_shape(outreach: LemlistSmtpOutreach) -> None:
    campaign = await outreach.create_campaign("Logistics DACH Q3", description="not kept by Lemlist")
    assert (campaign.name, campaign.status, campaign.description) == ("Logistics DACH Q3", "active", None)
    assert campaign.campaign_id.startswith("cam_")


async def test_the_client_needs_a_key() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="needs an API key"):
            LemlistClient(http, api_key=" ")
