"""A Lemlist double: the API paths the client uses, with Lemlist's auth, errors, rate limit and pagination.

Built from Lemlist's public reference:
- https://developer.lemlist.com/api-reference/getting-started/authentication (Basic auth, empty login,
  the API key as password) and .../getting-started/overview (routes under https://api.lemlist.com/api);
- the rate-limit section of the reference (20 requests per 2 seconds per key; `Retry-After`,
  `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`);
- https://developer.lemlist.com/api-reference/endpoints/campaigns/create-campaign (the answer's fields),
  .../endpoints/campaigns/get-many-campaigns and .../endpoints/leads/create-lead-in-campaign;
- the legacy reference, github.com/l3mpire/lemlist-developer (source/includes/_campaigns.md: offset and
  limit, 100 by default and at most; `POST /api/campaigns/:campaignId/leads/:email`; _activities.md;
  _team.md; _errors.md) and the published OpenAPI definitions (mirrored in github.com/api-evangelist/lemlist,
  openapi/lemlist-leads-api-openapi.yml, lemlist-contacts-api-openapi.yml,
  lemlist-activities-api-openapi.yml): 400 "Already in the campaign", `text/plain` errors ("The
  authentication you supplied is incorrect", "No API key provided", "Campaign not found"),
  `GET /api/contacts/{idOrEmail}` with the contact's `campaigns`, and 404 `CONTACT_NOT_FOUND`.

Where the reference is silent the double follows Lemlist's documented conventions and says so:
- the 400 body for a lead already in the campaign is the `text/plain` sentence "Lead already in campaign"
  (the reference names the case "Already in the campaign" without a body);
- the rate limit is a fixed window per key (the `X-RateLimit-Reset` header names the moment it resets),
  and the 429 body is the errors table's "Too Many Requests";
- reply activities (`emailsReplied`) carry the reply in `subject` and `text` (the reference lists no
  reply fields; `text` is what Lemlist's reply trigger carries);
- bad query values and bodies get a 400 with a short `text/plain` sentence, like Lemlist's other errors.

`create_lemlist_app(state, api_key=..., plan=...)` serves it; `state` is what a test inspects (campaigns,
leads, requests seen and whether their auth was valid, how many were throttled) and seeds (`add_campaign`,
`seed_reply`). Faults from a `FaultPlan` wrap everything, authentication included.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import random
import re
import string
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signoff.tools.sales.testing.faults import FaultPlan, with_faults

__all__ = [
    "LemlistCampaignRecord",
    "LemlistLeadRecord",
    "LemlistState",
    "SeenRequest",
    "create_lemlist_app",
]

# Lemlist's documented page size for campaigns and activities: 100 by default, 100 at most.
_PAGE_SIZE = 100
_EMAIL = re.compile(r"^[^@\s/]+@[^@\s/]+\.[^@\s/]+$")
_ID_ALPHABET = string.ascii_letters + string.digits
_TEAM_ID = "tea_SignoffDouble0001"
_USER_ID = "usr_SignoffDouble0001"

AuthVerdict = Literal["valid", "invalid", "missing"]


@dataclass(kw_only=True)
class LemlistLeadRecord:
    """One lead of one campaign."""

    lead_id: str
    contact_id: str
    campaign_id: str
    email: str
    fields: dict[str, str]
    created_at: datetime

    @property
    def linkedin_url(self) -> str | None:
        """The LinkedIn profile the campaign's LinkedIn steps would visit, invite and message."""
        return self.fields.get("linkedinUrl")


@dataclass(kw_only=True)
class LemlistCampaignRecord:
    """One campaign and its leads, by lower-cased address."""

    campaign_id: str
    name: str
    status: str
    created_at: datetime
    leads: dict[str, LemlistLeadRecord] = field(default_factory=dict[str, LemlistLeadRecord])


@dataclass(frozen=True, kw_only=True)
class SeenRequest:
    """A request the double received (faults aside), and what it made of its credentials."""

    method: str
    path: str
    query: str
    auth: AuthVerdict


@dataclass(kw_only=True)
class LemlistState:
    """Everything the double holds; tests seed it and read it."""

    campaigns: dict[str, LemlistCampaignRecord] = field(default_factory=dict[str, LemlistCampaignRecord])
    contacts: dict[str, str] = field(default_factory=dict[str, str])
    """Contact id by lower-cased address: one contact per person, whatever campaigns they are in."""
    activities: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    requests: list[SeenRequest] = field(default_factory=list[SeenRequest])
    rate_limit: int = 20
    """Requests per window per key (Lemlist: 20 per 2 seconds)."""
    rate_window_seconds: float = 2.0
    throttled: int = 0
    """429 answers the double's own rate limit gave (faults not included)."""
    _window_start: float | None = None
    _window_count: int = 0
    _random: random.Random = field(default_factory=lambda: random.Random(0))

    def new_id(self, prefix: str) -> str:
        """A Lemlist-shaped id: a prefix and 17 letters and digits (`cam_...`, `lea_...`)."""
        return f"{prefix}_" + "".join(self._random.choice(_ID_ALPHABET) for _ in range(17))

    def add_campaign(self, name: str, *, status: str = "running", created_at: datetime | None = None) -> str:
        """Store a campaign and return its id."""
        campaign_id = self.new_id("cam")
        self.campaigns[campaign_id] = LemlistCampaignRecord(
            campaign_id=campaign_id, name=name, status=status, created_at=created_at or datetime.now(UTC)
        )
        return campaign_id

    def leads(self, campaign_id: str) -> list[LemlistLeadRecord]:
        """The campaign's leads, in the order they were added."""
        return list(self.campaigns[campaign_id].leads.values())

    def seed_reply(
        self,
        *,
        lead_email: str,
        subject: str,
        text: str,
        campaign_id: str | None = None,
        created_at: datetime | None = None,
    ) -> str:
        """Store an `emailsReplied` activity (a lead answered) and return its id."""
        email = lead_email.strip().lower()
        campaign = self.campaigns.get(campaign_id) if campaign_id is not None else None
        lead = campaign.leads.get(email) if campaign is not None else None
        activity_id = self.new_id("act")
        self.activities.append(
            {
                "_id": activity_id,
                "type": "emailsReplied",
                "isFirst": True,
                "teamId": _TEAM_ID,
                "createdAt": _iso(created_at or datetime.now(UTC)),
                "leadId": lead.lead_id if lead is not None else self.new_id("lea"),
                "leadEmail": email,
                "campaignId": campaign_id,
                "campaignName": campaign.name if campaign is not None else None,
                "subject": subject,
                "text": text,
            }
        )
        return activity_id

    def take_request(self) -> tuple[bool, int, float]:
        """Count one request in the current window: (allowed, remaining, seconds until the window resets)."""
        now = time.monotonic()
        if self._window_start is None or now - self._window_start >= self.rate_window_seconds:
            self._window_start = now
            self._window_count = 0
        resets_in = self._window_start + self.rate_window_seconds - now
        if self._window_count >= self.rate_limit:
            return False, 0, resets_in
        self._window_count += 1
        return True, self.rate_limit - self._window_count, resets_in


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _js_date(moment: datetime) -> str:
    """A date as JavaScript's `Date.toString()` writes it, which is how `X-RateLimit-Reset` comes."""
    return moment.astimezone(UTC).strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)")


def _verdict(authorization: str | None, api_key: str) -> AuthVerdict:
    if not authorization:
        return "missing"
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic" or not token:
        return "invalid"
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "invalid"
    login, _, password = decoded.partition(":")
    if not password:
        return "missing"
    return "valid" if login == "" and password == api_key else "invalid"


def _text(status: int, sentence: str, headers: dict[str, str] | None = None) -> Response:
    return PlainTextResponse(sentence, status_code=status, headers=headers)


def _page_params(request: Request) -> tuple[int, int] | Response:
    try:
        offset = int(request.query_params.get("offset", "0"))
        limit = int(request.query_params.get("limit", str(_PAGE_SIZE)))
    except ValueError:
        return _text(400, "offset and limit must be integers")
    if offset < 0 or limit < 1:
        return _text(400, "offset must be 0 or more and limit 1 or more")
    return offset, min(limit, _PAGE_SIZE)


async def _json_object(request: Request) -> dict[str, Any] | Response:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return _text(400, "Body must be a JSON object")
    if not isinstance(body, dict):
        return _text(400, "Body must be a JSON object")
    return body  # pyright: ignore[reportUnknownVariableType]


def _campaign_json(campaign: LemlistCampaignRecord) -> dict[str, Any]:
    return {
        "_id": campaign.campaign_id,
        "name": campaign.name,
        "status": campaign.status,
        "createdAt": _iso(campaign.created_at),
        "createdBy": _USER_ID,
        "teamId": _TEAM_ID,
    }


def create_lemlist_app(state: LemlistState, *, api_key: str, plan: FaultPlan | None = None) -> ASGIApp:
    """The double as an ASGI app, accepting exactly `api_key`, with `plan`'s faults applied."""

    async def team(request: Request) -> Response:
        # As documented, the team's answer carries its API key: the reason the client never calls it.
        return JSONResponse(
            {"_id": _TEAM_ID, "name": "Signoff double", "userIds": [_USER_ID], "apiKey": api_key, "beta": []}
        )

    async def list_campaigns(request: Request) -> Response:
        paging = _page_params(request)
        if isinstance(paging, Response):
            return paging
        offset, limit = paging
        campaigns = list(state.campaigns.values())[offset : offset + limit]
        return JSONResponse([_campaign_json(campaign) for campaign in campaigns])

    async def create_campaign(request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        name = body.get("name", f"New campaign {len(state.campaigns) + 1}")
        if not isinstance(name, str) or not name.strip():
            return _text(400, "name must be a non-empty string")
        campaign_id = state.add_campaign(name)
        campaign = state.campaigns[campaign_id]
        # The fields of the reference's example answer; a new campaign's `state` is "running" there.
        return JSONResponse(
            {
                "_id": campaign.campaign_id,
                "sequenceId": state.new_id("seq"),
                "scheduleIds": [state.new_id("skd")],
                "teamId": _TEAM_ID,
                "createdBy": _USER_ID,
                "createdAt": _iso(campaign.created_at),
                "state": campaign.status,
                "scannedCount": 0,
                "reviewedCount": 0,
                "inSequenceLeadCount": 0,
                "variableKeys": [],
                "senders": [],
                "stopOnEmailReplied": True,
                "unsubscribe": "campaign",
                "name": campaign.name,
            }
        )

    async def get_campaign(request: Request) -> Response:
        campaign = state.campaigns.get(request.path_params["campaign_id"])
        if campaign is None:
            return _text(404, "Campaign not found")
        return JSONResponse(_campaign_json(campaign))

    async def add_lead(request: Request) -> Response:
        campaign = state.campaigns.get(request.path_params["campaign_id"])
        if campaign is None:
            return _text(404, "Campaign not found")
        email = str(request.path_params["email"]).strip().lower()
        if not _EMAIL.match(email):
            return _text(400, "Invalid email")
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        if not all(isinstance(value, str) for value in body.values()):
            return _text(400, "Lead fields must be strings")
        if email in campaign.leads:
            return _text(400, "Lead already in campaign")
        contact_id = state.contacts.setdefault(email, state.new_id("ctc"))
        lead = LemlistLeadRecord(
            lead_id=state.new_id("lea"),
            contact_id=contact_id,
            campaign_id=campaign.campaign_id,
            email=email,
            fields={str(key): str(value) for key, value in body.items()},
            created_at=datetime.now(UTC),
        )
        campaign.leads[email] = lead
        return JSONResponse(
            {
                "campaignId": campaign.campaign_id,
                "campaignName": campaign.name,
                "leadUrl": f"https://api.lemlist.com/api/leads/{quote(email, safe='')}",
                **lead.fields,
                "_id": lead.lead_id,
                "isPaused": False,
                "email": email,
                "contactId": contact_id,
            }
        )

    async def get_contact(request: Request) -> Response:
        email = str(request.path_params["email"]).strip().lower()
        contact_id = state.contacts.get(email)
        if contact_id is None:
            return JSONResponse(
                {
                    "success": False,
                    "error": {"code": "CONTACT_NOT_FOUND", "message": "No contact found with the provided id or email"},
                },
                status_code=404,
            )
        memberships = [campaign for campaign in state.campaigns.values() if email in campaign.leads]
        fields = memberships[0].leads[email].fields if memberships else {}
        return JSONResponse(
            {
                "_id": contact_id,
                "teamId": _TEAM_ID,
                "email": email,
                "fullName": " ".join(filter(None, [fields.get("firstName"), fields.get("lastName")])),
                "fields": {key: fields[key] for key in ("firstName", "lastName", "companyName") if key in fields},
                "campaigns": [
                    {"campaignId": campaign.campaign_id, "campaignState": campaign.status, "leadState": "review"}
                    for campaign in memberships
                ],
                "createdBy": _USER_ID,
            }
        )

    async def activities(request: Request) -> Response:
        paging = _page_params(request)
        if isinstance(paging, Response):
            return paging
        offset, limit = paging
        wanted = {key: request.query_params.get(key) for key in ("type", "campaignId", "leadId")}
        matching = [
            activity
            for activity in state.activities
            if all(value is None or activity.get(key) == value for key, value in wanted.items())
        ]
        matching.sort(key=lambda activity: (activity["createdAt"], activity["_id"]), reverse=True)
        return JSONResponse(matching[offset : offset + limit])

    router = Router(
        routes=[
            Route("/api/team", team, methods=["GET"]),
            Route("/api/campaigns", list_campaigns, methods=["GET"]),
            Route("/api/campaigns", create_campaign, methods=["POST"]),
            Route("/api/campaigns/{campaign_id}", get_campaign, methods=["GET"]),
            Route("/api/campaigns/{campaign_id}/leads/{email}", add_lead, methods=["POST"]),
            Route("/api/contacts/{email}", get_contact, methods=["GET"]),
            Route("/api/activities", activities, methods=["GET"]),
        ]
    )

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await router(scope, receive, send)
            return
        verdict = _verdict(Headers(scope=scope).get("authorization"), api_key)
        state.requests.append(
            SeenRequest(
                method=scope["method"],
                path=scope["path"],
                query=scope.get("query_string", b"").decode("latin-1"),
                auth=verdict,
            )
        )
        if verdict == "missing":
            await _text(400, "No API key provided")(scope, receive, send)
            return
        if verdict == "invalid":
            await _text(401, "The authentication you supplied is incorrect")(scope, receive, send)
            return
        allowed, remaining, resets_in = state.take_request()
        rate_headers = {
            "X-RateLimit-Limit": str(state.rate_limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": _js_date(datetime.now(UTC) + timedelta(seconds=resets_in)),
        }
        if not allowed:
            state.throttled += 1
            retry_after = str(max(1, math.ceil(resets_in)))
            await _text(429, "Too Many Requests", {**rate_headers, "Retry-After": retry_after})(scope, receive, send)
            return

        async def send_with_rate_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in rate_headers.items():
                    headers[name] = value
            await send(message)

        await router(scope, receive, send_with_rate_headers)

    return with_faults(guarded, plan) if plan is not None else guarded
