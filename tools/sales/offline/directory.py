"""Fake but plausible people, companies and titles, picked deterministically from a hash.

Everything the offline providers invent comes from here, so the same input always yields the same
output (tests and demos can pin it) and nothing points at a real person or company: email domains use
the reserved `.example` top-level domain, and phone numbers the 555-0100..0199 range kept for fiction.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TypeVar, get_args

from signoff.tools.sales.models import CompanySize, Seniority

__all__ = [
    "BIO_INTERESTS",
    "COMPANY_FOCUS",
    "COMPANY_SIZES",
    "COMPANY_STEMS",
    "COMPANY_SUFFIXES",
    "DEFAULT_TITLES",
    "FIRST_NAMES",
    "LAST_NAMES",
    "RESERVED_TLD",
    "Seed",
    "seniority_of",
    "slugify",
]

# RFC 2606 reserves `.example`; email-validator accepts it, and no mail to it can ever be delivered.
RESERVED_TLD = "example"

FIRST_NAMES = (
    "Ana", "Ben", "Chloe", "Daniel", "Elena", "Farid", "Grace", "Hiro", "Isabel", "Jonas",
    "Keiko", "Liam", "Maya", "Nikolai", "Olivia", "Pedro", "Quinn", "Rosa", "Samir", "Tara",
    "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoe", "Amara", "Bruno", "Carmen", "Dmitri",
    "Esther", "Felix", "Greta", "Hassan", "Ingrid", "Jamal", "Kira", "Lucas", "Mei", "Noah",
)  # fmt: skip

LAST_NAMES = (
    "Lopez", "Schmidt", "Nakamura", "Okafor", "Rossi", "Novak", "Fischer", "Haddad", "Kowalski", "Silva",
    "Andersen", "Bianchi", "Chen", "Dubois", "Eriksson", "Fernandes", "Garcia", "Horvat", "Ivanova", "Jensen",
    "Kim", "Larsen", "Moreau", "Nguyen", "Oliveira", "Petrov", "Quispe", "Ramos", "Sato", "Tanaka",
    "Urban", "Varga", "Weber", "Yilmaz", "Zimmermann", "Mensah", "Patel", "Costa", "Berg", "Lindqvist",
)  # fmt: skip

COMPANY_STEMS = (
    "Northwind", "Bluefin", "Cobalt", "Harborline", "Juniper", "Keystone", "Lumen", "Meridian", "Nimbus",
    "Oakridge", "Pinecrest", "Quarry", "Redwood", "Saltmarsh", "Tidewater", "Umbra", "Vantage", "Willow",
    "Yardley", "Zephyr", "Alder", "Brightwater", "Cinder", "Driftwood", "Evergreen", "Foxglove",
)  # fmt: skip

COMPANY_SUFFIXES = (
    "Group", "Systems", "Labs", "Partners", "Works", "Technologies", "Solutions", "Industries", "Analytics", "Co",
)  # fmt: skip

# Titles a sales team typically targets, used when a profile names none.
DEFAULT_TITLES = (
    "Head of Operations", "VP of Sales", "Sales Director", "Chief Operating Officer", "Chief Technology Officer",
    "Founder", "Revenue Operations Manager", "Marketing Director", "Procurement Manager", "Account Executive",
)  # fmt: skip

COMPANY_SIZES: tuple[CompanySize, ...] = get_args(CompanySize)

# What a lead's profile says they care about, for the bio the lead source returns.
BIO_INTERESTS = (
    "automating the boring parts of operations", "building teams that scale", "data-driven pipeline reviews",
    "getting finance and sales onto one system", "shorter onboarding for new customers", "vendor consolidation",
    "partnerships in new markets", "turning support tickets into product insight",
)  # fmt: skip

# What an enrichment vendor's company blurb says the company does.
COMPANY_FOCUS = (
    "payment infrastructure for marketplaces", "route planning for regional carriers", "compliance tooling",
    "a B2B analytics platform", "procurement software for mid-sized manufacturers", "managed cloud services",
    "customer onboarding software", "warehouse robotics",
)  # fmt: skip

_Choice = TypeVar("_Choice")

_SLUG_BREAKS = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """Lower-case letters and digits joined by hyphens: 'Northwind Labs' -> 'northwind-labs'."""
    return _SLUG_BREAKS.sub("-", text.lower()).strip("-")


def seniority_of(title: str) -> Seniority:
    """The seniority a title implies, from its usual keywords."""
    lowered = title.lower()
    if "founder" in lowered:
        return "founder"
    if lowered.startswith("chief") or lowered in {"ceo", "coo", "cto", "cfo", "cro", "cmo"}:
        return "c_level"
    if lowered.startswith(("vp", "vice president")):
        return "vp"
    if "director" in lowered or lowered.startswith("head of"):
        return "director"
    if "manager" in lowered or lowered.startswith("lead"):
        return "manager"
    return "individual_contributor"


class Seed:
    """A SHA-256 digest of some text, read as a sequence of independent small choices.

    Hash-derived choices (rather than `random.Random`) stay identical across Python versions and
    platforms, which keeps pinned test output stable.
    """

    def __init__(self, *parts: str) -> None:
        # The unit separator keeps ('ab', 'c') and ('a', 'bc') apart.
        self._digest = hashlib.sha256("\x1f".join(parts).encode()).digest()

    def number(self, slot: int, modulus: int) -> int:
        """A number in [0, modulus) from two bytes of the digest; slots 0..15 are independent."""
        if not 0 <= slot < len(self._digest) // 2:
            raise ValueError(f"slot must be in 0..{len(self._digest) // 2 - 1}, got {slot!r}")
        return int.from_bytes(self._digest[2 * slot : 2 * slot + 2], "big") % modulus

    def pick(self, slot: int, choices: Sequence[_Choice]) -> _Choice:
        """One of `choices`, chosen by the digest's `slot`."""
        return choices[self.number(slot, len(choices))]

    def hex(self, length: int) -> str:
        """The first `length` hex digits of the digest, for short stable suffixes."""
        return self._digest.hex()[:length]
