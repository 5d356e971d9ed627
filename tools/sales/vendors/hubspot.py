"""HubSpot CRM as the sales pack's `Crm` (and `CrmDomains`): contacts keyed by email, over the public REST API.

Authentication is a private-app token sent as `Authorization: Bearer <token>` on each request (the injected
`httpx.AsyncClient` stays generic). Every request goes through `VendorHttp` (rate limit, breaker, retries,
errors; its rolling window matches HubSpot's rolling 10-second one), and search requests also through a
second window of their own: HubSpot's search endpoints have a lower limit (5 requests a second).

How each protocol method maps onto HubSpot, and why:

- `upsert_contacts`: one `POST /crm/v3/objects/contacts/batch/read` (by email) reads what is stored, then one
  `POST /crm/v3/objects/contacts/batch/upsert` with `idProperty: "email"` writes only the contacts that differ.
  Upserts by email are idempotent, so they are retried like reads (`retry="safe"`): a timeout after HubSpot
  applied the batch repeats it harmlessly. Created vs updated comes from the read before the write (HubSpot's
  per-result `new` says the same on a first attempt but `false` on a retry of an applied batch); unchanged
  contacts are never sent, so their last-modified dates stay put. Fields the caller left out are not sent and
  keep their stored values. Each input carries an `objectWriteTraceId`, so HubSpot answers a partly invalid
  batch with 207 and per-input errors, reported per contact in `CrmSyncResult.failed`.
- Companies: a synced contact with a company name and no primary company yet (`associatedcompanyid`) is
  associated with the company at its email's domain, found with `POST /crm/v3/objects/companies/search`
  (`domain` EQ) or created with `POST /crm/v3/objects/companies`, through the v4 default association
  `PUT /crm/v4/objects/contact/{contactId}/associations/default/company/{companyId}` (idempotent). A second
  sync finds `associatedcompanyid` set and makes no association request. Personal mailbox domains (gmail.com,
  ...) name no company and are skipped.
- `get_contact`: `GET /crm/v3/objects/contacts/{email}?idProperty=email`, not search: it reads the record
  store, so a contact synced a moment ago is found (search indexes "after a few moments"), it costs one request
  of the general budget instead of the search budget of five a second, and a 404 plainly means "no such contact".
- `known_emails` / `known_domains`: search with `IN` (`email`, `hs_email_domain`), values lower-case as the
  docs require, in chunks that keep each body under search's 3,000-character limit, paging with `after`.
- `set_owner`: `GET /crm/v3/owners?email=` finds the owner's id, then `PATCH` sets `hubspot_owner_id`.

Where HubSpot and the protocol differ, this client does the closest honest thing: a HubSpot contact need not
have a first or last name while a `CrmContact` must, so a missing name reads as `"(not set)"`; notes are
engagements in HubSpot, not a contact property, so `CrmContact.notes` is None.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from signoff.tools.sales.errors import (
    NotFoundError,
    OutcomeUnknownError,
    ProviderError,
    ProviderUnavailableError,
)
from signoff.tools.sales.models import Contact, CrmContact, CrmSyncFailure, CrmSyncResult
from signoff.tools.sales.vendors.http import (
    DEFAULT_HEALTH,
    RetryMode,
    RollingWindow,
    VendorHealth,
    VendorHttp,
    VendorLimits,
)

__all__ = [
    "HUBSPOT_LIMITS",
    "HUBSPOT_SEARCH_PER_SECOND",
    "HubSpotCrm",
    "hubspot_error_code",
    "hubspot_throttle_wait",
]

SERVICE = "hubspot"

HUBSPOT_LIMITS = VendorLimits(service=SERVICE, requests=100, per_seconds=10)
"""HubSpot's usage guidelines: a private app may send 100 requests per rolling 10 seconds on Free and Starter
accounts, 190 on Professional and Enterprise (since the 2024 increase; 150 before it), 250 with the API limit
increase pack. 100 holds on every plan; an account on a higher tier can pass its own `VendorLimits`."""

HUBSPOT_SEARCH_PER_SECOND = 5
"""The CRM search guide: "The search endpoints are rate limited to five requests per second per account"."""

# Batch endpoints take at most 100 inputs per request (HubSpot's documented batch size).
_BATCH_SIZE = 100
# Search's documented maximum page size.
_SEARCH_PAGE_SIZE = 200
# A search body over 3,000 characters is refused with 400; stay clear of it with room for `after` and `limit`.
_SEARCH_BODY_BUDGET = 2_800
# Far more values per IN than any caller sends; keeps one chunk's matches within a page or two.
_IN_VALUES_MAX = 100
# The daily limit resets at midnight in the account's time zone, which a 429 does not say: an hour is "not now",
# long enough that `VendorHttp` gives up at once and the caller is told to come back later.
_DAILY_LIMIT_WAIT = timedelta(hours=1)
# Search's own limit is per second; its 429 carries no rate-limit headers.
_SEARCH_LIMIT_WAIT = timedelta(seconds=1)
_TEN_SECONDLY_WAIT = timedelta(seconds=10)

# Contact fields -> HubSpot's default contact properties. `Contact` has no phone; HubSpot's `phone` is unused.
_FIELD_PROPERTIES: tuple[tuple[str, str], ...] = (
    ("first_name", "firstname"),
    ("last_name", "lastname"),
    ("company", "company"),
    ("title", "jobtitle"),
)
_READ_PROPERTIES = ("email", "firstname", "lastname", "company", "jobtitle", "hubspot_owner_id", "associatedcompanyid")
# A `CrmContact` needs a first and last name; HubSpot records (a form fill, an import) may have neither.
_MISSING_NAME = "(not set)"
_NAME_MAX, _COMPANY_MAX, _TITLE_MAX = 100, 200, 100

# Mailbox providers: an address there says nothing about the person's employer, so no company is derived from it.
_PERSONAL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
    }
)
_SAFE_DETAIL = re.compile(r"^[A-Z][A-Z0-9_]{0,59}$")


# -- HubSpot's JSON, read at the edge ------------------------------------------------------------------------


class _HubSpotJson(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)


class _ObjectJson(_HubSpotJson):
    id: str
    properties: dict[str, str | None] = Field(default_factory=dict[str, str | None])
    created_at: datetime
    updated_at: datetime
    new: bool | None = None
    object_write_trace_id: str | None = None


class _ErrorDetailJson(_HubSpotJson):
    code: str | None = None


class _BatchErrorJson(_HubSpotJson):
    category: str | None = None
    context: dict[str, Any] = Field(default_factory=dict[str, Any])
    errors: list[_ErrorDetailJson] = Field(default_factory=list[_ErrorDetailJson])


class _BatchJson(_HubSpotJson):
    results: list[_ObjectJson] = Field(default_factory=list[_ObjectJson])
    errors: list[_BatchErrorJson] = Field(default_factory=list[_BatchErrorJson])


class _NextPageJson(_HubSpotJson):
    after: str


class _PagingJson(_HubSpotJson):
    next_page: _NextPageJson | None = Field(default=None, alias="next")


class _SearchJson(_HubSpotJson):
    total: int = 0
    results: list[_ObjectJson] = Field(default_factory=list[_ObjectJson])
    paging: _PagingJson | None = None


class _OwnerJson(_HubSpotJson):
    id: str
    email: str | None = None


class _OwnersJson(_HubSpotJson):
    results: list[_OwnerJson] = Field(default_factory=list[_OwnerJson])


_Json = TypeVar("_Json", bound=_HubSpotJson)


def _parsed(model: type[_Json], response: httpx.Response) -> _Json:
    try:
        return model.model_validate_json(response.content)
    except ValidationError:
        raise ProviderUnavailableError(
            f"answered HTTP {response.status_code} with a body this client cannot read", provider=SERVICE
        ) from None


def _body_field(response: httpx.Response, name: str) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get(name) if isinstance(body, dict) else None  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    return value if isinstance(value, str) else None


def hubspot_error_code(response: httpx.Response) -> str | None:
    """HubSpot's machine-readable error code: the body's `category` (VALIDATION_ERROR, OBJECT_NOT_FOUND, ...).

    A 429 body has no category but names the exhausted policy (`policyName`: TEN_SECONDLY_ROLLING, DAILY, ...)
    or at least its `errorType` (RATE_LIMIT). Never `message`: HubSpot echoes the values it refused there.
    """
    return (
        _body_field(response, "category") or _body_field(response, "policyName") or _body_field(response, "errorType")
    )


def _int_header(response: httpx.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


def hubspot_throttle_wait(response: httpx.Response) -> timedelta | None:
    """How long a 429 without `Retry-After` (HubSpot documents none for its API) asks us to wait.

    The rolling window's length comes from `X-HubSpot-RateLimit-Interval-Milliseconds`; when
    `X-HubSpot-RateLimit-Remaining` is 0, the whole window is the only wait sure to free a slot (HubSpot does not
    say when the oldest request in it leaves). Search's per-second limit answers without those headers.
    """
    policy = _body_field(response, "policyName")
    if policy == "DAILY":
        return _DAILY_LIMIT_WAIT
    interval = _int_header(response, "x-hubspot-ratelimit-interval-milliseconds")
    remaining = _int_header(response, "x-hubspot-ratelimit-remaining")
    if interval is not None and interval > 0 and (remaining is None or remaining <= 0):
        return timedelta(milliseconds=interval)
    if policy == "TEN_SECONDLY_ROLLING":
        return _TEN_SECONDLY_WAIT
    if policy == "SECONDLY" or _path_of(response).endswith("/search"):
        return _SEARCH_LIMIT_WAIT
    return None


def _path_of(response: httpx.Response) -> str:
    try:
        return response.request.url.path
    except RuntimeError:  # a response built without its request
        return ""


# -- the client ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Write:
    email: str
    properties: dict[str, str]
    existed: bool


class HubSpotCrm:
    """The `Crm` of the sales pack over HubSpot's CRM API (see the module docstring for the mapping)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        token: str,
        health: VendorHealth | None = None,
        limits: VendorLimits | None = None,
        search_per_second: int = HUBSPOT_SEARCH_PER_SECOND,
    ) -> None:
        if not token:
            raise ValueError("HubSpot needs a private-app access token")
        limits = limits or HUBSPOT_LIMITS
        self._token = token
        self._http = VendorHttp(
            client=client,
            limits=limits,
            secrets=(token,),
            error_code=hubspot_error_code,
            throttle_wait=hubspot_throttle_wait,
            health=health if health is not None else DEFAULT_HEALTH,
        )
        # Search has a second, lower limit of its own (the general one `VendorHttp` keeps covers it too).
        self._search_window = RollingWindow(requests=search_per_second, per_seconds=1.0)
        # Owners and companies change rarely; remembering them for the client's life saves a request per contact.
        self._owner_emails: dict[str, str | None] = {}
        self._company_ids: dict[str, str] = {}

    @property
    def name(self) -> str:
        """Provider name, for errors and logs."""
        return SERVICE

    async def check(self) -> str:
        """One cheap read that proves the token works; `UnauthorizedError` when HubSpot refuses it."""
        await self._call("GET", "/crm/v3/objects/contacts", params={"limit": 1, "archived": "false"})
        return f"{SERVICE}: token accepted"

    async def get_contact(self, email: str) -> CrmContact | None:
        """The contact with this address (any letter case), or None."""
        record = await self._contact_record(email.lower())
        if record is None:
            return None
        return _contact_of(record, owner=await self._owner_email(record.properties.get("hubspot_owner_id")))

    async def upsert_contacts(self, contacts: Sequence[Contact]) -> CrmSyncResult:
        """Create new contacts, update changed ones, leave identical ones alone; refusals are listed per address.

        A field given as None keeps the stored value. When one address appears twice, the later entry wins.
        """
        latest = {contact.email.lower(): contact for contact in contacts}
        created: list[str] = []
        updated: list[str] = []
        unchanged: list[str] = []
        failed: list[CrmSyncFailure] = []
        for chunk in _chunks(list(latest.items()), _BATCH_SIZE):
            stored = await self._read_by_email([email for email, _ in chunk])
            writes: list[_Write] = []
            for email, contact in chunk:
                wanted = _properties_of(email, contact)
                current = stored.get(email)
                if current is not None and all(current.properties.get(k) == v for k, v in wanted.items()):
                    unchanged.append(email)
                else:
                    writes.append(_Write(email=email, properties=wanted, existed=current is not None))
            written, refused = await self._upsert(writes)
            for write in writes:
                if write.email in refused:
                    failed.append(CrmSyncFailure(email=write.email, error_code=refused[write.email]))
                    continue
                result = written[write.email]
                # Our read says whether this sync created it; HubSpot's `new` can only add a contact created
                # in between (a retry of an applied batch answers `new: false` for the contacts it created).
                (created if not write.existed or result.new else updated).append(write.email)
            await self._associate_companies(_to_associate(chunk, stored=stored, written=written, refused=refused))
        return CrmSyncResult(
            created=len(created),
            updated=len(updated),
            unchanged=len(unchanged),
            created_emails=created,
            updated_emails=updated,
            unchanged_emails=unchanged,
            failed=failed,
        )

    async def known_emails(self, emails: Iterable[str]) -> set[str]:
        """Which of these addresses are HubSpot contacts, lower-cased."""
        wanted = sorted({email.lower() for email in emails if email})
        known: set[str] = set()
        for values in _search_chunks(wanted, property_name="email"):
            group = {"filters": [{"propertyName": "email", "operator": "IN", "values": values}]}
            async for record in self._search("contacts", [group], properties=["email"]):
                if email := record.properties.get("email"):
                    known.add(email.lower())
        return known & set(wanted)

    async def known_domains(self, domains: Iterable[str]) -> set[str]:
        """Which of these domains (lower-cased) at least one contact's address is at (`CrmDomains`).

        One page per query is enough: a page answers for the domains it shows, and the next query asks only about
        the others, so a domain with thousands of contacts never has to be paged through (nor hits the 10,000 cap).
        """
        wanted = sorted({domain.lower() for domain in domains if domain})
        known: set[str] = set()
        for chunk in _search_chunks(wanted, property_name="hs_email_domain"):
            remaining = list(chunk)
            while remaining:
                group = {"filters": [{"propertyName": "hs_email_domain", "operator": "IN", "values": remaining}]}
                page = await self._search_page("contacts", [group], properties=["hs_email_domain"], after=None)
                shown = {(r.properties.get("hs_email_domain") or "").lower() for r in page.results}
                seen = shown & set(remaining)
                known |= seen
                if not seen or page.paging is None or page.paging.next_page is None:
                    break
                remaining = [domain for domain in remaining if domain not in seen]
        return known

    async def set_owner(self, email: str, owner: str) -> CrmContact:
        """Make the HubSpot user with address `owner` the contact's owner; `NotFoundError` when either is missing."""
        email, owner = email.lower(), owner.lower()
        record = await self._contact_record(email)
        if record is None:
            raise NotFoundError(f"there is no contact with the address {email!r}", provider=SERVICE)
        owner_id = await self._owner_id(owner)
        if record.properties.get("hubspot_owner_id") != owner_id:
            response = await self._call(
                "PATCH",
                f"/crm/v3/objects/contacts/{quote(record.id, safe='')}",
                json={"properties": {"hubspot_owner_id": owner_id}},
                # Setting a property to a value is the same however often it arrives.
                retry="safe",
            )
            patched = _parsed(_ObjectJson, response)
            record = record.model_copy(
                update={
                    "updated_at": patched.updated_at,
                    "properties": {**record.properties, "hubspot_owner_id": owner_id},
                }
            )
        return _contact_of(record, owner=owner)

    # -- requests ------------------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        retry: RetryMode = "safe",
        search: bool = False,
    ) -> httpx.Response:
        if search:
            async with self._search_window.slot():
                return await self._send(method, url, json=json, params=params, retry=retry)
        return await self._send(method, url, json=json, params=params, retry=retry)

    async def _send(
        self, method: str, url: str, *, json: Any, params: Mapping[str, Any] | None, retry: RetryMode
    ) -> httpx.Response:
        return await self._http.request(
            method, url, json=json, params=params, headers={"Authorization": f"Bearer {self._token}"}, retry=retry
        )

    async def _contact_record(self, email: str) -> _ObjectJson | None:
        try:
            response = await self._call(
                "GET",
                f"/crm/v3/objects/contacts/{quote(email, safe='@')}",
                params={"idProperty": "email", "properties": ",".join(_READ_PROPERTIES)},
            )
        except NotFoundError:
            return None
        return _parsed(_ObjectJson, response)

    async def _read_by_email(self, emails: Sequence[str]) -> dict[str, _ObjectJson]:
        """The stored contacts among `emails` (at most one batch), by lower-cased address."""
        response = await self._call(
            "POST",
            "/crm/v3/objects/contacts/batch/read",
            json={
                "idProperty": "email",
                "inputs": [{"id": email} for email in emails],
                "properties": list(_READ_PROPERTIES),
                "propertiesWithHistory": [],
            },
        )
        # A 207 lists the addresses HubSpot has no contact for as OBJECT_NOT_FOUND: exactly "not stored yet".
        batch = _parsed(_BatchJson, response)
        return {email.lower(): record for record in batch.results if (email := record.properties.get("email"))}

    async def _upsert(self, writes: Sequence[_Write]) -> tuple[dict[str, _ObjectJson], dict[str, str]]:
        """Upsert by email: the results by address, and the refused addresses with HubSpot's error code."""
        if not writes:
            return {}, {}
        trace_ids = {str(index): write.email for index, write in enumerate(writes)}
        response = await self._call(
            "POST",
            "/crm/v3/objects/contacts/batch/upsert",
            json={
                "inputs": [
                    {"idProperty": "email", "id": write.email, "properties": write.properties, "objectWriteTraceId": t}
                    for t, write in zip(trace_ids, writes, strict=True)
                ]
            },
            # An upsert by a unique property converges on the same record however often it is applied.
            retry="safe",
        )
        batch = _parsed(_BatchJson, response)
        written: dict[str, _ObjectJson] = {}
        for record in batch.results:
            email = trace_ids.get(record.object_write_trace_id or "") or (record.properties.get("email") or "").lower()
            written[email] = record
        refused: dict[str, str] = {}
        for error in batch.errors:
            for trace_id in _strings(error.context.get("objectWriteTraceId")):
                if email := trace_ids.get(trace_id):
                    refused[email] = _failure_code(error)
        for write in writes:
            if write.email not in written and write.email not in refused:
                # Neither a result nor an error: say so rather than guess what happened to it.
                refused[write.email] = "NO_RESULT"
        return written, refused

    async def _search_page(
        self, object_type: str, groups: list[dict[str, Any]], *, properties: Sequence[str], after: str | None
    ) -> _SearchJson:
        body: dict[str, Any] = {"filterGroups": groups, "properties": list(properties), "limit": _SEARCH_PAGE_SIZE}
        if after is not None:
            body["after"] = after
        response = await self._call("POST", f"/crm/v3/objects/{object_type}/search", json=body, search=True)
        return _parsed(_SearchJson, response)

    async def _search(
        self, object_type: str, groups: list[dict[str, Any]], *, properties: Sequence[str]
    ) -> AsyncIterator[_ObjectJson]:
        after: str | None = None
        while True:
            page = await self._search_page(object_type, groups, properties=properties, after=after)
            for record in page.results:
                yield record
            if page.paging is None or page.paging.next_page is None:
                return
            after = page.paging.next_page.after

    async def _owner_id(self, owner: str) -> str:
        for owner_id, email in self._owner_emails.items():
            if email == owner:
                return owner_id
        response = await self._call("GET", "/crm/v3/owners", params={"email": owner, "limit": 1})
        owners = _parsed(_OwnersJson, response).results
        if not owners:
            raise NotFoundError(
                f"there is no HubSpot user with the address {owner!r} to own contacts", provider=SERVICE
            )
        self._owner_emails[owners[0].id] = owner
        return owners[0].id

    async def _owner_email(self, owner_id: str | None) -> str | None:
        if not owner_id:
            return None
        if owner_id not in self._owner_emails:
            try:
                response = await self._call("GET", f"/crm/v3/owners/{quote(owner_id, safe='')}")
            except NotFoundError:
                # A deactivated user still owns records; it has no address to show.
                return None
            email = _parsed(_OwnerJson, response).email
            self._owner_emails[owner_id] = email.lower() if email else None
        return self._owner_emails[owner_id]

    # -- companies -----------------------------------------------------------------------------------------

    async def _associate_companies(self, contacts: Sequence[tuple[str, str, str]]) -> None:
        """Associate each (contact id, email, company name) with the company at its email's domain."""
        by_domain: dict[str, list[str]] = {}
        names: dict[str, str] = {}
        for contact_id, email, company in contacts:
            domain = email.rsplit("@", 1)[1]
            if domain in _PERSONAL_DOMAINS:
                continue
            by_domain.setdefault(domain, []).append(contact_id)
            names.setdefault(domain, company)
        for domain, contact_ids in by_domain.items():
            company_id = await self._company_at(domain, name=names[domain])
            if company_id is None:
                continue
            for contact_id in contact_ids:
                await self._call(
                    "PUT",
                    f"/crm/v4/objects/contact/{quote(contact_id, safe='')}/associations/default/company/"
                    f"{quote(company_id, safe='')}",
                    # Creating an association that exists leaves it as it is.
                    retry="safe",
                )

    async def _company_at(self, domain: str, *, name: str) -> str | None:
        """The id of the company at `domain`, created when HubSpot has none; None when that is not yet known."""
        if domain in self._company_ids:
            return self._company_ids[domain]
        company_id = await self._find_company(domain)
        if company_id is None:
            try:
                response = await self._call(
                    "POST",
                    "/crm/v3/objects/companies",
                    json={"properties": {"name": name, "domain": domain}},
                    # A create may act each time it arrives: never repeated blindly.
                    retry="never",
                )
            except OutcomeUnknownError:
                # It may exist now. Search may not show it yet; rather than risk a duplicate company, leave the
                # association to the next sync, which finds the contact still without one and the company indexed.
                company_id = await self._find_company(domain)
                if company_id is None:
                    return None
            else:
                company_id = _parsed(_ObjectJson, response).id
        self._company_ids[domain] = company_id
        return company_id

    async def _find_company(self, domain: str) -> str | None:
        group = {"filters": [{"propertyName": "domain", "operator": "EQ", "value": domain}]}
        page = await self._search_page("companies", [group], properties=["domain", "name"], after=None)
        return page.results[0].id if page.results else None


# -- mapping -------------------------------------------------------------------------------------------------


def _properties_of(email: str, contact: Contact) -> dict[str, str]:
    """The HubSpot properties a contact sets: only the fields it gives, so the others keep their values."""
    properties = {"email": email}
    for field_name, property_name in _FIELD_PROPERTIES:
        value = getattr(contact, field_name)
        if value is not None:
            properties[property_name] = value
    return properties


def _text(value: str | None, limit: int) -> str | None:
    value = (value or "").strip()
    return value[:limit] or None


def _contact_of(record: _ObjectJson, *, owner: str | None) -> CrmContact:
    properties = record.properties
    try:
        return CrmContact(
            crm_contact_id=record.id,
            email=(properties.get("email") or "").lower(),
            first_name=_text(properties.get("firstname"), _NAME_MAX) or _MISSING_NAME,
            last_name=_text(properties.get("lastname"), _NAME_MAX) or _MISSING_NAME,
            company=_text(properties.get("company"), _COMPANY_MAX),
            title=_text(properties.get("jobtitle"), _TITLE_MAX),
            notes=None,
            owner=owner,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )
    except ValidationError:
        raise ProviderError(
            f"contact {record.id} has values this client cannot represent (e.g. an address it cannot read)",
            provider=SERVICE,
        ) from None


def _to_associate(
    chunk: Sequence[tuple[str, Contact]],
    *,
    stored: Mapping[str, _ObjectJson],
    written: Mapping[str, _ObjectJson],
    refused: Mapping[str, str],
) -> list[tuple[str, str, str]]:
    """(contact id, email, company name) of the synced contacts that name a company and have no primary one yet."""
    pending: list[tuple[str, str, str]] = []
    for email, contact in chunk:
        record = written.get(email) or stored.get(email)
        if contact.company is None or email in refused or record is None:
            continue
        before = stored.get(email)
        if before is not None and before.properties.get("associatedcompanyid"):
            continue
        pending.append((record.id, email, contact.company))
    return pending


def _failure_code(error: _BatchErrorJson) -> str:
    """`CATEGORY (DETAIL, ...)` from an error's machine-readable fields only."""
    category = error.category if error.category and _SAFE_DETAIL.match(error.category) else "ERROR"
    details = sorted({d.code for d in error.errors if d.code and _SAFE_DETAIL.match(d.code)})
    return f"{category} ({', '.join(details)})" if details else category


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]  # pyright: ignore[reportUnknownVariableType]
    return []


_T = TypeVar("_T")


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _search_chunks(values: Sequence[str], *, property_name: str) -> Iterator[list[str]]:
    """`values` split so that each IN search body stays under search's documented 3,000-character limit."""
    chunk: list[str] = []
    for value in values:
        candidate = [*chunk, value]
        body = {
            "filterGroups": [{"filters": [{"propertyName": property_name, "operator": "IN", "values": candidate}]}],
            "properties": [property_name],
            "limit": _SEARCH_PAGE_SIZE,
            "after": "10000",
        }
        if chunk and (len(candidate) > _IN_VALUES_MAX or len(json.dumps(body)) > _SEARCH_BODY_BUDGET):
            yield chunk
            chunk = [value]
        else:
            chunk = candidate
    if chunk:
        yield chunk
