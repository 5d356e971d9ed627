"""A local double of Explorium's AgentSource API (v1): prospects, match, bulk enrichments, credits.

Built from Explorium's public documentation (https://developers.explorium.ai/, and the OpenAPI document it is
generated from, explorium-ai/explorium-mintlify-docs `openapi.yaml`, "Partner Service" 0.2.273):

- reference/prospects/fetch_prospects, reference/pagination: `POST /v1/prospects` with `mode`, `size`
  (1..60000), `page_size` (1..500), `page` (from 1) and `filters`; rows carry `prospect_id`,
  `professional_email_hashed` and no address; the answer has `data`, `total_results`, `page`, `total_pages`.
  Pages are cut at `size` ("the last page may contain fewer records or be empty"), and `total_results`
  counts the rows the search can return, at most `size` (the docs' example: size 500 -> total 500).
  Filter logic as documented: `values` are OR-ed, filters are AND-ed, `job_title` matches a title
  containing all of a value's words, `negate` inverts a filter.
- reference/prospects/match_prospects: `POST /v1/prospects/match`, 1..50 `prospects_to_match`, answered in
  the input's order with `prospect_id` (absent when nothing matched); matched here by email or LinkedIn URL.
- reference/prospects/enrichments/bulk/{prospects_contacts_information,professional_profile_contact}_bulk_enrich:
  `POST /v1/prospects/{contacts_information,profiles}/bulk_enrich`, 1..50 `prospect_ids` (40 hex digits).
- `POST /v1/businesses/firmographics/bulk_enrich`: 1..50 `business_ids` (32 hex digits), with
  `number_of_employees_range`.
- reference/credits/get_active_credits_summary: `GET /v1/credits` -> `allocated_credits`, `remaining_credits`.
- Auth (OpenAPI `APIKeyHeader`): header `api_key`. A missing or wrong key gets 401 with the documented error
  shape `{"details": ..., "correlation_id": ...}` (reference/error-handling; the docs do not quote the
  message for a bad key, so the double says "Invalid or missing API key"). Out of credits: 403 with the
  documented message; nothing is billed.
- Validation (OpenAPI `additionalProperties: false`, FastAPI's `HTTPValidationError`): an unknown field or
  filter, or an out-of-range value, is a 422 `{"detail": [{"loc", "msg", "type", ...}]}`. The double
  models only the filters below; the real API's other documented filters are refused here like unknown
  ones (`business_intent_topics`, `google_category`, ... are not modelled).
- Rate limit (reference/rate-limit): `rate_limit_queries` (200) queries per `rate_window_seconds` (60) per
  key, a sliding window; a match or bulk request costs one query per row. Every authenticated answer has
  `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix time); a 429 adds
  `Retry-After` (whole seconds) and `{"error": "rate_limit_exceeded", "message": ..., "retry_after": N}`.
- Billing (reference/credits/per-call-credit-usage: credits for "records returned and billed"): one credit per
  fetched row and per enrichment row returned with data; match is not billed (the docs do not say).
  `charges` counts every billed row by (kind, id), including rows whose answer a fault then lost
  (`Fault(..., after_processing=True)`): exactly what a client retrying a lost answer pays twice for.

The directory is deterministic (same people, companies and addresses every run) and drawn from
`tools.sales.offline.directory`, so it reads like the offline demo; every 40th record is a second record of
the person before it (same address, an older title), as real people databases have them.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import uuid
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signoff.tools.sales.offline.directory import (
    BIO_INTERESTS,
    COMPANY_FOCUS,
    COMPANY_STEMS,
    COMPANY_SUFFIXES,
    DEFAULT_TITLES,
    FIRST_NAMES,
    LAST_NAMES,
    RESERVED_TLD,
    Seed,
    slugify,
)
from signoff.tools.sales.testing.faults import FaultPlan, with_faults

__all__ = [
    "ChargeKind",
    "DirectoryProspect",
    "ExploriumState",
    "SeenCall",
    "SeenRequest",
    "build_directory",
    "create_explorium_app",
]

ChargeKind = Literal["fetch", "profiles", "contacts_information", "firmographics"]

# OpenAPI enums (JobSeniorityLevel, NumberOfEmployeesRange, JobDepartment).
JobLevel = Literal[
    "owner", "c-suite", "vice president", "director", "senior non-managerial", "manager", "partner",
    "non-managerial", "junior", "president", "senior manager", "advisor", "freelancer", "board member", "founder",
]  # fmt: skip
EmployeesRange = Literal["1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001-10000", "10001+"]
JobDepartment = Literal[
    "administration", "real estate", "healthcare", "partnerships", "c-suite", "design", "human resources",
    "engineering", "education", "strategy", "product", "sales", "r&d", "retail", "customer success", "security",
    "public service", "creative", "it", "support", "marketing", "trade", "legal", "operations", "procurement",
    "data", "manufacturing", "logistics", "finance",
]  # fmt: skip
_EMPLOYEE_RANGES: tuple[EmployeesRange, ...] = (
    "1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001-10000", "10001+",
)  # fmt: skip

# (alpha-2, country name as Explorium spells it, cities) of the directory's companies.
_COUNTRIES = (
    ("us", "united states", ("new york", "austin", "chicago")),
    ("de", "germany", ("berlin", "munich", "hamburg")),
    ("gb", "united kingdom", ("london", "manchester")),
    ("fr", "france", ("paris", "lyon")),
    ("nl", "netherlands", ("amsterdam", "rotterdam")),
    ("es", "spain", ("madrid", "barcelona")),
    ("ca", "canada", ("toronto", "vancouver")),
    ("il", "israel", ("tel aviv", "haifa")),
)
# The ISO 3166-2 region of each directory city (where it is a subdivision, or the state/province it is in).
_REGION_OF_CITY: dict[str, str] = {
    "new york": "US-NY",
    "austin": "US-TX",
    "chicago": "US-IL",
    "berlin": "DE-BE",
    "munich": "DE-BY",
    "hamburg": "DE-HH",
    "london": "GB-LND",
    "manchester": "GB-MAN",
    "paris": "FR-75",
    "lyon": "FR-69",
    "amsterdam": "NL-NH",
    "rotterdam": "NL-ZH",
    "madrid": "ES-MD",
    "barcelona": "ES-B",
    "toronto": "CA-ON",
    "vancouver": "CA-BC",
    "tel aviv": "IL-TA",
    "haifa": "IL-HA",
}
# LinkedIn industry categories of the directory's companies.
_LINKEDIN_CATEGORIES = (
    "transportation, logistics, supply chain and storage",
    "software development",
    "financial services",
    "hospitals and health care",
    "manufacturing",
    "retail",
    "it services and it consulting",
    "business consulting and services",
)
_LEVEL_AND_DEPARTMENT: dict[str, tuple[JobLevel, JobDepartment]] = {
    "Head of Operations": ("director", "operations"),
    "VP of Sales": ("vice president", "sales"),
    "Sales Director": ("director", "sales"),
    "Chief Operating Officer": ("c-suite", "c-suite"),
    "Chief Technology Officer": ("c-suite", "engineering"),
    "Founder": ("founder", "c-suite"),
    "Revenue Operations Manager": ("manager", "operations"),
    "Marketing Director": ("director", "marketing"),
    "Procurement Manager": ("manager", "procurement"),
    "Account Executive": ("non-managerial", "sales"),
}
_SKILLS = ("negotiation", "forecasting", "salesforce", "lean operations", "sql", "pricing", "vendor management")
_PERSONAL_MAIL_DOMAIN = f"mailbox.{RESERVED_TLD}"
# One record in this many is a second, stale record of the person before it.
_DUPLICATE_EVERY = 40
_DEFAULT_DIRECTORY_SIZE = 2_000


@dataclass(frozen=True, kw_only=True)
class DirectoryProspect:
    """One person (one record) in the double's people database."""

    prospect_id: str
    business_id: str
    first_name: str
    last_name: str
    job_title: str
    job_level: JobLevel
    job_department: JobDepartment
    company_name: str
    company_domain: str
    company_description: str
    company_country_code: str
    country_name: str
    city: str
    linkedin_category: str
    employees_range: EmployeesRange
    professional_email: str | None
    personal_email: str | None
    professional_email_status: Literal["valid", "catch-all"] | None
    mobile_phone: str
    linkedin_url: str
    skills: tuple[str, ...]
    interests: tuple[str, ...]

    @property
    def full_name(self) -> str:
        """First and last name."""
        return f"{self.first_name} {self.last_name}"

    @property
    def emails(self) -> tuple[str, ...]:
        """Every address the database has for the person."""
        return tuple(address for address in (self.professional_email, self.personal_email) if address)


def _prospect_id(index: int) -> str:
    # Explorium's prospect ids are 40 hex digits (a SHA-1's length), its business ids 32 (an MD5's).
    return hashlib.sha1(f"prospect:{index}".encode()).hexdigest()


def _business_id(domain: str) -> str:
    return hashlib.md5(f"business:{domain}".encode()).hexdigest()


def build_directory(count: int = _DEFAULT_DIRECTORY_SIZE) -> list[DirectoryProspect]:
    """`count` deterministic prospect records (the same list every call)."""
    prospects: list[DirectoryProspect] = []
    for index in range(count):
        prospect_id = _prospect_id(index)
        if index % _DUPLICATE_EVERY == _DUPLICATE_EVERY - 1 and prospects:
            earlier = prospects[-1]
            prospects.append(replace(earlier, prospect_id=prospect_id, job_title=f"Former {earlier.job_title}"))
            continue
        seed = Seed("explorium-prospect", str(index))
        first_name = seed.pick(0, FIRST_NAMES)
        last_name = seed.pick(1, LAST_NAMES)
        company_name = f"{seed.pick(2, COMPANY_STEMS)} {seed.pick(3, COMPANY_SUFFIXES)}"
        company = Seed("explorium-company", company_name)
        country_code, country_name, cities = company.pick(0, _COUNTRIES)
        domain = f"{slugify(company_name)}.{RESERVED_TLD}"
        title = seed.pick(4, DEFAULT_TITLES)
        level, department = _LEVEL_AND_DEPARTMENT[title]
        local_part = f"{first_name}.{last_name}".lower()
        # 1 in 20 has no address at all, 2 in 20 only a personal one, the rest a professional one.
        email_kind = seed.number(5, 20)
        professional = f"{local_part}@{domain}" if email_kind >= 3 else None
        has_personal = email_kind in (1, 2) or (professional is not None and email_kind % 4 == 0)
        personal = f"{local_part}.{seed.hex(4)}@{_PERSONAL_MAIL_DOMAIN}" if has_personal else None
        prospects.append(
            DirectoryProspect(
                prospect_id=prospect_id,
                business_id=_business_id(domain),
                first_name=first_name,
                last_name=last_name,
                job_title=title,
                job_level=level,
                job_department=department,
                company_name=company_name,
                company_domain=domain,
                company_description=f"{company_name} builds {company.pick(3, COMPANY_FOCUS)}.",
                company_country_code=country_code,
                country_name=country_name,
                city=seed.pick(6, cities),
                linkedin_category=company.pick(1, _LINKEDIN_CATEGORIES),
                employees_range=company.pick(2, _EMPLOYEE_RANGES),
                professional_email=professional,
                personal_email=personal,
                professional_email_status=None
                if professional is None
                else ("catch-all" if email_kind < 5 else "valid"),
                # 555-0100..0199: reserved for fiction.
                mobile_phone=f"+1212555{100 + seed.number(7, 100):04d}",
                linkedin_url=f"https://linkedin.example/in/{local_part.replace('.', '-')}-{seed.hex(6)}",
                skills=(seed.pick(8, _SKILLS), seed.pick(9, _SKILLS)),
                interests=(seed.pick(10, BIO_INTERESTS),),
            )
        )
    return prospects


@dataclass(frozen=True, kw_only=True)
class SeenRequest:
    """A request that reached the double (faults injected before it are not seen), and whether its key was good."""

    method: str
    path: str
    authorized: bool


@dataclass(frozen=True, kw_only=True)
class SeenCall:
    """An authenticated, valid request the double admitted and answered: its JSON body, query cost and time."""

    path: str
    body: Mapping[str, Any]
    queries: int
    admitted_at: float = field(default_factory=time.monotonic)
    """`time.monotonic()` when it was admitted: its queries count against the rate window from then."""


@dataclass(kw_only=True)
class ExploriumState:
    """The double's people database, its meters, and what it has seen; tests read all of it."""

    prospects: list[DirectoryProspect] = field(default_factory=build_directory)
    rate_limit_queries: int = 200
    rate_window_seconds: float = 60.0
    allocated_credits: int = 1_000_000
    requests: list[SeenRequest] = field(default_factory=list[SeenRequest])
    calls: list[SeenCall] = field(default_factory=list[SeenCall])
    charges: Counter[tuple[ChargeKind, str]] = field(default_factory=Counter[tuple[ChargeKind, str]])
    """Billed rows by (kind, prospect or business id)."""
    matched_emails: dict[str, str] = field(default_factory=dict[str, str])
    """Every address (lower-cased) a match request resolved, and to which prospect id."""
    throttled: int = 0
    """429s the double's own rate limit answered (injected faults are counted by the `FaultPlan`)."""
    _windows: dict[str, deque[tuple[float, int]]] = field(default_factory=dict[str, deque[tuple[float, int]]])

    def __post_init__(self) -> None:
        self._by_id = {prospect.prospect_id: prospect for prospect in self.prospects}
        self._by_business = {prospect.business_id: prospect for prospect in self.prospects}
        self._by_email: dict[str, DirectoryProspect] = {}
        self._by_linkedin: dict[str, DirectoryProspect] = {}
        for prospect in self.prospects:
            for address in prospect.emails:
                self._by_email.setdefault(address.lower(), prospect)
            self._by_linkedin.setdefault(prospect.linkedin_url.lower(), prospect)

    # -- what tests ask ------------------------------------------------------------------------------------

    @property
    def credits_used(self) -> int:
        """Credits billed so far (one per billed row)."""
        return sum(self.charges.values())

    def charges_of(self, kind: ChargeKind) -> Counter[str]:
        """How many times each id was billed for `kind`."""
        return Counter({entity_id: count for (charged, entity_id), count in self.charges.items() if charged == kind})

    def charges_by_email(self) -> dict[str, dict[ChargeKind, int]]:
        """For each matched address: how many times its prospect was billed, per enrichment."""
        result: dict[str, dict[ChargeKind, int]] = {}
        for email, prospect_id in self.matched_emails.items():
            billed: dict[ChargeKind, int] = {
                kind: self.charges[(kind, prospect_id)]
                for kind in ("profiles", "contacts_information")
                if self.charges[(kind, prospect_id)]
            }
            if billed:
                result[email] = billed
        return result

    def prospect_with_email(self, email: str) -> DirectoryProspect | None:
        """The (first) record holding this address."""
        return self._by_email.get(email.lower())

    def calls_to(self, path: str) -> list[SeenCall]:
        """The admitted calls to one path, in order."""
        return [call for call in self.calls if call.path == path]

    # -- the rate limit ------------------------------------------------------------------------------------

    def _window(self, api_key: str, now: float) -> deque[tuple[float, int]]:
        window = self._windows.setdefault(api_key, deque())
        while window and window[0][0] <= now - self.rate_window_seconds:
            window.popleft()
        return window

    def admit(self, api_key: str, queries: int) -> float | None:
        """Count `queries` against the key's window and return None, or the seconds until they would fit."""
        now = time.monotonic()
        window = self._window(api_key, now)
        used = sum(count for _, count in window)
        if used + queries <= self.rate_limit_queries:
            window.append((now, queries))
            return None
        self.throttled += 1
        excess = used + queries - self.rate_limit_queries
        freed = 0
        for admitted_at, count in window:
            freed += count
            if freed >= excess:
                return admitted_at + self.rate_window_seconds - now
        return self.rate_window_seconds  # more than the whole limit in one request: it never fits

    def rate_headers(self, api_key: str) -> dict[str, str]:
        """The `X-RateLimit-*` headers of an answer to this key."""
        now = time.monotonic()
        window = self._window(api_key, now)
        used = sum(count for _, count in window)
        resets_in = window[0][0] + self.rate_window_seconds - now if window else 0.0
        return {
            "x-ratelimit-limit": str(self.rate_limit_queries),
            "x-ratelimit-remaining": str(max(0, self.rate_limit_queries - used)),
            "x-ratelimit-reset": str(math.ceil(time.time() + resets_in)),
        }

    # -- the data ------------------------------------------------------------------------------------------

    def search(self, filters: _FetchFilters | None, *, exclude: Sequence[str]) -> list[DirectoryProspect]:
        """The records matching `filters`, in directory order."""
        excluded = set(exclude)
        return [p for p in self.prospects if p.prospect_id not in excluded and _matches(p, filters)]

    def match(self, entry: _MatchInput) -> DirectoryProspect | None:
        """The record a match input points at, if any."""
        if entry.email and (found := self._by_email.get(entry.email.strip().lower())):
            self.matched_emails[entry.email.strip().lower()] = found.prospect_id
            return found
        if entry.linkedin:
            return self._by_linkedin.get(entry.linkedin.strip().lower())
        return None

    def prospect(self, prospect_id: str) -> DirectoryProspect | None:
        """The record with this id."""
        return self._by_id.get(prospect_id)

    def business(self, business_id: str) -> DirectoryProspect | None:
        """A record at the company with this id (the company's facts are the same on all of them)."""
        return self._by_business.get(business_id)


# ---------------------------------------------------------------------------------------------------------
# Request bodies, as the OpenAPI document has them (additionalProperties: false).


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ExistsFilter(_Strict):
    value: bool
    negate: bool = False


class _TextFilter(_Strict):
    values: list[str]
    negate: bool = False


class _JobLevelFilter(_Strict):
    values: list[JobLevel]
    negate: bool = False


class _DepartmentFilter(_Strict):
    values: list[JobDepartment]
    negate: bool = False


class _SizeFilter(_Strict):
    values: list[EmployeesRange]
    negate: bool = False


_CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$", to_lower=True)]
_BusinessId = Annotated[str, StringConstraints(pattern=r"^[a-f0-9]{32}$")]
_ProspectId = Annotated[str, StringConstraints(pattern=r"^[a-f0-9]{40}$")]


class _CountryFilter(_Strict):
    values: list[_CountryCode]
    negate: bool = False


class _RegionFilter(_Strict):
    # ISO 3166-2: a country code, a hyphen, one to three letters or digits ("DE-BE", "US-CA", "AT-9").
    values: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}-[A-Z0-9]{1,3}$")]] = Field(min_length=1)
    negate: bool = False


class _BusinessIdFilter(_Strict):
    values: list[_BusinessId]
    negate: bool = False


class _JobTitleFilter(_Strict):
    values: list[str] = Field(max_length=300)
    include_related_job_titles: bool | None = None
    negate: bool = False


class _FetchFilters(_Strict):
    has_email: _ExistsFilter | None = None
    has_phone_number: _ExistsFilter | None = None
    job_level: _JobLevelFilter | None = None
    job_department: _DepartmentFilter | None = None
    business_id: _BusinessIdFilter | None = None
    country_code: _CountryFilter | None = None
    company_country_code: _CountryFilter | None = None
    region_country_code: _RegionFilter | None = None
    company_size: _SizeFilter | None = None
    linkedin_category: _TextFilter | None = None
    job_title: _JobTitleFilter | None = None


class _FetchRequest(_Strict):
    request_context: dict[str, Any] | None = None
    mode: Literal["full", "preview"]
    size: int = Field(ge=1, le=60_000)
    page_size: int = Field(ge=1, le=500)
    page: int = Field(default=1, ge=1)
    exclude: list[_ProspectId] | None = Field(default=None, max_length=1000)
    filters: _FetchFilters | None = None


class _MatchInput(_Strict):
    business_id: str | None = None
    full_name: str | None = None
    company_name: str | None = None
    email: str | None = None
    phone_number: str | None = None
    linkedin: str | None = None


class _MatchRequest(_Strict):
    request_context: dict[str, Any] | None = None
    prospects_to_match: list[_MatchInput] = Field(min_length=1, max_length=50)


class _ProspectsBulkRequest(_Strict):
    request_context: dict[str, Any] | None = None
    parameters: dict[str, Any] | None = None
    prospect_ids: list[_ProspectId] = Field(min_length=1, max_length=50)


class _BusinessesBulkRequest(_Strict):
    request_context: dict[str, Any] | None = None
    parameters: dict[str, Any] | None = None
    business_ids: list[_BusinessId] = Field(min_length=1, max_length=50)


_WORDS = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return set(_WORDS.findall(text.casefold()))


def _included(present: bool, negate: bool) -> bool:
    return present != negate


def _matches(prospect: DirectoryProspect, filters: _FetchFilters | None) -> bool:
    if filters is None:
        return True
    checks: list[bool] = []
    if (has_email := filters.has_email) is not None:
        checks.append(_included(bool(prospect.emails) == has_email.value, has_email.negate))
    if (has_phone := filters.has_phone_number) is not None:
        checks.append(_included(has_phone.value, has_phone.negate))  # every record has a phone number
    if (levels := filters.job_level) is not None:
        checks.append(_included(prospect.job_level in levels.values, levels.negate))
    if (departments := filters.job_department) is not None:
        checks.append(_included(prospect.job_department in departments.values, departments.negate))
    if (businesses := filters.business_id) is not None:
        checks.append(_included(prospect.business_id in businesses.values, businesses.negate))
    # The directory's people live where their company is headquartered.
    for countries in (filters.country_code, filters.company_country_code):
        if countries is not None:
            checks.append(_included(prospect.company_country_code in countries.values, countries.negate))
    if (regions := filters.region_country_code) is not None:
        checks.append(_included(_REGION_OF_CITY.get(prospect.city) in regions.values, regions.negate))
    if (sizes := filters.company_size) is not None:
        checks.append(_included(prospect.employees_range in sizes.values, sizes.negate))
    if (categories := filters.linkedin_category) is not None:
        wanted = {value.casefold() for value in categories.values}
        checks.append(_included(prospect.linkedin_category in wanted, categories.negate))
    if (titles := filters.job_title) is not None:
        title_words = _words(prospect.job_title)
        checks.append(_included(any(_words(value) <= title_words for value in titles.values), titles.negate))
    return all(checks)


# ---------------------------------------------------------------------------------------------------------
# Answers.


def _context() -> dict[str, Any]:
    return {"correlation_id": uuid.uuid4().hex, "request_status": "success", "time_took_in_seconds": 0.01}


def _error(status: int, details: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"details": details, "correlation_id": uuid.uuid4().hex}, status_code=status, headers=headers)


def _throttled(wait_seconds: float) -> JSONResponse:
    retry_after = max(1, math.ceil(wait_seconds))
    return JSONResponse(
        {
            "error": "rate_limit_exceeded",
            "message": f"API rate limit exceeded. Please retry after {retry_after} seconds.",
            "retry_after": retry_after,
        },
        status_code=429,
        headers={"retry-after": str(retry_after)},
    )


def _insufficient_credits() -> JSONResponse:
    return _error(403, "You have insufficient credits to perform this operation. Please purchase additional credits.")


def _fetch_row(prospect: DirectoryProspect) -> dict[str, Any]:
    return {
        "prospect_id": prospect.prospect_id,
        "professional_email_hashed": (
            hashlib.sha256(prospect.professional_email.encode()).hexdigest() if prospect.professional_email else None
        ),
        "first_name": prospect.first_name,
        "last_name": prospect.last_name,
        "full_name": prospect.full_name,
        "country_name": prospect.country_name,
        "region_name": None,
        "city": prospect.city,
        "linkedin": prospect.linkedin_url,
        "experience": [f"{prospect.job_title} at {prospect.company_name}"],
        "skills": list(prospect.skills),
        "interests": list(prospect.interests),
        "company_name": prospect.company_name,
        "company_website": f"https://www.{prospect.company_domain}",
        "company_linkedin": f"https://linkedin.example/company/{prospect.company_domain.split('.')[0]}",
        "job_department": prospect.job_department,
        "job_department_main": prospect.job_department,
        "job_seniority_level": [prospect.job_level],
        "job_level_main": prospect.job_level,
        "job_title": prospect.job_title,
        "business_id": prospect.business_id,
    }


def _profile(prospect: DirectoryProspect) -> dict[str, Any]:
    return {
        "full_name": prospect.full_name,
        "country_name": prospect.country_name,
        "city": prospect.city,
        "linkedin": prospect.linkedin_url,
        "experience": [
            {
                "company": {"name": prospect.company_name, "website": prospect.company_domain},
                "title": {"name": prospect.job_title, "levels": [prospect.job_level]},
                "is_primary": True,
            }
        ],
        "skills": list(prospect.skills),
        "interests": list(prospect.interests),
        "company_name": prospect.company_name,
        "company_website": f"https://www.{prospect.company_domain}",
        "job_department_main": prospect.job_department,
        "job_level_main": prospect.job_level,
        "job_title": prospect.job_title,
        "linkedin_url_array": [prospect.linkedin_url],
    }


def _contacts(prospect: DirectoryProspect) -> dict[str, Any]:
    emails = [{"address": prospect.professional_email, "type": "professional"}] if prospect.professional_email else []
    if prospect.personal_email:
        emails.append({"address": prospect.personal_email, "type": "personal"})
    return {
        "emails": emails,
        "professions_email": prospect.professional_email,
        "professional_email_status": prospect.professional_email_status,
        "phone_numbers": [{"phone_number": prospect.mobile_phone}],
        "mobile_phone": prospect.mobile_phone,
    }


def _firmographics(prospect: DirectoryProspect) -> dict[str, Any]:
    return {
        "business_id": prospect.business_id,
        "name": prospect.company_name,
        "business_description": prospect.company_description,
        "website": f"https://www.{prospect.company_domain}",
        "country_name": prospect.country_name,
        "number_of_employees_range": prospect.employees_range,
        "linkedin_industry_category": prospect.linkedin_category,
    }


def _authenticated(app: ASGIApp, state: ExploriumState, api_key: str) -> ASGIApp:
    """Refuses a missing or wrong `api_key` with 401, and stamps `X-RateLimit-*` on every answer to a good key."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        authorized = headers.get("api_key") == api_key
        state.requests.append(SeenRequest(method=scope["method"], path=scope["path"], authorized=authorized))
        if not authorized:
            await _error(401, "Invalid or missing API key")(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(name.encode(), value.encode()) for name, value in state.rate_headers(api_key).items()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await app(scope, receive, stamped)

    return guarded


def create_explorium_app(state: ExploriumState, *, api_key: str, plan: FaultPlan | None = None) -> ASGIApp:
    """The double as an ASGI app answering for `api_key`, with `plan`'s faults applied in front of it."""
    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    async def admitted(request: Request, path: str, *, queries: int) -> JSONResponse | None:
        wait = state.admit(request.headers["api_key"], queries)
        if wait is not None:
            return _throttled(wait)
        # The body as the client sent it (FastAPI has read and validated it already; Starlette keeps it).
        state.calls.append(SeenCall(path=path, body=await request.json(), queries=queries))
        return None

    def bill(kind: ChargeKind, entity_ids: Sequence[str]) -> JSONResponse | None:
        if state.credits_used + len(entity_ids) > state.allocated_credits:
            return _insufficient_credits()
        for entity_id in entity_ids:
            state.charges[(kind, entity_id)] += 1
        return None

    @api.get("/v1/credits")
    async def credits(request: Request) -> JSONResponse:
        wait = state.admit(request.headers["api_key"], 1)
        if wait is not None:
            return _throttled(wait)
        return JSONResponse(
            {
                "response_context": _context(),
                "allocated_credits": state.allocated_credits,
                "remaining_credits": state.allocated_credits - state.credits_used,
            }
        )

    @api.post("/v1/prospects")
    async def fetch_prospects(body: _FetchRequest, request: Request) -> JSONResponse:
        if (refused := await admitted(request, "/v1/prospects", queries=1)) is not None:
            return refused
        found = state.search(body.filters, exclude=body.exclude or ())[: body.size]
        start = (body.page - 1) * body.page_size
        rows = found[start : start + body.page_size]
        if (refused := bill("fetch", [prospect.prospect_id for prospect in rows])) is not None:
            return refused
        return JSONResponse(
            {
                "response_context": _context(),
                "data": [_fetch_row(prospect) for prospect in rows],
                "total_results": len(found),
                "page": body.page,
                "total_pages": math.ceil(len(found) / body.page_size),
            }
        )

    @api.post("/v1/prospects/match")
    async def match_prospects(body: _MatchRequest, request: Request) -> JSONResponse:
        entries = body.prospects_to_match
        if (refused := await admitted(request, "/v1/prospects/match", queries=len(entries))) is not None:
            return refused
        matched: list[dict[str, Any]] = []
        for entry in entries:
            found = state.match(entry)
            row: dict[str, Any] = {"input": entry.model_dump(exclude_none=True)}
            if found is not None:
                row["prospect_id"] = found.prospect_id
            matched.append(row)
        return JSONResponse(
            {
                "response_context": _context(),
                "total_results": len(entries),
                "total_matches": sum(1 for row in matched if "prospect_id" in row),
                "matched_prospects": matched,
            }
        )

    async def prospects_bulk(
        request: Request, body: _ProspectsBulkRequest, *, kind: ChargeKind, path: str
    ) -> JSONResponse:
        if (refused := await admitted(request, path, queries=len(body.prospect_ids))) is not None:
            return refused
        rows: list[dict[str, Any]] = []
        billed: list[str] = []
        for prospect_id in body.prospect_ids:
            prospect = state.prospect(prospect_id)
            if prospect is None:
                rows.append({"prospect_id": prospect_id})
                continue
            rows.append(
                {"prospect_id": prospect_id, "data": _profile(prospect) if kind == "profiles" else _contacts(prospect)}
            )
            billed.append(prospect_id)
        if (refused := bill(kind, billed)) is not None:
            return refused
        return JSONResponse({"response_context": _context(), "data": rows, "total_results": len(billed)})

    @api.post("/v1/prospects/profiles/bulk_enrich")
    async def profiles_bulk(body: _ProspectsBulkRequest, request: Request) -> JSONResponse:
        return await prospects_bulk(request, body, kind="profiles", path="/v1/prospects/profiles/bulk_enrich")

    @api.post("/v1/prospects/contacts_information/bulk_enrich")
    async def contacts_bulk(body: _ProspectsBulkRequest, request: Request) -> JSONResponse:
        path = "/v1/prospects/contacts_information/bulk_enrich"
        return await prospects_bulk(request, body, kind="contacts_information", path=path)

    @api.post("/v1/businesses/firmographics/bulk_enrich")
    async def firmographics_bulk(body: _BusinessesBulkRequest, request: Request) -> JSONResponse:
        path = "/v1/businesses/firmographics/bulk_enrich"
        if (refused := await admitted(request, path, queries=len(body.business_ids))) is not None:
            return refused
        rows: list[dict[str, Any]] = []
        billed: list[str] = []
        for business_id in body.business_ids:
            company = state.business(business_id)
            if company is None:
                rows.append({"business_id": business_id})
                continue
            rows.append({"business_id": business_id, "data": _firmographics(company)})
            billed.append(business_id)
        if (refused := bill("firmographics", billed)) is not None:
            return refused
        return JSONResponse({"response_context": _context(), "data": rows, "total_results": len(billed)})

    app = _authenticated(api, state, api_key)
    return with_faults(app, plan) if plan is not None else app
