"""The Lemlist API client: campaigns, leads in campaigns (email and LinkedIn steps), replies, a credential check.

Lemlist's API lives at `https://api.lemlist.com/api` and authenticates with HTTP Basic, an empty user name
and the API key as the password (`Authorization: Basic base64(":" + key)`), on every request. Its
documented rate is 20 requests per 2 seconds per key, answered over it with 429 and `Retry-After`
(plus `X-RateLimit-Limit` / `-Remaining` / `-Reset`). Every request goes through `VendorHttp` with that
rate, so the client queues instead of being throttled.

What the client relies on, from the public reference (developer.lemlist.com and the legacy reference in
github.com/l3mpire/lemlist-developer):

- `GET /api/campaigns?offset=&limit=`: a JSON array, at most 100 per page (`limit` defaults to and is
  capped at 100); the client pages until a short page.
- `POST /api/campaigns` `{"name": ...}`: creates a campaign (with an empty sequence and a schedule).
- `GET /api/campaigns/{campaignId}`: one campaign, or 404 `Campaign not found`.
- `POST /api/campaigns/{campaignId}/leads/{email}` with the lead's fields (`firstName`, `linkedinUrl`,
  custom variables...): creates the lead in the campaign; 400 when it is already in the campaign (a
  `text/plain` sentence), 404 for an unknown campaign. LinkedIn steps (`linkedinVisit`, `linkedinInvite`,
  `linkedinSend`) are steps of the campaign's sequence: Lemlist runs them for leads that have a
  `linkedinUrl`, so adding the lead with one is what puts it on the LinkedIn track.
- `GET /api/contacts/{email}`: the contact and the campaigns it is a lead of (`campaigns[].campaignId`),
  or 404 `CONTACT_NOT_FOUND`; this is the "is the lead already there?" check.
- `GET /api/activities?version=v2&type=emailsReplied&campaignId=&offset=&limit=`: replies, 100 a page.
- `401 The authentication you supplied is incorrect` for a bad key.

An add that may act each time is sent once (`retry="never"`); when its answer is lost (a timeout, a
dropped connection, a 5xx after the request arrived), the client looks the lead up in the campaign and
sends it again only if it is not there, so a lead is never added twice (`add_lead`). "Already in the
campaign" is an outcome (`already_enrolled`), not an error. `GET /api/team` is not used to check the key:
its answer carries the team's API key, which this client must never hold in a response it might log.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Container, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from signoff.tools.sales.errors import (
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    ProviderError,
)
from signoff.tools.sales.vendors.http import VendorHealth, VendorHttp, VendorLimits

__all__ = [
    "LEMLIST_BASE_URL",
    "LEMLIST_LIMITS",
    "LeadAdded",
    "LemlistCampaign",
    "LemlistClient",
    "LemlistReply",
    "lemlist_error_code",
    "lemlist_throttle_wait",
]

_log = logging.getLogger(__name__)

LEMLIST_BASE_URL = "https://api.lemlist.com"
"""The base URL to give the injected `httpx.AsyncClient` (paths start with `/api/`)."""

LEMLIST_LIMITS = VendorLimits(service="lemlist", requests=20, per_seconds=2)
"""Lemlist's documented rate: 20 requests per 2 seconds per API key."""

# Lemlist's documented page size for campaigns and activities: 100 by default and at most.
_PAGE_SIZE = 100
# Replies are counted by reading every page of reply activities; past this many pages (2,000 replies)
# the total is what was read. A bound keeps one call from spending minutes of the shared rate.
_MAX_REPLY_PAGES = 20

# Lemlist answers errors with short `text/plain` sentences. Only these known sentences become an error
# code a person or the model sees; anything else (which could echo our data) is dropped.
_KNOWN_MESSAGES = {
    "the authentication you supplied is incorrect": "authentication incorrect",
    "no api key provided": "no API key provided",
    "bad team": "bad team",
    "campaign not found": "campaign not found",
    "lead not found": "lead not found",
    "user linked to this api key is blocked": "user blocked",
    "no user found for this api key": "no user for this key",
    "too many requests": "too many requests",
}
# "Already in the campaign" as Lemlist words it (the reference documents the 400 as "Already in the
# campaign"; clients in the wild see "Lead already in campaign").
_ALREADY_IN_CAMPAIGN = re.compile(r"\balready (?:in|exists in) (?:the |this )?campaign\b", re.IGNORECASE)
_LEAD_ANSWERS = frozenset([*range(200, 300), 400])
_LOOKUP_ANSWERS = frozenset([*range(200, 300), 404])
# `X-RateLimit-Reset` is a JavaScript `Date.toString()`: "Tue Feb 16 2021 09:02:42 GMT+0100 (...)".
_JS_DATE = re.compile(r"^\w{3} (\w{3} \d{1,2} \d{4} \d{2}:\d{2}:\d{2}) GMT([+-]\d{4})")


@dataclass(frozen=True, kw_only=True)
class LemlistCampaign:
    """A campaign as Lemlist reports it."""

    campaign_id: str
    name: str
    state: str | None
    """Lemlist's own status (`running`, `paused`, `draft`, `ended`, `archived`, `errors`), when it says."""
    created_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class LeadAdded:
    """What adding one lead to a campaign did."""

    campaign_id: str
    email: str
    outcome: Literal["enrolled", "already_enrolled"]
    lead_id: str | None
    """Lemlist's `lea_...` id, when its answer carried one."""
    checked_after_unknown: bool = False
    """The first answer was lost: the client looked the lead up before (not) sending it again."""


@dataclass(frozen=True, kw_only=True)
class LemlistReply:
    """One `emailsReplied` activity: a lead answered a campaign email."""

    activity_id: str
    campaign_id: str | None
    lead_email: str
    subject: str
    text: str
    created_at: datetime


class _VendorModel(BaseModel):
    # Lemlist adds fields freely; only what the client reads is declared.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _CampaignBody(_VendorModel):
    campaign_id: str = Field(alias="_id")
    name: str = ""
    status: str | None = None
    state: str | None = None
    created_at: datetime | None = Field(default=None, alias="createdAt")


class _LeadBody(_VendorModel):
    lead_id: str | None = Field(default=None, alias="_id")


class _ContactCampaign(_VendorModel):
    campaign_id: str = Field(alias="campaignId")


class _ContactBody(_VendorModel):
    campaigns: list[_ContactCampaign] = Field(default_factory=list[_ContactCampaign])


class _ActivityBody(_VendorModel):
    activity_id: str = Field(alias="_id")
    type: str
    campaign_id: str | None = Field(default=None, alias="campaignId")
    lead_email: str | None = Field(default=None, alias="leadEmail")
    subject: str | None = None
    text: str | None = None
    created_at: datetime = Field(alias="createdAt")


_Model = TypeVar("_Model")
_CAMPAIGNS = TypeAdapter(list[_CampaignBody])
_ACTIVITIES = TypeAdapter(list[_ActivityBody])


def lemlist_error_code(response: httpx.Response) -> str | None:
    """A short, known error code from a Lemlist error answer (JSON `error.code`, or a known sentence)."""
    if "json" in response.headers.get("content-type", ""):
        try:
            body: Any = response.json()
        except ValueError:
            return None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code = error.get("code")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            return code if isinstance(code, str) else None
        return error if isinstance(error, str) else None
    text = response.text.strip().lower()
    if _ALREADY_IN_CAMPAIGN.search(text):
        return "already in campaign"
    return _KNOWN_MESSAGES.get(text)


def lemlist_throttle_wait(response: httpx.Response, *, now: datetime | None = None) -> timedelta | None:
    """How long to wait from `X-RateLimit-Reset` (used when a 429 has no `Retry-After`)."""
    value = response.headers.get("x-ratelimit-reset")
    match = _JS_DATE.match(value.strip()) if value else None
    if match is None:
        return None
    reset = datetime.strptime(f"{match.group(1)} {match.group(2)}", "%b %d %Y %H:%M:%S %z")
    return max(timedelta(0), reset - (now or datetime.now(UTC)))


class LemlistClient:
    """Lemlist's campaigns, leads and replies through one `VendorHttp` (rate limit, breaker, retries).

    `client` is an `httpx.AsyncClient` whose `base_url` is `LEMLIST_BASE_URL` (or a double's URL); the
    key is sent per request, so the injected client stays generic and the key is in no default header.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str,
        health: VendorHealth | None = None,
        limits: VendorLimits | None = None,
    ) -> None:
        if not api_key.strip():
            raise ValueError("the Lemlist client needs an API key")
        token = base64.b64encode(f":{api_key}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
        options: dict[str, Any] = {} if health is None else {"health": health}
        self._http = VendorHttp(
            client=client,
            limits=limits or LEMLIST_LIMITS,
            secrets=(api_key,),
            error_code=lemlist_error_code,
            throttle_wait=lemlist_throttle_wait,
            **options,
        )

    def __repr__(self) -> str:
        return f"LemlistClient(service={self.service!r})"  # never the key

    @property
    def service(self) -> str:
        """The service name errors carry ("lemlist")."""
        return self._http.service

    async def check(self) -> str:
        """One cheap read (`GET /api/campaigns?limit=1`); `UnauthorizedError` when the key is refused."""
        await self._get("/api/campaigns", params={"offset": 0, "limit": 1})
        return "lemlist: API key accepted"

    async def list_campaigns(self) -> list[LemlistCampaign]:
        """Every campaign of the team, page by page, in Lemlist's order."""
        campaigns: list[LemlistCampaign] = []
        offset = 0
        while True:
            response = await self._get("/api/campaigns", params={"offset": offset, "limit": _PAGE_SIZE})
            page = self._parsed(_CAMPAIGNS, response)
            campaigns.extend(_campaign_of(body) for body in page)
            if len(page) < _PAGE_SIZE:
                return campaigns
            offset += len(page)

    async def get_campaign(self, campaign_id: str) -> LemlistCampaign:
        """One campaign; `NotFoundError` when Lemlist has none with this id."""
        try:
            response = await self._get(f"/api/campaigns/{_segment(campaign_id)}")
        except NotFoundError:
            raise NotFoundError(f"there is no campaign with id {campaign_id!r}", provider=self.service) from None
        return _campaign_of(self._parsed(_CampaignBody, response))

    async def create_campaign(self, name: str) -> LemlistCampaign:
        """A new campaign; every call creates one (Lemlist names need not be unique).

        Sent once: if its answer is lost, `OutcomeUnknownError` (a name does not identify a campaign, so
        there is nothing to check before sending it again).
        """
        response = await self._http.request(
            "POST", "/api/campaigns", json={"name": name}, headers=self._headers, retry="never"
        )
        return _campaign_of(self._parsed(_CampaignBody, response))

    async def add_lead(
        self,
        campaign_id: str,
        email: str,
        *,
        linkedin_url: str | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> LeadAdded:
        """Add one lead (by email, lower-cased) to a campaign, at most once.

        `fields` are Lemlist lead fields by their Lemlist names (`firstName`, `companyName`,
        `icebreaker`, custom variables); `linkedin_url` lets the campaign's LinkedIn steps reach the lead.
        A lead already in the campaign is reported as `already_enrolled`. When the answer to the add is
        lost, the lead is looked up and added again only if it is not there; if that cannot be told,
        `OutcomeUnknownError`. `NotFoundError` for an unknown campaign.
        """
        address = email.strip().lower()
        body: dict[str, str] = dict(fields or {})
        if linkedin_url is not None:
            body["linkedinUrl"] = linkedin_url
        try:
            return await self._post_lead(campaign_id, address, body)
        except OutcomeUnknownError as unknown:
            try:
                present = await self.lead_in_campaign(campaign_id, address)
            except ProviderError:
                raise unknown from None  # the lead could not be looked up: the outcome stays unknown
            _log.info("lemlist add to %s: answer lost, lead %s", campaign_id, "present" if present else "absent")
            if present:
                return LeadAdded(
                    campaign_id=campaign_id,
                    email=address,
                    outcome="enrolled",
                    lead_id=None,
                    checked_after_unknown=True,
                )
            added = await self._post_lead(campaign_id, address, body)
            return replace(added, checked_after_unknown=True)

    async def lead_in_campaign(self, campaign_id: str, email: str) -> bool:
        """Whether `email` is a lead of the campaign (from the contact's campaigns)."""
        response = await self._get(f"/api/contacts/{_segment(email.strip().lower())}", expect=_LOOKUP_ANSWERS)
        if response.status_code == 404:
            return False
        contact = self._parsed(_ContactBody, response)
        return any(campaign.campaign_id == campaign_id for campaign in contact.campaigns)

    async def list_replies(
        self, *, campaign_id: str | None = None, lead_email: str | None = None
    ) -> list[LemlistReply]:
        """Reply activities (`emailsReplied`), newest first, of one campaign and/or from one lead.

        Lemlist filters activities by campaign but not by address, so the address filter is applied
        here, over every page read (at most 2,000 replies).
        """
        wanted = lead_email.strip().lower() if lead_email is not None else None
        replies: list[LemlistReply] = []
        for page_number in range(_MAX_REPLY_PAGES):
            params: dict[str, Any] = {
                "version": "v2",
                "type": "emailsReplied",
                "offset": page_number * _PAGE_SIZE,
                "limit": _PAGE_SIZE,
            }
            if campaign_id is not None:
                params["campaignId"] = campaign_id
            page = self._parsed(_ACTIVITIES, await self._get("/api/activities", params=params))
            for activity in page:
                reply = _reply_of(activity)
                if reply is not None and (wanted is None or reply.lead_email == wanted):
                    replies.append(reply)
            if len(page) < _PAGE_SIZE:
                break
        replies.sort(key=lambda reply: (reply.created_at, reply.activity_id), reverse=True)
        return replies

    async def _post_lead(self, campaign_id: str, email: str, body: dict[str, str]) -> LeadAdded:
        path = f"/api/campaigns/{_segment(campaign_id)}/leads/{_segment(email)}"
        try:
            response = await self._http.request(
                "POST", path, json=body, headers=self._headers, retry="never", expect=_LEAD_ANSWERS
            )
        except NotFoundError:
            raise NotFoundError(f"there is no campaign with id {campaign_id!r}", provider=self.service) from None
        if response.status_code == 400:
            if _ALREADY_IN_CAMPAIGN.search(response.text):
                return LeadAdded(campaign_id=campaign_id, email=email, outcome="already_enrolled", lead_id=None)
            code = lemlist_error_code(response)
            raise InvalidRequestError(
                f"refused to add {email!r} to campaign {campaign_id!r} (HTTP 400" + (f": {code})" if code else ")"),
                provider=self.service,
            )
        lead = self._parsed(_LeadBody, response)
        return LeadAdded(campaign_id=campaign_id, email=email, outcome="enrolled", lead_id=lead.lead_id)

    async def _get(
        self, path: str, *, params: Mapping[str, Any] | None = None, expect: Container[int] = range(200, 300)
    ) -> httpx.Response:
        return await self._http.request("GET", path, params=params, headers=self._headers, expect=expect)

    def _parsed(self, model: type[_Model] | TypeAdapter[_Model], response: httpx.Response) -> _Model:
        adapter = model if isinstance(model, TypeAdapter) else TypeAdapter(model)
        try:
            return adapter.validate_json(response.content)
        except ValidationError:
            # Not retried and not shown: the request may have acted, and the body may echo our data.
            raise ProviderError(
                f"answered HTTP {response.status_code} with a body this client cannot read", provider=self.service
            ) from None


def _segment(value: str) -> str:
    """`value` as one URL path segment (an address's `@` and `+` escaped)."""
    return quote(value, safe="")


def _campaign_of(body: _CampaignBody) -> LemlistCampaign:
    return LemlistCampaign(
        campaign_id=body.campaign_id,
        name=body.name,
        state=body.status or body.state,
        created_at=body.created_at,
    )


def _reply_of(activity: _ActivityBody) -> LemlistReply | None:
    if activity.type != "emailsReplied" or not activity.lead_email:
        return None
    return LemlistReply(
        activity_id=activity.activity_id,
        campaign_id=activity.campaign_id,
        lead_email=activity.lead_email.strip().lower(),
        subject=activity.subject or "",
        text=activity.text or "",
        created_at=activity.created_at if activity.created_at.tzinfo else activity.created_at.replace(tzinfo=UTC),
    )
