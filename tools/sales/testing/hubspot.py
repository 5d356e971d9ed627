"""A local double of HubSpot's CRM API: contacts, companies, owners and default associations, on a real socket.

Built from HubSpot's public documentation, and speaking its wire format so `vendors.hubspot.HubSpotCrm` is
tested exactly as it talks to api.hubapi.com:

- Objects: https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/upsert-contacts
  (`POST /crm/v3/objects/contacts/batch/upsert`, `idProperty`, per-result `new`), the contacts guide
  https://developers.hubspot.com/docs-beta/crm/contacts (`GET`/`PATCH /crm/v3/objects/contacts/{contactId}`
  with `?idProperty=email`, `batch/read`, `POST /crm/v3/objects/companies`).
- Search: https://developers.hubspot.com/docs/api-reference/search/guide.md (`filterGroups`, `EQ` compares
  case-insensitively, `IN` takes lower-case `values`, `limit` at most 200, `paging.next.after`, a body of at most
  3,000 characters, at most 5 groups / 6 filters per group / 18 filters, no paging past 10,000 results, five
  requests per second; new objects are searchable "after a few moments": this double indexes at once).
- Associations v4: `PUT /crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/
  {toObjectId}` (https://developers.hubspot.com/docs/api-reference/latest/crm/associations, answered as a
  `BatchResponsePublicDefaultAssociation`).
- Owners: `GET /crm/v3/owners?email=` and `GET /crm/v3/owners/{ownerId}`.
- Errors: https://developers.hubspot.com/docs/api-reference/error-handling (the `status` / `message` /
  `category` / `correlationId` body, `errors[]` details, 207 Multi-Status with `numErrors` and per-input errors
  whose `context.objectWriteTraceId` names the input, when every input carries an `objectWriteTraceId`;
  otherwise one invalid input fails the whole batch with 400).
- Rate limits: https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines (100 requests
  per rolling 10 seconds for a private app on Free/Starter, `X-HubSpot-RateLimit-Max` / `-Remaining` /
  `-Interval-Milliseconds` / `-Daily` / `-Daily-Remaining` on every answer except search's, a 429 body with
  `errorType: RATE_LIMIT` and `policyName`). Search's own limit answers `You have reached your secondly
  limit.` without those headers. HubSpot documents no `Retry-After` for these 429s, and this double sends none.

Where the docs are silent the double picks HubSpot's observed convention and says so in the code: a 404 body of
category `OBJECT_NOT_FOUND`, the first company associated with a contact becoming its primary company
(`associatedcompanyid`), and search requests counting against the rolling 10-second limit as well as their own.
Operators, sorts and properties the sales pack never uses are refused with a 400 rather than half-implemented.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signoff.tools.sales.clock import Clock, utc_now
from signoff.tools.sales.testing.faults import FaultPlan, with_faults

__all__ = [
    "HubSpotObject",
    "HubSpotOwner",
    "HubSpotState",
    "SeenRequest",
    "create_hubspot_app",
]

# Contact properties a private app may write (a portal has hundreds; these are the default ones the sales pack
# and its tests touch). Anything else is HubSpot's PROPERTY_DOESNT_EXIST.
_CONTACT_WRITABLE = frozenset(
    {
        "email",
        "firstname",
        "lastname",
        "jobtitle",
        "company",
        "phone",
        "mobilephone",
        "website",
        "city",
        "country",
        "lifecyclestage",
        "hs_lead_status",
        "hubspot_owner_id",
    }
)
# Calculated or HubSpot-maintained: readable and searchable, refused on write (READ_ONLY_VALUE).
# `associatedcompanyid` is kept by the associations in this double (HubSpot also lets it be written).
_CONTACT_READ_ONLY = frozenset(
    {"hs_object_id", "createdate", "lastmodifieddate", "hs_email_domain", "associatedcompanyid"}
)
_CONTACT_DEFAULTS = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname")
_CONTACT_ALWAYS = ("createdate", "hs_object_id", "lastmodifieddate")

_COMPANY_WRITABLE = frozenset(
    {"name", "domain", "website", "city", "country", "industry", "phone", "numberofemployees", "description"}
)
_COMPANY_READ_ONLY = frozenset({"hs_object_id", "createdate", "hs_lastmodifieddate"})
_COMPANY_DEFAULTS = ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name")
_COMPANY_ALWAYS = ("createdate", "hs_lastmodifieddate", "hs_object_id")

# HubSpot's documented limits (see the module docstring).
_BATCH_MAX_INPUTS = 100
_LIST_MAX_LIMIT = 100
_SEARCH_MAX_LIMIT = 200
_SEARCH_DEFAULT_LIMIT = 10
_SEARCH_MAX_BODY_CHARS = 3_000
_SEARCH_MAX_GROUPS = 5
_SEARCH_MAX_FILTERS_PER_GROUP = 6
_SEARCH_MAX_FILTERS = 18
_SEARCH_OPERATORS = frozenset({"EQ", "NEQ", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY"})

# Association types HubSpot defines between contacts and companies: 279 is the unlabeled (default) one,
# 1 the primary company.
_CONTACT_TO_COMPANY = 279
_PRIMARY_COMPANY = 1
_CONTACT_TYPES = frozenset({"contact", "contacts", "0-1"})
_COMPANY_TYPES = frozenset({"company", "companies", "0-2"})

# Close to the syntax HubSpot accepts; addresses HubSpot refuses for other reasons go in `refused_emails`.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")

_AUTH_MISSING = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more "
    "details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


@dataclass(kw_only=True)
class HubSpotObject:
    """One CRM record (a contact or a company): HubSpot keeps every property value as a string."""

    object_id: str
    properties: dict[str, str]
    created_at: datetime
    updated_at: datetime


@dataclass(kw_only=True)
class HubSpotOwner:
    """A HubSpot user who can own records."""

    owner_id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    user_id: int
    created_at: datetime


@dataclass(kw_only=True)
class SeenRequest:
    """A request as the double received it (before any fault), and the status it was answered with."""

    method: str
    path: str
    query: str
    authorized: bool
    status: int | None = None
    """None until the answer starts, and for a connection a fault dropped."""


@dataclass(kw_only=True)
class HubSpotState:
    """The double's portal: records, associations, owners, the requests seen, and its limits (tests tune them)."""

    contacts: dict[str, HubSpotObject] = field(default_factory=dict[str, HubSpotObject])
    """By contact id."""
    companies: dict[str, HubSpotObject] = field(default_factory=dict[str, HubSpotObject])
    """By company id."""
    associations: set[tuple[str, str, int]] = field(default_factory=set[tuple[str, str, int]])
    """(contact id, company id, association type id)."""
    owners: dict[str, HubSpotOwner] = field(default_factory=dict[str, HubSpotOwner])
    """By owner id."""
    requests: list[SeenRequest] = field(default_factory=list[SeenRequest])
    refused_emails: set[str] = field(default_factory=set[str])
    """Addresses HubSpot's own checks refuse though their syntax is fine (answered INVALID_EMAIL)."""
    rate_limit: int = 100
    """Requests per rolling `rate_window_seconds` (a private app on Free/Starter: 100 per 10 seconds)."""
    rate_window_seconds: float = 10.0
    search_rate_limit: int = 5
    """Search requests per rolling `search_window_seconds` (documented: five per second)."""
    search_window_seconds: float = 1.0
    daily_limit: int = 250_000
    search_page_cap: int = _SEARCH_MAX_LIMIT
    """At most this many results per search page, whatever `limit` asks (tests lower it to force paging)."""
    search_results_cap: int = 10_000
    clock: Clock = utc_now
    _next_id: int = 100_001
    _arrivals: deque[float] = field(default_factory=deque[float])
    _search_arrivals: deque[float] = field(default_factory=deque[float])
    _daily_used: int = 0

    def new_id(self) -> str:
        """A fresh numeric object id, as HubSpot's are."""
        self._next_id += 1
        return str(self._next_id)

    def add_owner(self, *, email: str, first_name: str = "", last_name: str = "") -> HubSpotOwner:
        """Seed a HubSpot user who can own contacts."""
        owner = HubSpotOwner(
            owner_id=self.new_id(),
            email=email.lower(),
            first_name=first_name,
            last_name=last_name,
            user_id=self._next_id + 7_000_000,
            created_at=self.clock(),
        )
        self.owners[owner.owner_id] = owner
        return owner

    def add_contact(self, *, email: str, **properties: str) -> HubSpotObject:
        """Seed a contact (as a form or a person in HubSpot's UI would have created it)."""
        contact = _new_object(self, "contacts", {"email": email.lower(), **properties})
        self.contacts[contact.object_id] = contact
        return contact

    def contact_by_email(self, email: str) -> HubSpotObject | None:
        """The contact with this address (any letter case), or None."""
        wanted = email.lower()
        return next((c for c in self.contacts.values() if c.properties.get("email") == wanted), None)

    def companies_of(self, contact_id: str) -> set[str]:
        """The ids of the companies a contact is associated with (any association type)."""
        return {company_id for contact, company_id, _ in self.associations if contact == contact_id}

    def count(self, *, method: str | None = None, path: str | None = None, status: int | None = None) -> int:
        """How many requests were seen, by method, path prefix and answer status."""
        return sum(
            1
            for seen in self.requests
            if (method is None or seen.method == method)
            and (path is None or seen.path.startswith(path))
            and (status is None or seen.status == status)
        )


class _Refusal(Exception):
    """A HubSpot error answer, raised inside a handler."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        context: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
        }
        if errors:
            self.body["errors"] = errors
        if context:
            self.body["context"] = context


def _invalid(message: str, *, code: str | None = None, name: str | None = None) -> _Refusal:
    detail: dict[str, Any] = {"message": message}
    if code:
        detail["code"] = code
    if name:
        detail["in"] = name
    return _Refusal(400, "VALIDATION_ERROR", message, errors=[detail])


def _not_found(object_id: str) -> _Refusal:
    # HubSpot's own text; the docs are silent on a 404 body, this is what the v3 object endpoints answer.
    return _Refusal(
        404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.", context={"id": [object_id]}
    )


def _iso(moment: datetime) -> str:
    """HubSpot's timestamp format: UTC, milliseconds, a `Z`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _new_object(
    state: HubSpotState, kind: Literal["contacts", "companies"], properties: Mapping[str, str]
) -> HubSpotObject:
    now = state.clock()
    object_id = state.new_id()
    modified = "lastmodifieddate" if kind == "contacts" else "hs_lastmodifieddate"
    record = HubSpotObject(
        object_id=object_id,
        properties={"hs_object_id": object_id, "createdate": _iso(now), modified: _iso(now)},
        created_at=now,
        updated_at=now,
    )
    _write(state, kind, record, properties, touch=False)
    return record


def _write(
    state: HubSpotState,
    kind: Literal["contacts", "companies"],
    record: HubSpotObject,
    properties: Mapping[str, str],
    *,
    touch: bool = True,
) -> bool:
    """Apply property values (an empty string clears one, as HubSpot documents); True when anything changed.

    A change moves `updatedAt` and the last-modified property, unless `touch` is False (a record being created).
    """
    changed = False
    for name, value in properties.items():
        value = value.lower() if name in ("email", "domain") else value
        if value == "":
            changed = record.properties.pop(name, None) is not None or changed
        elif record.properties.get(name) != value:
            record.properties[name] = value
            changed = True
    if kind == "contacts":
        email = record.properties.get("email")
        if email and "@" in email:
            record.properties["hs_email_domain"] = email.rsplit("@", 1)[1]
    if changed and touch:
        now = state.clock()
        record.updated_at = now
        record.properties["lastmodifieddate" if kind == "contacts" else "hs_lastmodifieddate"] = _iso(now)
    return changed


def _object_json(
    record: HubSpotObject, properties: Iterable[str], *, always: Iterable[str] = (), **extra: Any
) -> dict[str, Any]:
    names = dict.fromkeys([*properties, *always])
    return {
        "id": record.object_id,
        "properties": {name: record.properties.get(name) for name in names},
        "createdAt": _iso(record.created_at),
        "updatedAt": _iso(record.updated_at),
        "archived": False,
        **extra,
    }


def _owner_json(owner: HubSpotOwner) -> dict[str, Any]:
    return {
        "id": owner.owner_id,
        "email": owner.email,
        "type": "PERSON",
        "firstName": owner.first_name,
        "lastName": owner.last_name,
        "userId": owner.user_id,
        "userIdIncludingInactive": owner.user_id,
        "createdAt": _iso(owner.created_at),
        "updatedAt": _iso(owner.created_at),
        "archived": False,
    }


def _requested_properties(request: Request) -> list[str]:
    """`properties=a,b` or `properties=a&properties=b`, as HubSpot's GET endpoints take them."""
    names: list[str] = []
    for value in request.query_params.getlist("properties"):
        names.extend(name.strip() for name in value.split(",") if name.strip())
    return names


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except json.JSONDecodeError as error:
        raise _invalid(f"Invalid input JSON on line {error.lineno}, column {error.colno}: {error.msg}") from None
    if not isinstance(body, dict):
        raise _invalid("Invalid input JSON: expected an object")
    return body


def _property_problems(
    properties: Any, *, writable: frozenset[str], read_only: frozenset[str]
) -> list[tuple[str, str, str]]:
    """(code, property, message) for every value HubSpot would refuse."""
    if not isinstance(properties, dict):
        return [("INVALID_INPUT", "properties", "properties must be an object of property names to values")]
    problems: list[tuple[str, str, str]] = []
    for name, value in properties.items():
        if name in read_only:
            problems.append(("READ_ONLY_VALUE", str(name), f'Property "{name}" is read-only'))
        elif name not in writable:
            problems.append(("PROPERTY_DOESNT_EXIST", str(name), f'Property "{name}" does not exist'))
        elif not isinstance(value, str | int | float | bool):
            problems.append(("INVALID_INPUT", str(name), f'Property "{name}" has a value that is not a string'))
    return problems


def _as_strings(properties: Mapping[str, Any]) -> dict[str, str]:
    return {name: (str(value).lower() if isinstance(value, bool) else str(value)) for name, value in properties.items()}


def _validation_summary(problems: list[tuple[str, str, str]]) -> str:
    # HubSpot's own message for refused values: it echoes them (which is why clients must never show it).
    details = [{"isValid": False, "message": message, "error": code, "name": name} for code, name, message in problems]
    return f"Property values were not valid: {json.dumps(details)}"


class _HubSpotDouble:
    """The endpoints, over one `HubSpotState`."""

    def __init__(self, state: HubSpotState, *, token: str) -> None:
        self.state = state
        self.token = token

    # -- guards ---------------------------------------------------------------------------------------------

    def endpoint(
        self, handler: Callable[[Request], Awaitable[Response]], *, search: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """`handler` behind HubSpot's authentication and rate limits, with its errors answered as HubSpot does."""

        async def guarded(request: Request) -> Response:
            if not _authorized(request.headers.get("authorization"), self.token):
                # Refused before any limit is counted: no rate-limit headers on a 401.
                return self._answer(_Refusal(401, "INVALID_AUTHENTICATION", _AUTH_MISSING), limit_headers=False)
            throttled = self._admit(search=search)
            if throttled is not None:
                return throttled
            try:
                response = await handler(request)
            except _Refusal as refusal:
                return self._answer(refusal, limit_headers=not search)
            self._stamp(response, limit_headers=not search)
            return response

        return guarded

    def _answer(self, refusal: _Refusal, *, limit_headers: bool) -> Response:
        response = JSONResponse(refusal.body, status_code=refusal.status)
        self._stamp(response, limit_headers=limit_headers)
        return response

    def _stamp(self, response: Response, *, limit_headers: bool) -> None:
        response.headers["x-hubspot-correlation-id"] = str(uuid.uuid4())
        if not limit_headers:
            return  # documented: search answers (and refusals before counting) carry no rate-limit headers
        for name, value in self._limit_headers().items():
            response.headers[name] = value

    def _limit_headers(self) -> dict[str, str]:
        state = self.state
        return {
            "x-hubspot-ratelimit-daily": str(state.daily_limit),
            "x-hubspot-ratelimit-daily-remaining": str(max(0, state.daily_limit - state._daily_used)),
            "x-hubspot-ratelimit-interval-milliseconds": str(round(state.rate_window_seconds * 1000)),
            "x-hubspot-ratelimit-max": str(state.rate_limit),
            "x-hubspot-ratelimit-remaining": str(max(0, state.rate_limit - len(state._arrivals))),
        }

    def _admit(self, *, search: bool) -> Response | None:
        """None when the request is within the limits (and counts against them), else HubSpot's 429."""
        state = self.state
        now = time.monotonic()
        _forget_before(state._arrivals, now - state.rate_window_seconds)
        _forget_before(state._search_arrivals, now - state.search_window_seconds)
        correlation_id = str(uuid.uuid4())
        if search and len(state._search_arrivals) >= state.search_rate_limit:
            body = {
                "status": "error",
                "message": "You have reached your secondly limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": correlation_id,
                "policyName": "SECONDLY",
            }
            return JSONResponse(body, status_code=429, headers={"x-hubspot-correlation-id": correlation_id})
        if len(state._arrivals) >= state.rate_limit:
            body = {
                "status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": correlation_id,
                "policyName": "TEN_SECONDLY_ROLLING",
            }
            headers = {**self._limit_headers(), "x-hubspot-correlation-id": correlation_id}
            return JSONResponse(body, status_code=429, headers=headers)
        state._arrivals.append(now)
        if search:
            state._search_arrivals.append(now)
        state._daily_used += 1
        return None

    # -- contacts -------------------------------------------------------------------------------------------

    def _contact(self, contact_id: str, *, id_property: str | None) -> HubSpotObject:
        if id_property in (None, "", "hs_object_id"):
            record = self.state.contacts.get(contact_id)
        elif id_property == "email":
            record = self.state.contact_by_email(contact_id)
        else:
            raise _invalid(f"{id_property} is not a unique property of contacts", code="INVALID_ID_PROPERTY")
        if record is None:
            raise _not_found(contact_id)
        return record

    async def list_contacts(self, request: Request) -> Response:
        limit = _int_param(request.query_params.get("limit"), default=10, name="limit")
        if not 1 <= limit <= _LIST_MAX_LIMIT:
            raise _invalid(f"limit must be between 1 and {_LIST_MAX_LIMIT}", code="INVALID_LIMIT", name="limit")
        after = _int_param(request.query_params.get("after"), default=0, name="after")
        properties = _requested_properties(request) or list(_CONTACT_DEFAULTS)
        records = list(self.state.contacts.values())[after : after + limit]
        body: dict[str, Any] = {"results": [_object_json(r, properties, always=_CONTACT_ALWAYS) for r in records]}
        if after + limit < len(self.state.contacts):
            body["paging"] = {"next": {"after": str(after + limit), "link": f"?after={after + limit}"}}
        return JSONResponse(body)

    async def get_contact(self, request: Request) -> Response:
        record = self._contact(request.path_params["contact_id"], id_property=request.query_params.get("idProperty"))
        properties = _requested_properties(request) or list(_CONTACT_DEFAULTS)
        return JSONResponse(_object_json(record, properties, always=_CONTACT_ALWAYS))

    async def patch_contact(self, request: Request) -> Response:
        record = self._contact(request.path_params["contact_id"], id_property=request.query_params.get("idProperty"))
        body = await _json_body(request)
        raw = body.get("properties")
        problems = _property_problems(raw, writable=_CONTACT_WRITABLE, read_only=_CONTACT_READ_ONLY)
        if problems:
            code, name, _ = problems[0]
            raise _invalid(_validation_summary(problems), code=code, name=name)
        properties = _as_strings(raw or {})
        owner_id = properties.get("hubspot_owner_id")
        if owner_id and owner_id not in self.state.owners:
            raise _invalid(
                _validation_summary([("INVALID_OPTION", "hubspot_owner_id", f"{owner_id} is not a valid owner id")]),
                code="INVALID_OPTION",
                name="hubspot_owner_id",
            )
        _write(self.state, "contacts", record, properties)
        return JSONResponse(_object_json(record, sorted(record.properties)))

    async def batch_read(self, request: Request) -> Response:
        body = await _json_body(request)
        inputs = _inputs(body)
        id_property = body.get("idProperty")
        properties = [str(name) for name in body.get("properties") or _CONTACT_DEFAULTS]
        started = self.state.clock()
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        for entry in inputs:
            object_id = str(entry.get("id", ""))
            try:
                record = self._contact(object_id, id_property=id_property)
            except _Refusal as refusal:
                if refusal.status != 404:
                    raise
                missing.append(object_id)
                continue
            results.append(_object_json(record, properties, always=_CONTACT_ALWAYS))
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": _iso(started),
            "completedAt": _iso(self.state.clock()),
        }
        if not missing:
            return JSONResponse(answer)
        answer["numErrors"] = 1
        answer["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids "
                "are valid.",
                "context": {"ids": missing},
            }
        ]
        return JSONResponse(answer, status_code=207)

    async def batch_upsert(self, request: Request) -> Response:
        body = await _json_body(request)
        inputs = _inputs(body)
        ids = [str(entry.get("id", "")).lower() for entry in inputs]
        duplicates = sorted({value for value in ids if ids.count(value) > 1})
        if duplicates:
            raise _invalid(f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique", code="DUPLICATE_ID")
        problems_of: list[list[tuple[str, str, str]]] = []
        for entry, email in zip(inputs, ids, strict=True):
            if entry.get("idProperty") != "email":
                raise _invalid("This double implements contact upserts by email only", code="INVALID_ID_PROPERTY")
            problems = _property_problems(
                entry.get("properties", {}), writable=_CONTACT_WRITABLE, read_only=_CONTACT_READ_ONLY
            )
            if not _EMAIL.match(email) or email in {refused.lower() for refused in self.state.refused_emails}:
                problems.append(("INVALID_EMAIL", "email", f"Email address {email} is invalid"))
            problems_of.append(problems)
        multi_status = all(isinstance(entry.get("objectWriteTraceId"), str) for entry in inputs)
        if not multi_status:
            # Without a trace id per input HubSpot cannot say which input failed: the whole batch is refused.
            for problems in problems_of:
                if problems:
                    code, name, _ = problems[0]
                    raise _invalid(_validation_summary(problems), code=code, name=name)
        started = self.state.clock()
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for entry, email, problems in zip(inputs, ids, problems_of, strict=True):
            trace_id = entry.get("objectWriteTraceId")
            if problems:
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": _validation_summary(problems),
                        "context": {"objectWriteTraceId": [trace_id]},
                        "errors": [{"message": message, "code": code, "in": name} for code, name, message in problems],
                    }
                )
                continue
            properties = {**_as_strings(entry.get("properties") or {}), "email": email}
            record = self.state.contact_by_email(email)
            new = record is None
            if record is None:
                record = _new_object(self.state, "contacts", properties)
                self.state.contacts[record.object_id] = record
            else:
                _write(self.state, "contacts", record, properties)
            extra: dict[str, Any] = {"new": new}
            if trace_id is not None:
                extra["objectWriteTraceId"] = trace_id
            results.append(_object_json(record, properties, always=_CONTACT_ALWAYS, **extra))
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": _iso(started),
            "completedAt": _iso(self.state.clock()),
        }
        if not errors:
            return JSONResponse(answer)
        answer["numErrors"] = len(errors)
        answer["errors"] = errors
        return JSONResponse(answer, status_code=207)

    async def search_contacts(self, request: Request) -> Response:
        return await self._search(
            request,
            list(self.state.contacts.values()),
            known=_CONTACT_WRITABLE | _CONTACT_READ_ONLY,
            defaults=_CONTACT_DEFAULTS,
            always=_CONTACT_ALWAYS,
        )

    # -- companies and associations ------------------------------------------------------------------------

    async def search_companies(self, request: Request) -> Response:
        return await self._search(
            request,
            list(self.state.companies.values()),
            known=_COMPANY_WRITABLE | _COMPANY_READ_ONLY,
            defaults=_COMPANY_DEFAULTS,
            always=_COMPANY_ALWAYS,
        )

    async def create_company(self, request: Request) -> Response:
        body = await _json_body(request)
        raw = body.get("properties")
        problems = _property_problems(raw, writable=_COMPANY_WRITABLE, read_only=_COMPANY_READ_ONLY)
        if problems:
            code, name, _ = problems[0]
            raise _invalid(_validation_summary(problems), code=code, name=name)
        if body.get("associations"):
            raise _invalid("This double creates companies without inline associations", code="INVALID_INPUT")
        properties = _as_strings(raw or {})
        record = _new_object(self.state, "companies", properties)
        self.state.companies[record.object_id] = record
        return JSONResponse(_object_json(record, properties, always=_COMPANY_ALWAYS), status_code=201)

    async def associate_default(self, request: Request) -> Response:
        params = request.path_params
        if params["from_type"] not in _CONTACT_TYPES or params["to_type"] not in _COMPANY_TYPES:
            raise _invalid("This double associates contacts to companies only", code="INVALID_OBJECT_TYPE")
        contact_id, company_id = str(params["from_id"]), str(params["to_id"])
        contact = self.state.contacts.get(contact_id)
        if contact is None:
            raise _not_found(contact_id)
        if company_id not in self.state.companies:
            raise _not_found(company_id)
        started = self.state.clock()
        types = [_CONTACT_TO_COMPANY]
        # Docs silent: as in HubSpot's UI, a contact's first company becomes its primary one.
        if "associatedcompanyid" not in contact.properties:
            types.append(_PRIMARY_COMPANY)
            contact.properties["associatedcompanyid"] = company_id
        elif contact.properties["associatedcompanyid"] == company_id:
            types.append(_PRIMARY_COMPANY)
        for type_id in types:
            self.state.associations.add((contact_id, company_id, type_id))
        results = [
            {
                "from": {"id": contact_id},
                "to": {"id": company_id},
                "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id},
            }
            for type_id in types
        ]
        return JSONResponse(
            {
                "status": "COMPLETE",
                "results": results,
                "startedAt": _iso(started),
                "completedAt": _iso(self.state.clock()),
            }
        )

    # -- owners ---------------------------------------------------------------------------------------------

    async def list_owners(self, request: Request) -> Response:
        email = (request.query_params.get("email") or "").lower()
        limit = _int_param(request.query_params.get("limit"), default=100, name="limit")
        after = _int_param(request.query_params.get("after"), default=0, name="after")
        owners = [owner for owner in self.state.owners.values() if not email or owner.email == email]
        body: dict[str, Any] = {"results": [_owner_json(owner) for owner in owners[after : after + limit]]}
        if after + limit < len(owners):
            body["paging"] = {"next": {"after": str(after + limit), "link": f"?after={after + limit}"}}
        return JSONResponse(body)

    async def get_owner(self, request: Request) -> Response:
        owner_id = request.path_params["owner_id"]
        owner = self.state.owners.get(owner_id)
        if owner is None:
            raise _not_found(owner_id)
        return JSONResponse(_owner_json(owner))

    # -- search ---------------------------------------------------------------------------------------------

    async def _search(
        self,
        request: Request,
        records: list[HubSpotObject],
        *,
        known: frozenset[str],
        defaults: tuple[str, ...],
        always: tuple[str, ...],
    ) -> Response:
        raw = await request.body()
        if len(raw.decode("utf-8", errors="replace")) > _SEARCH_MAX_BODY_CHARS:
            raise _invalid(
                f"The request body exceeds the maximum of {_SEARCH_MAX_BODY_CHARS} characters", code="TOO_LONG"
            )
        body = await _json_body(request)
        if body.get("query") or body.get("sorts"):
            raise _invalid("This double implements filterGroups searches only (no query, no sorts)")
        groups = _filter_groups(body.get("filterGroups") or [], known=known)
        limit = body.get("limit", _SEARCH_DEFAULT_LIMIT)
        if not isinstance(limit, int) or not 1 <= limit <= _SEARCH_MAX_LIMIT:
            raise _invalid(f"limit must be between 1 and {_SEARCH_MAX_LIMIT}", code="INVALID_LIMIT", name="limit")
        after = _int_param(body.get("after"), default=0, name="after")
        if after >= self.state.search_results_cap:
            # Documented: "Attempting to page beyond 10,000 will result in a 400 error."
            raise _invalid(
                f"Search results are limited to {self.state.search_results_cap} per query; refine the filters",
                code="PAGE_BEYOND_LIMIT",
                name="after",
            )
        matches = [record for record in records if not groups or any(_matches(record, g) for g in groups)]
        page_size = min(limit, self.state.search_page_cap)
        page = matches[after : after + page_size]
        properties = [str(name) for name in body.get("properties") or defaults]
        answer: dict[str, Any] = {
            "total": len(matches),
            "results": [_object_json(record, properties, always=always) for record in page],
        }
        next_after = after + len(page)
        if next_after < len(matches):
            answer["paging"] = {"next": {"after": str(next_after), "link": f"?after={next_after}"}}
        return JSONResponse(answer)


_Filter = tuple[str, str, Any]


def _filter_groups(raw: Any, *, known: frozenset[str]) -> list[list[_Filter]]:
    if not isinstance(raw, list) or len(raw) > _SEARCH_MAX_GROUPS:
        raise _invalid(f"At most {_SEARCH_MAX_GROUPS} filterGroups are allowed", code="TOO_MANY_FILTER_GROUPS")
    groups: list[list[_Filter]] = []
    total = 0
    for group in raw:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list) or len(filters) > _SEARCH_MAX_FILTERS_PER_GROUP:
            raise _invalid(
                f"Each filterGroup takes at most {_SEARCH_MAX_FILTERS_PER_GROUP} filters", code="TOO_MANY_FILTERS"
            )
        total += len(filters)
        parsed: list[_Filter] = []
        for item in filters:
            if not isinstance(item, dict):
                raise _invalid("A filter must be an object", code="INVALID_FILTER")
            name, operator = item.get("propertyName"), item.get("operator")
            if name not in known:
                raise _invalid(
                    f"There is no property {name!r} to filter on", code="PROPERTY_DOESNT_EXIST", name=str(name)
                )
            if operator not in _SEARCH_OPERATORS:
                raise _invalid(f"The operator {operator!r} is not implemented by this double", code="INVALID_FILTER")
            if operator in ("IN", "NOT_IN"):
                values = item.get("values")
                if not isinstance(values, list) or not values:
                    raise _invalid(f"{operator} needs a non-empty values array", code="INVALID_FILTER")
                parsed.append((str(name), str(operator), [str(value) for value in values]))
            elif operator in ("EQ", "NEQ"):
                if "value" not in item:
                    raise _invalid(f"{operator} needs a value", code="INVALID_FILTER")
                parsed.append((str(name), str(operator), str(item["value"])))
            else:
                parsed.append((str(name), str(operator), None))
        groups.append(parsed)
    if total > _SEARCH_MAX_FILTERS:
        raise _invalid(f"At most {_SEARCH_MAX_FILTERS} filters are allowed in all", code="TOO_MANY_FILTERS")
    return groups


def _matches(record: HubSpotObject, group: list[_Filter]) -> bool:
    """All filters of a group hold (groups are ORed by the caller)."""
    for name, operator, wanted in group:
        value = record.properties.get(name)
        match operator:
            case "EQ":
                ok = value is not None and value.lower() == wanted.lower()
            case "NEQ":
                ok = value is None or value.lower() != wanted.lower()
            case "IN":
                # Documented: IN matches exactly, and string values must be given lower-case.
                ok = value is not None and value.lower() in wanted
            case "NOT_IN":
                ok = value is None or value.lower() not in wanted
            case "HAS_PROPERTY":
                ok = value is not None
            case _:
                ok = value is None
        if not ok:
            return False
    return True


def _inputs(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(entry, dict) for entry in inputs):
        raise _invalid("inputs must be an array of objects", code="INVALID_INPUT", name="inputs")
    if not 1 <= len(inputs) <= _BATCH_MAX_INPUTS:
        raise _invalid(f"A batch takes 1 to {_BATCH_MAX_INPUTS} inputs", code="TOO_MANY_INPUTS", name="inputs")
    return inputs


def _int_param(value: Any, *, default: int, name: str) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _invalid(f"{name} must be an integer", code="INVALID_INTEGER", name=name) from None
    if number < 0:
        raise _invalid(f"{name} must not be negative", code="INVALID_INTEGER", name=name)
    return number


def _forget_before(arrivals: deque[float], cutoff: float) -> None:
    while arrivals and arrivals[0] <= cutoff:
        arrivals.popleft()


def _authorized(header: str | None, token: str) -> bool:
    if not header:
        return False
    scheme, _, credential = header.partition(" ")
    return scheme.lower() == "bearer" and credential == token


def _logged(app: ASGIApp, state: HubSpotState, *, token: str) -> ASGIApp:
    """Every request into the log as it arrives (faults included), with the status it was answered with."""

    async def logging(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        seen = SeenRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            authorized=_authorized(headers.get("authorization"), token),
        )
        state.requests.append(seen)

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.status = message["status"]
            await send(message)

        await app(scope, receive, capture)

    return logging


def create_hubspot_app(state: HubSpotState, *, token: str, plan: FaultPlan | None = None) -> ASGIApp:
    """The double as an ASGI app: `token` is the private-app token it accepts; `plan`'s faults apply first."""
    double = _HubSpotDouble(state, token=token)
    endpoint = double.endpoint

    async def not_found(request: Request, error: Exception) -> Response:
        status = error.status_code if isinstance(error, HTTPException) else 404
        refusal = _Refusal(status, "OBJECT_NOT_FOUND" if status == 404 else "VALIDATION_ERROR", "Resource not found")
        return JSONResponse(refusal.body, status_code=status)

    routes = [
        Route("/crm/v3/objects/contacts", endpoint(double.list_contacts), methods=["GET"]),
        Route("/crm/v3/objects/contacts/search", endpoint(double.search_contacts, search=True), methods=["POST"]),
        Route("/crm/v3/objects/contacts/batch/read", endpoint(double.batch_read), methods=["POST"]),
        Route("/crm/v3/objects/contacts/batch/upsert", endpoint(double.batch_upsert), methods=["POST"]),
        Route("/crm/v3/objects/contacts/{contact_id}", endpoint(double.get_contact), methods=["GET"]),
        Route("/crm/v3/objects/contacts/{contact_id}", endpoint(double.patch_contact), methods=["PATCH"]),
        Route("/crm/v3/objects/companies", endpoint(double.create_company), methods=["POST"]),
        Route("/crm/v3/objects/companies/search", endpoint(double.search_companies, search=True), methods=["POST"]),
        Route(
            "/crm/v4/objects/{from_type}/{from_id}/associations/default/{to_type}/{to_id}",
            endpoint(double.associate_default),
            methods=["PUT"],
        ),
        Route("/crm/v3/owners", endpoint(double.list_owners), methods=["GET"]),
        Route("/crm/v3/owners/{owner_id}", endpoint(double.get_owner), methods=["GET"]),
    ]
    app: ASGIApp = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    if plan is not None:
        app = with_faults(app, plan)
    return _logged(app, state, token=token)
