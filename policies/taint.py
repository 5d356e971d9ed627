"""Fingerprints of outside data, and the encoded forms a hijacked model may use to hide it.

The egress rule asks whether an argument that leaves the system carries something the agent read from
outside data (a CRM note, a phone number from enrichment, a reply body). Comparing whole strings would
miss a value re-typed with other separators, copied in part, base64-encoded or split over two calls, so
both sides are reduced to fingerprints that survive those changes:

- `=value`: the email addresses, domains and ids of `policies.provenance`;
- `#digits`: the digits of a phone-number-like run (at least `MIN_PHONE_DIGITS` digits, separators
  such as spaces, dots, dashes and brackets ignored), so `+49 30 1234-567` and `49301234567` agree;
- `~w1 w2 w3 w4`: every run of `SHINGLE_WORDS` consecutive words, lower-cased, so a sentence copied
  from a note is found inside a longer value.

`expanded` adds the decoded forms of base64, base32 and hex tokens to a text, so an encoded copy is
fingerprinted like the plain one. Fingerprints are compared exactly; what the user wrote is
fingerprinted too and subtracted, so a value the user gave is never suspect.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence

from signoff.policies.provenance import MAX_SCANNED_CHARS, values_in_text

__all__ = [
    "MIN_PHONE_DIGITS",
    "SHINGLE_WORDS",
    "digit_fingerprints",
    "encoded_tokens",
    "expanded",
    "fingerprints",
    "joined_digits",
    "joined_fragments",
    "text_values",
]

MIN_PHONE_DIGITS = 7
"""The shortest digit run taken for a phone number (a local number without its area code)."""

SHINGLE_WORDS = 4
"""Words per shingle: four words copied in order are a quotation, fewer are often a job title or a place."""

# A run of digits with the separators phone numbers are written with, starting and ending on a digit.
_PHONE_RUN = re.compile(r"\+?\d[\d\s().\-/]*\d")
_WORD = re.compile(r"[^\W_]+")
# Candidates for encoded data: long runs of the base64 (standard and URL-safe) or hex alphabets.
_ENCODED = re.compile(r"[A-Za-z0-9+/_\-]{12,}={0,2}")
_MIN_DECODED_CHARS = 4
# A piece of an encoding cut into parts: shorter than a whole token may be.
_FRAGMENT = re.compile(r"[A-Za-z0-9+/_\-]{4,}={0,2}")


def fingerprints(text: str) -> set[str]:
    """The fingerprints of `text` (values, phone digits and word shingles)."""
    text = text[:MAX_SCANNED_CHARS]
    found = {f"={value}" for value in values_in_text(text)}
    found |= digit_fingerprints(text)
    words = [word.lower() for word in _WORD.findall(text)]
    found.update("~" + " ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1))
    return found


def digit_fingerprints(text: str) -> set[str]:
    """`#digits` for every phone-number-like run in `text`."""
    found: set[str] = set()
    for match in _PHONE_RUN.finditer(text[:MAX_SCANNED_CHARS]):
        digits = re.sub(r"\D", "", match.group(0))
        if len(digits) >= MIN_PHONE_DIGITS:
            found.add(f"#{digits}")
    return found


def joined_digits(texts: Iterable[str]) -> str:
    """Every digit of `texts`, in order, as one string: a number split over values or calls joins up."""
    return "".join(re.sub(r"\D", "", text) for text in texts)


def encoded_tokens(text: str) -> list[tuple[str, str]]:
    """(token, decoded text) for each token of `text` that decodes, as base64, base32 or hex, to text.

    A token counts only when it looks like an encoding rather than a word: it has a digit, a `+`, `/`
    or `=`, or a capital letter after a small one (an all-letter word such as "internationalization"
    is in the base64 alphabet too), and it decodes to mostly printable UTF-8.
    """
    found: list[tuple[str, str]] = []
    for match in _ENCODED.finditer(text[:MAX_SCANNED_CHARS]):
        token = match.group(0)
        if not _looks_encoded(token):
            continue
        decoded = _decode(token)
        if decoded is not None:
            found.append((token, decoded))
    return found


def text_values(value: object) -> list[str]:
    """The string values of a JSON-shaped value in document order (mapping keys left out): what a call
    sends, in the order a receiver would read it."""
    found: list[str] = []
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, Mapping):
            stack.extend(reversed(list(item.values())))  # pyright: ignore[reportUnknownArgumentType, reportUnknownMemberType]
        elif isinstance(item, Sequence) and not isinstance(item, bytes | bytearray):
            stack.extend(reversed(item))  # pyright: ignore[reportUnknownArgumentType]
    return found


def joined_fragments(texts: Iterable[str]) -> list[str]:
    """Encoded-looking fragments of `texts`, joined: all of them in order, and each with the next one,
    so base64 cut into pieces over several values or calls decodes again (see `expanded`)."""
    fragments = [
        token for text in texts for token in _FRAGMENT.findall(text[:MAX_SCANNED_CHARS]) if _looks_encoded(token)
    ]
    if len(fragments) < 2:
        return []
    return ["".join(fragments), *(first + second for first, second in itertools.pairwise(fragments))]


def expanded(text: str) -> str:
    """`text` followed by the decoded form of each encoded token in it (one level deep)."""
    decoded = [plain for _token, plain in encoded_tokens(text)]
    return "\n".join([text, *decoded])


def _looks_encoded(token: str) -> bool:
    body = token.rstrip("=")
    return (
        any(c.isdigit() for c in body)
        or any(c in "+/" for c in body)
        or token.endswith("=")
        or re.search(r"[a-z][A-Z]", body) is not None
    )


def _decode(token: str) -> str | None:
    candidates: list[bytes] = []
    body = token.rstrip("=")
    if re.fullmatch(r"(?:[0-9a-fA-F]{2})+", token):
        candidates.append(binascii.unhexlify(token))
    if re.fullmatch(r"[A-Z2-7]+=*", token):
        with contextlib.suppress(binascii.Error, ValueError):
            candidates.append(base64.b32decode(body + "=" * (-len(body) % 8)))
    for decoder in (base64.b64decode, base64.urlsafe_b64decode):
        with contextlib.suppress(binascii.Error, ValueError):
            candidates.append(decoder(body + "=" * (-len(body) % 4)))
    for raw in candidates:
        try:
            plain = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        printable = sum(1 for c in plain if c.isprintable() or c in "\n\t")
        if len(plain) >= _MIN_DECODED_CHARS and printable >= 0.9 * len(plain):
            return plain
    return None
