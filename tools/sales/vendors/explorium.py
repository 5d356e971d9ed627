"""Explorium (AgentSource API v1): lead discovery by ideal customer profile, and paid contact enrichment.

Two clients share this module and one way of calling the API (`VendorHttp`, header `api_key: <key>`):

- `ExploriumLeads` (a `LeadSource`): the profile becomes a closed set of Fetch Prospects filters
  (`explorium_filters`; a value the mapping cannot express is refused with `InvalidRequestError` before
  anything is sent), then `POST /v1/prospects` is paged (`page`, `page_size`, `size`, `total_pages`).
  Fetch returns no email address (only `professional_email_hashed`), so the rows still needed are bought
  from `POST /v1/prospects/contacts_information/bulk_enrich`; a prospect without a professional email
  there is skipped, as is a second record of an address already found (compared by the hash first, so
  the duplicate is not paid for). A profile without a company size asks
  `POST /v1/businesses/firmographics/bulk_enrich` for each company's employee band, once per company.
- `ExploriumEnrichment` (an `EnrichmentSource`): per batch of at most 50 addresses, `POST /v1/prospects/match`
  by email, then `POST /v1/prospects/profiles/bulk_enrich` (name, title, level, company, LinkedIn) and
  `.../contacts_information/bulk_enrich` (phone, email validity) for the matched prospect ids. An
  address Explorium does not know gets a sparse entry (email only, quality 0) and costs nothing.
  `tools.sales.enrichment_cache.CachingEnricher` in front of it is what keeps an address from being
  bought twice; this client keeps no cache of its own.

What the docs say, and what this client does about it (pages under https://developers.explorium.ai/):
- Paths, bodies and response shapes: the published OpenAPI document (explorium-ai/explorium-mintlify-docs,
  openapi.yaml, "Partner Service" 0.2.273) and reference/prospects/fetch_prospects, match_prospects,
  enrichments/bulk/prospects_contacts_information_bulk_enrich, professional_profile_contact_bulk_enrich,
  credits/get_active_credits_summary; pagination: reference/pagination.
- Rate limit (reference/rate-limit): 200 queries per minute per key over a 60-second sliding window, where a
  bulk or match request counts one query per row; `429` carries `Retry-After` (seconds), `X-RateLimit-*`
  headers and `{"error": "rate_limit_exceeded", ...}`. `VendorLimits.requests` is therefore read as
  *queries* per `per_seconds` here, and every request counts its rows against the key's rolling window
  (`VendorHttp`'s `cost`), shared by the leads and enrichment clients of one key.
- Errors (reference/error-handling): `{"details": <free text>, "correlation_id": ...}` for 400/401/403 and
  FastAPI's `{"detail": [{"loc", "msg", "type"}]}` for 422. Only machine codes reach a message
  (`explorium_error_code`: the 429 `error` field, a 422's `type` and field path); never `details`/`msg`.
  403 also means "out of credits"; it surfaces as `UnauthorizedError`, whose message says to check the
  settings (the account's credits are part of them).
- Billing (reference/credits/per-call-credit-usage, tracking_your_credits): credits are deducted per record
  returned by fetch and enrich calls. The docs do not say whether a request that fails after the vendor
  processed it (a gateway 502/504, a dropped connection) was charged, nor whether match is charged. These
  reads are retried (`retry="safe"`), so such a failure can cost a batch a second purchase at the vendor;
  a 429 or a 503 cannot (nothing was processed). The double counts every billed row, so tests see it.
- The cheap key check is `GET /v1/credits` (returns the account's allocated and remaining credits).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from signoff.tools.sales.errors import InvalidRequestError, ProviderError
from signoff.tools.sales.models import (
    CompanySize,
    EnrichmentFacts,
    IdealCustomerProfile,
    Lead,
    Seniority,
)
from signoff.tools.sales.offline.directory import seniority_of
from signoff.tools.sales.vendors.http import VendorHealth, VendorHttp, VendorLimits

__all__ = [
    "EXPLORIUM_LIMITS",
    "EXPLORIUM_SERVICE",
    "MAX_BATCH_SIZE",
    "ExploriumEnrichment",
    "ExploriumLeads",
    "explorium_error_code",
    "explorium_filters",
    "explorium_throttle_wait",
]

_log = logging.getLogger(__name__)

EXPLORIUM_SERVICE = "explorium"

EXPLORIUM_LIMITS = VendorLimits(
    service=EXPLORIUM_SERVICE,
    # reference/rate-limit: "200 queries per minute per API key", a 60-second sliding window.
    requests=200,
    per_seconds=60.0,
    # A 429 asks for up to the whole window (the docs' example says `Retry-After: 60`), and 5% random 429s
    # throttle a call two or three times in a row: 200 s honours three such waits (the guard's execution
    # lease, 5 minutes, still bounds the call). Time queued for the client's own window is not counted.
    max_retry_seconds=200.0,
)
"""Explorium's documented rate, read as queries (rows) per window; see the module docstring."""

MAX_BATCH_SIZE = 50
"""Rows per match or bulk-enrich request: the OpenAPI `maxItems` of `prospects_to_match` and `prospect_ids`."""

# Fetch allows 500 rows a page (OpenAPI `page_size` maximum); the reference table says 100. The lower figure
# is safe under both, and a lead search rarely needs more per page.
_MAX_PAGE_SIZE = 100
# OpenAPI `size` maximum: the most rows one paged search can return.
_MAX_FETCH_SIZE = 60_000
# Fetched rows are billed, and most rows (filtered on `has_email`) become a lead: stop after three rows per
# lead asked for, so a search whose rows keep failing (no professional email, duplicates) cannot run up
# the bill page after page.
_ROWS_PER_LEAD = 3

_HEADER = "api_key"

# The 422 field path is our own request's field names; anything else (a value) is left out of a message.
_SAFE_LOC_PART = re.compile(r"^[A-Za-z0-9_]{1,40}$")

_Model = TypeVar("_Model", bound=BaseModel)


# ---------------------------------------------------------------------------------------------------------
# The closed mapping from an ideal customer profile to Fetch Prospects filters.

# LinkedIn industry categories (Explorium's `linkedin_category` filter takes LinkedIn's industry names,
# lower-case in its examples: "software development", "investment banking"). Keys are the words a sales
# team uses; a profile's industry must be one of them.
_LINKEDIN_CATEGORIES: dict[str, str] = {
    "logistics": "transportation, logistics, supply chain and storage",
    "transportation": "transportation, logistics, supply chain and storage",
    "supply chain": "transportation, logistics, supply chain and storage",
    "freight": "transportation, logistics, supply chain and storage",
    "software": "software development",
    "software development": "software development",
    "saas": "software development",
    "it services": "it services and it consulting",
    "it consulting": "it services and it consulting",
    "financial services": "financial services",
    "fintech": "financial services",
    "banking": "banking",
    "insurance": "insurance",
    "healthcare": "hospitals and health care",
    "health care": "hospitals and health care",
    "manufacturing": "manufacturing",
    "retail": "retail",
    "e-commerce": "online and mail order retail",
    "ecommerce": "online and mail order retail",
    "consulting": "business consulting and services",
    "business consulting": "business consulting and services",
    "marketing": "advertising services",
    "advertising": "advertising services",
    "real estate": "real estate",
    "construction": "construction",
    "telecommunications": "telecommunications",
    "telecom": "telecommunications",
    "pharmaceuticals": "pharmaceutical manufacturing",
    "biotechnology": "biotechnology research",
    "staffing": "staffing and recruiting",
    "recruiting": "staffing and recruiting",
    "cybersecurity": "computer and network security",
    "legal": "legal services",
    "hospitality": "hospitality",
    "automotive": "motor vehicle manufacturing",
    "education": "education administration programs",
    "e-learning": "e-learning providers",
}

# Countries by name (and common short names) -> ISO 3166-1 alpha-2, lower-case as the OpenAPI pattern has them.
_COUNTRY_CODES: dict[str, str] = {
    "united states": "us", "usa": "us", "us": "us", "united states of america": "us", "america": "us",
    "canada": "ca", "mexico": "mx", "brazil": "br", "argentina": "ar", "chile": "cl", "colombia": "co",
    "united kingdom": "gb", "uk": "gb", "great britain": "gb", "gb": "gb", "ireland": "ie",
    "germany": "de", "france": "fr", "spain": "es", "portugal": "pt", "italy": "it", "netherlands": "nl",
    "the netherlands": "nl", "belgium": "be", "luxembourg": "lu", "switzerland": "ch", "austria": "at",
    "sweden": "se", "norway": "no", "denmark": "dk", "finland": "fi", "iceland": "is", "poland": "pl",
    "czechia": "cz", "czech republic": "cz", "hungary": "hu", "romania": "ro", "greece": "gr",
    "ukraine": "ua", "turkey": "tr", "israel": "il", "united arab emirates": "ae", "uae": "ae",
    "saudi arabia": "sa", "egypt": "eg", "south africa": "za", "nigeria": "ng", "kenya": "ke",
    "india": "in", "singapore": "sg", "japan": "jp", "south korea": "kr", "china": "cn",
    "hong kong": "hk", "australia": "au", "new zealand": "nz",
}  # fmt: skip

_KNOWN_COUNTRY_CODES = frozenset(_COUNTRY_CODES.values())

# Regions a sales team targets, as the countries Explorium's country filter takes (an OR of values).
# Cities that are a subdivision of their own in ISO 3166-2, the codes Explorium's `region_country_code` filter
# takes: "leads in Berlin" is exactly region DE-BE. Other cities are refused rather than widened to a country.
_CITY_REGIONS: dict[str, str] = {
    "berlin": "DE-BE",
    "hamburg": "DE-HH",
    "bremen": "DE-HB",
    "vienna": "AT-9",
    "wien": "AT-9",
    "madrid": "ES-MD",
    "paris": "FR-75",
    "london": "GB-LND",
    "washington dc": "US-DC",
    "washington, d.c.": "US-DC",
}
_REGION_CODES: dict[str, tuple[str, ...]] = {
    "dach": ("de", "at", "ch"),
    "benelux": ("be", "nl", "lu"),
    "nordics": ("se", "no", "dk", "fi", "is"),
    "north america": ("us", "ca"),
    "uk and ireland": ("gb", "ie"),
    "europe": (
        "at", "be", "ch", "cz", "de", "dk", "es", "fi", "fr", "gb", "gr", "hu", "ie", "is", "it", "lu", "nl",
        "no", "pl", "pt", "ro", "se",
    ),
}  # fmt: skip

# Our employee bands -> Explorium's `company_size` values; Explorium splits our top band in two.
_SIZE_BANDS: dict[CompanySize, tuple[str, ...]] = {
    "1-10": ("1-10",),
    "11-50": ("11-50",),
    "51-200": ("51-200",),
    "201-500": ("201-500",),
    "501-1000": ("501-1000",),
    "1001-5000": ("1001-5000",),
    "5001+": ("5001-10000", "10001+"),
}
_SIZE_OF_BAND: dict[str, CompanySize] = {band: size for size, bands in _SIZE_BANDS.items() for band in bands}

# Explorium's job levels (`job_level_main`) -> our seniority; levels not listed fall back to the title.
_SENIORITY_OF_LEVEL: dict[str, Seniority] = {
    "owner": "founder",
    "founder": "founder",
    "c-suite": "c_level",
    "cxo": "c_level",
    "president": "c_level",
    "vice president": "vp",
    "vp": "vp",
    "director": "director",
    "partner": "director",
    "board member": "director",
    "senior manager": "manager",
    "manager": "manager",
    "senior non-managerial": "individual_contributor",
    "senior": "individual_contributor",
    "non-managerial": "individual_contributor",
    "junior": "individual_contributor",
    "entry": "individual_contributor",
}


def _normalized(text: str) -> str:
    return " ".join(text.casefold().replace("&", " and ").split())


def explorium_filters(icp: IdealCustomerProfile) -> dict[str, Any]:
    """The Fetch Prospects `filters` for `icp`; `InvalidRequestError` naming the field it cannot express."""
    industry = _normalized(icp.industry)
    category = _LINKEDIN_CATEGORIES.get(industry)
    if category is None:
        raise InvalidRequestError(
            f"industry {icp.industry!r} has no Explorium industry category; use one of: "
            + ", ".join(sorted(_LINKEDIN_CATEGORIES)),
            provider=EXPLORIUM_SERVICE,
        )
    location = _normalized(icp.location)
    region: str | None = _CITY_REGIONS.get(location)
    countries: list[str] = []
    if region is not None:
        countries = []  # a city: the region filter below, no country filter
    elif location in _REGION_CODES:
        countries = list(_REGION_CODES[location])
    elif location in _COUNTRY_CODES:
        countries = [_COUNTRY_CODES[location]]
    elif location in _KNOWN_COUNTRY_CODES:  # 'DE', 'fr': the code itself
        countries = [location]
    else:
        raise InvalidRequestError(
            f"location {icp.location!r} is not a country, region or city Explorium's location filters can "
            f"take; name a country (e.g. 'Germany'), one of {', '.join(sorted(_REGION_CODES))}, or one of the"
            f" cities {', '.join(sorted(_CITY_REGIONS))}",
            provider=EXPLORIUM_SERVICE,
        )
    filters: dict[str, Any] = {
        # Fetch has no address, and an address is what a lead is for: only prospects Explorium has one for.
        "has_email": {"value": True},
        "linkedin_category": {"values": [category]},
    }
    if region is not None:
        # A city: where the person works (`region_country_code`, ISO 3166-2), the only city-level filter.
        filters["region_country_code"] = {"values": [region]}
    else:
        # The company's headquarters (`company_country_code`), not where the person lives (`country_code`):
        # a profile naming a country describes the target companies.
        filters["company_country_code"] = {"values": countries}
    if icp.company_size is not None:
        filters["company_size"] = {"values": list(_SIZE_BANDS[icp.company_size])}
    if icp.titles:
        # Explorium matches a title containing all of a value's words; related titles would widen the search
        # beyond what the profile names.
        filters["job_title"] = {"values": list(icp.titles), "include_related_job_titles": False}
    return filters


# ---------------------------------------------------------------------------------------------------------
# Error codes and waits, for VendorHttp.


def explorium_error_code(response: httpx.Response) -> str | None:
    """Explorium's machine-readable code in an error body: a 429's `error`, or a 422's first `type` and path."""
    body = response.json()
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, str):
        return error
    detail = body.get("detail")
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first: dict[str, Any] = detail[0]
        kind = first.get("type")
        if not isinstance(kind, str):
            return None
        loc = first.get("loc")
        parts = [str(part) for part in loc] if isinstance(loc, list) else []
        if parts and all(_SAFE_LOC_PART.match(part) for part in parts):
            return f"{kind} at {'.'.join(parts)}"
        return kind
    return None


def explorium_throttle_wait(response: httpx.Response) -> timedelta | None:
    """The wait until `X-RateLimit-Reset` (a Unix time), for a 429 that lacks `Retry-After`."""
    value = response.headers.get("x-ratelimit-reset")
    if value is None:
        return None
    try:
        reset_at = float(value)
    except ValueError:
        return None
    return timedelta(seconds=max(0.0, reset_at - time.time()))


# ---------------------------------------------------------------------------------------------------------
# Response shapes (only the fields used; unknown fields are ignored, missing ones are None).


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Prospect(_Body):
    prospect_id: str
    professional_email_hashed: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    job_title: str | None = None
    company_name: str | None = None
    company_website: str | None = None
    business_id: str | None = None
    skills: list[str] | None = None
    interests: list[str] | None = None


class _FetchPage(_Body):
    data: list[_Prospect] = []
    total_results: int = 0
    page: int = 1
    total_pages: int = 0


class _MatchInput(_Body):
    email: str | None = None


class _Match(_Body):
    input: _MatchInput | None = None
    prospect_id: str | None = None


class _MatchResponse(_Body):
    matched_prospects: list[_Match | None] = []


class _EmailEntry(_Body):
    address: str | None = None
    type: str | None = None


class _PhoneEntry(_Body):
    phone_number: str | None = None


class _Contacts(_Body):
    emails: list[_EmailEntry] | None = None
    professions_email: str | None = None
    professional_email_status: str | None = None
    phone_numbers: list[_PhoneEntry] | None = None
    mobile_phone: str | None = None


class _ContactsRow(_Body):
    prospect_id: str
    data: _Contacts | None = None


class _ContactsResponse(_Body):
    data: list[_ContactsRow] = []


class _Profile(_Body):
    full_name: str | None = None
    linkedin: str | None = None
    job_title: str | None = None
    job_level_main: str | None = None
    company_name: str | None = None
    company_website: str | None = None


class _ProfileRow(_Body):
    prospect_id: str
    data: _Profile | None = None


class _ProfilesResponse(_Body):
    data: list[_ProfileRow] = []


class _Firmographics(_Body):
    number_of_employees_range: str | None = None


class _FirmographicsRow(_Body):
    business_id: str
    data: _Firmographics | None = None


class _FirmographicsResponse(_Body):
    data: list[_FirmographicsRow] = []


class _Credits(_Body):
    allocated_credits: int
    remaining_credits: int


# ---------------------------------------------------------------------------------------------------------
# The API itself.


def _batches(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _ExploriumApi:
    """The endpoints both clients use, each request counted against the key's rate by its rows."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str,
        health: VendorHealth | None,
        limits: VendorLimits | None,
    ) -> None:
        if not api_key:
            raise ValueError("an Explorium API key is required")
        limits = limits or EXPLORIUM_LIMITS
        if limits.service != EXPLORIUM_SERVICE:
            raise ValueError(f"Explorium limits must be for service {EXPLORIUM_SERVICE!r}, not {limits.service!r}")
        self._headers = {_HEADER: api_key}
        # A bulk call costs one query per row, so a batch is at most half the window: two batches can be in
        # flight, and a batch never waits for a window emptier than the limit allows.
        self.batch_size = min(MAX_BATCH_SIZE, max(1, limits.requests // 2))
        self._http = VendorHttp(
            client=client,
            limits=limits,
            secrets=(api_key,),
            error_code=explorium_error_code,
            throttle_wait=explorium_throttle_wait,
            # None: VendorHttp's process-wide default, which `/readyz` and `signoff doctor` show.
            **({"health": health} if health is not None else {}),
        )

    async def _call(self, method: str, path: str, *, queries: int, json: Any = None) -> httpx.Response:
        # Every call here is a read: repeating it after a lost answer does nothing twice at the vendor but
        # may bill its rows twice (see the module docstring).
        return await self._http.request(method, path, json=json, headers=self._headers, retry="safe", cost=queries)

    def _parsed(self, model: type[_Model], response: httpx.Response) -> _Model:
        try:
            return model.model_validate_json(response.content)
        except ValidationError:
            # Never the body itself: it may echo our data.
            raise ProviderError(
                f"answered HTTP {response.status_code} with a body this client does not understand",
                provider=EXPLORIUM_SERVICE,
            ) from None

    async def credits(self) -> _Credits:
        response = await self._call("GET", "/v1/credits", queries=1)
        return self._parsed(_Credits, response)

    async def fetch_prospects(self, filters: dict[str, Any], *, page: int, page_size: int, size: int) -> _FetchPage:
        body = {"mode": "full", "size": size, "page_size": page_size, "page": page, "filters": filters}
        response = await self._call("POST", "/v1/prospects", queries=1, json=body)
        return self._parsed(_FetchPage, response)

    async def match_emails(self, emails: Sequence[str]) -> dict[str, str]:
        """Prospect id per address (lower-cased) Explorium knows; the others are absent."""
        body = {"prospects_to_match": [{"email": email} for email in emails]}
        response = await self._call("POST", "/v1/prospects/match", queries=len(emails), json=body)
        matched = self._parsed(_MatchResponse, response).matched_prospects
        if len(matched) != len(emails):
            raise ProviderError(
                f"matched {len(matched)} entries for {len(emails)} addresses", provider=EXPLORIUM_SERVICE
            )
        # The docs promise the input's order; the echoed input is preferred where present.
        found: dict[str, str] = {}
        for email, match in zip(emails, matched, strict=True):
            if match is None or not match.prospect_id:
                continue
            echoed = match.input.email if match.input is not None and match.input.email else email
            found[echoed.lower()] = match.prospect_id
        return found

    async def profiles(self, prospect_ids: Sequence[str]) -> dict[str, _Profile]:
        rows = await self._bulk("/v1/prospects/profiles/bulk_enrich", "prospect_ids", prospect_ids, _ProfilesResponse)
        return {row.prospect_id: row.data for row in rows.data if row.data is not None}

    async def contacts(self, prospect_ids: Sequence[str]) -> dict[str, _Contacts]:
        path = "/v1/prospects/contacts_information/bulk_enrich"
        rows = await self._bulk(path, "prospect_ids", prospect_ids, _ContactsResponse)
        return {row.prospect_id: row.data for row in rows.data if row.data is not None}

    async def firmographics(self, business_ids: Sequence[str]) -> dict[str, _Firmographics]:
        path = "/v1/businesses/firmographics/bulk_enrich"
        rows = await self._bulk(path, "business_ids", business_ids, _FirmographicsResponse)
        return {row.business_id: row.data for row in rows.data if row.data is not None}

    async def _bulk(self, path: str, ids_field: str, ids: Sequence[str], answer: type[_Model]) -> _Model:
        """One bulk enrichment: a query (and a paid row) per id."""
        response = await self._call("POST", path, queries=len(ids), json={ids_field: list(ids)})
        return self._parsed(answer, response)

    async def check(self) -> str:
        credits = await self.credits()
        return (
            f"{EXPLORIUM_SERVICE}: API key accepted; {credits.remaining_credits} of "
            f"{credits.allocated_credits} credits remaining"
        )


# ---------------------------------------------------------------------------------------------------------
# Field clean-up: vendor values that do not fit our models are dropped, never allowed to fail a whole batch.


def _text(value: str | None, *, max_length: int) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    return value if 0 < len(value) <= max_length else None


def _domain_of(website: str | None) -> str | None:
    if not website:
        return None
    address = website.strip().lower()
    host = urlsplit(address if "//" in address else f"//{address}").hostname
    if not host or "." not in host:
        return None
    host = host.removeprefix("www.")
    return host if 3 <= len(host) <= 253 else None


def _professional_email(contacts: _Contacts | None) -> str | None:
    if contacts is None:
        return None
    if contacts.professions_email:
        return contacts.professions_email.strip().lower()
    for entry in contacts.emails or ():
        if entry.address and entry.type in ("professional", "current_professional"):
            return entry.address.strip().lower()
    return None


def _phone(contacts: _Contacts | None) -> str | None:
    if contacts is None:
        return None
    if contacts.mobile_phone:
        return contacts.mobile_phone
    return next((entry.phone_number for entry in contacts.phone_numbers or () if entry.phone_number), None)


def _names(full_name: str | None) -> tuple[str | None, str | None]:
    parts = (full_name or "").split()
    if len(parts) < 2:
        return None, None
    return _text(parts[0], max_length=100), _text(" ".join(parts[1:]), max_length=100)


# How sure the facts are, 0-100 (our heuristic, not Explorium's): a matched address is a known person;
# a current title and employer, a verified professional address and a phone number each add to it.
_SCORE_MATCHED = 40
_SCORE_PROFILE = 30
_SCORE_VALID_EMAIL = 20
_SCORE_CATCH_ALL_EMAIL = 10
_SCORE_PHONE = 10


def _facts_of(email: str, profile: _Profile | None, contacts: _Contacts | None) -> EnrichmentFacts:
    first_name, last_name = _names(profile.full_name if profile else None)
    title = _text(profile.job_title if profile else None, max_length=100)
    company = _text(profile.company_name if profile else None, max_length=200)
    level = (profile.job_level_main or "").casefold() if profile else ""
    seniority = _SENIORITY_OF_LEVEL.get(level) or (seniority_of(title) if title else None)
    phone = _phone(contacts)
    score = _SCORE_MATCHED
    if title and company:
        score += _SCORE_PROFILE
    if _professional_email(contacts) == email:
        status = contacts.professional_email_status if contacts else None
        score += {"valid": _SCORE_VALID_EMAIL, "catch-all": _SCORE_CATCH_ALL_EMAIL}.get(status or "", 0)
    if phone:
        score += _SCORE_PHONE
    try:
        return EnrichmentFacts(
            email=email,
            first_name=first_name,
            last_name=last_name,
            phone=_text(phone, max_length=40),
            linkedin_url=_text(profile.linkedin if profile else None, max_length=2048),
            title=title,
            seniority=seniority,
            company=company,
            company_domain=_domain_of(profile.company_website if profile else None),
            # Prospect enrichments carry no headcount (firmographics has only a band) nor a company blurb.
            employee_count=None,
            company_description=None,
            quality_score=min(100, score),
        )
    except ValidationError as error:
        # A value our models refuse (the address itself is valid: it was checked before buying anything).
        _log.warning(
            "explorium facts did not validate; keeping the address only: %s",
            error.errors(include_url=False, include_input=False),
        )
        return EnrichmentFacts(email=email)


def _lead_of(
    prospect: _Prospect,
    email: str,
    *,
    icp: IdealCustomerProfile,
    company_size: CompanySize,
) -> Lead | None:
    first_name = _text(prospect.first_name, max_length=100)
    last_name = _text(prospect.last_name, max_length=100)
    if first_name is None or last_name is None:
        first_name, last_name = _names(prospect.full_name)
    interests = [*(prospect.skills or ())[:10], *(prospect.interests or ())[:10]]
    try:
        return Lead(
            email=email,
            first_name=first_name or "",
            last_name=last_name or "",
            title=_text(prospect.job_title, max_length=100) or "",
            company=_text(prospect.company_name, max_length=200) or "",
            company_domain=_domain_of(prospect.company_website) or email.rpartition("@")[2],
            # The filters guarantee both; Explorium's own values are in another vocabulary.
            industry=icp.industry,
            location=icp.location,
            company_size=company_size,
            # Explorium has no profile text; the person's listed skills and interests are the closest.
            bio=f"Skills and interests: {', '.join(interests)}."[:10_000] if interests else None,
        )
    except ValidationError:
        return None  # a row missing a name, title or company, or with an address our models refuse


class _ExploriumClient:
    """What both clients share: the API of one key, and the provider's name (the cache's namespace too)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str,
        health: VendorHealth | None = None,
        limits: VendorLimits | None = None,
    ) -> None:
        self._api = _ExploriumApi(client, api_key=api_key, health=health, limits=limits)

    @property
    def name(self) -> str:
        """The provider's name."""
        return EXPLORIUM_SERVICE

    async def check(self) -> str:
        """One cheap read (`GET /v1/credits`) proving the key works; `UnauthorizedError` if it is refused."""
        return await self._api.check()


class ExploriumLeads(_ExploriumClient):
    """A `LeadSource` over Explorium's Fetch Prospects, buying each lead's address (see the module docstring)."""

    async def discover_leads(self, icp: IdealCustomerProfile, *, limit: int) -> list[Lead]:
        """At most `limit` leads matching `icp`, each with a distinct (professional) email address."""
        if limit < 1:
            return []
        filters = explorium_filters(icp)  # refuses what it cannot express before anything is bought
        page_size = min(limit, _MAX_PAGE_SIZE)
        row_budget = min(limit * _ROWS_PER_LEAD, _MAX_FETCH_SIZE)
        leads: list[Lead] = []
        seen_emails: set[str] = set()
        seen_hashes: set[str] = set()
        seen_prospects: set[str] = set()
        sizes: dict[str, CompanySize | None] = {}
        page = 1
        while len(leads) < limit:
            fetched = await self._api.fetch_prospects(filters, page=page, page_size=page_size, size=row_budget)
            candidates: list[_Prospect] = []
            for prospect in fetched.data:
                if prospect.prospect_id in seen_prospects:
                    continue
                seen_prospects.add(prospect.prospect_id)
                # Two records of one address would be one lead: only the first is paid for.
                if prospect.professional_email_hashed:
                    if prospect.professional_email_hashed in seen_hashes:
                        continue
                    seen_hashes.add(prospect.professional_email_hashed)
                candidates.append(prospect)
            await self._add_leads(candidates, icp=icp, limit=limit, leads=leads, seen=seen_emails, sizes=sizes)
            if not fetched.data or page >= fetched.total_pages:
                break
            page += 1
        return leads

    async def _add_leads(
        self,
        candidates: list[_Prospect],
        *,
        icp: IdealCustomerProfile,
        limit: int,
        leads: list[Lead],
        seen: set[str],
        sizes: dict[str, CompanySize | None],
    ) -> None:
        index = 0
        while index < len(candidates) and len(leads) < limit:
            # Buy only as many addresses as leads are still missing, so a nearly full list costs little.
            chunk = candidates[index : index + min(limit - len(leads), self._api.batch_size)]
            index += len(chunk)
            if icp.company_size is None:
                await self._learn_sizes(chunk, sizes)
                chunk = [prospect for prospect in chunk if sizes.get(prospect.business_id or "")]
            if not chunk:
                continue
            contacts = await self._api.contacts([prospect.prospect_id for prospect in chunk])
            for prospect in chunk:
                email = _professional_email(contacts.get(prospect.prospect_id))
                if email is None or email in seen or len(leads) >= limit:
                    continue
                company_size = icp.company_size or sizes.get(prospect.business_id or "")
                if company_size is None:
                    continue
                lead = _lead_of(prospect, email, icp=icp, company_size=company_size)
                if lead is not None:
                    seen.add(email)
                    leads.append(lead)

    async def _learn_sizes(self, chunk: Sequence[_Prospect], sizes: dict[str, CompanySize | None]) -> None:
        unknown = list(dict.fromkeys(p.business_id for p in chunk if p.business_id and p.business_id not in sizes))
        for batch in _batches(unknown, self._api.batch_size):
            found = await self._api.firmographics(batch)
            for business_id in batch:
                band = found[business_id].number_of_employees_range if business_id in found else None
                sizes[business_id] = _SIZE_OF_BAND.get(band or "")


class ExploriumEnrichment(_ExploriumClient):
    """An `EnrichmentSource`: match by email, then bulk profile and contact enrichment (paid per row)."""

    async def lookup(self, emails: Sequence[str]) -> list[EnrichmentFacts]:
        """Facts for each address, in the order given; an address Explorium does not know gets a sparse entry."""
        keys = list(dict.fromkeys(email.strip().lower() for email in emails))
        facts: dict[str, EnrichmentFacts] = {}
        for key in keys:
            try:
                facts[key] = EnrichmentFacts(email=key)  # the sparse entry, until something better is bought
            except ValidationError:
                raise InvalidRequestError(f"{key!r} is not an email address", provider=EXPLORIUM_SERVICE) from None
        for batch in _batches(keys, self._api.batch_size):
            matched = await self._api.match_emails(batch)
            prospect_ids = list(dict.fromkeys(matched[key] for key in batch if key in matched))
            if not prospect_ids:
                continue
            profiles = await self._api.profiles(prospect_ids)
            contacts = await self._api.contacts(prospect_ids)
            for key in batch:
                prospect_id = matched.get(key)
                if prospect_id is not None:
                    facts[key] = _facts_of(key, profiles.get(prospect_id), contacts.get(prospect_id))
        return [facts[email.strip().lower()] for email in emails]
