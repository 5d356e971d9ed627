"""Ask a person before data leaves through the arguments of a tool that sends them to a third party.

A read-only tool still sends its arguments somewhere: a lead search sends its filter to the lead
vendor, an enrichment sends addresses to the enrichment vendor. A hijacked model can pack what it read
(CRM notes, phone numbers, reply bodies) into those arguments, and the data leaves with no side effect
anyone would approve. The tool's metadata says which arguments leave and what they may hold
(`ToolSpec.egress`); this rule holds them to it:

- a `filter` argument holds search criteria in the user's own words: each value must be one of the
  tool's enumerated values (its schema's `enum`s) or made only of words the user wrote (plus a few
  fillers such as "of" and "and"). That allow-list is what holds against any encoding: a phone number
  spelt out, reordered, base64-encoded or split over calls is words the user never wrote. A value with
  other words needs a person, and the reason says what else it holds: an email address, a link, a phone
  number, an encoded blob, or fingerprints of outside data the conversation read (`policies.taint`),
  alone or joined up with what earlier calls sent;
- a `contacts` argument holds people's addresses: each must be a CRM contact, returned by discovery in
  this conversation, or named by the user; any other address needs a person.

What the user wrote is never suspect. The rule asks rather than denies: a person can see the values and
let a legitimate search through.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from signoff.policies.context import PolicyContext, ToolCallRequest
from signoff.policies.decision import Decision
from signoff.policies.provenance import MAX_SCANNED_CHARS, strings_in, values_in_text
from signoff.policies.taint import (
    MIN_PHONE_DIGITS,
    digit_fingerprints,
    encoded_tokens,
    expanded,
    fingerprints,
    joined_fragments,
    text_values,
)
from signoff.policies.taint import joined_digits as digits_of

__all__ = ["EgressRule"]

_WORD = re.compile(r"[^\W_]+")
# Words a criterion may add to the user's own without carrying anything ("Head *of* Operations").
_FILLER_WORDS = frozenset({"a", "an", "and", "at", "for", "in", "of", "on", "or", "the", "to", "with"})

# Enough findings for the approver to see what is at stake; the approval shows the whole call.
_MAX_FINDINGS = 5
# How much of a value a finding quotes.
_QUOTE_CHARS = 60


@dataclass(frozen=True, kw_only=True)
class EgressRule:
    """Require approval when an egress argument holds what its metadata does not allow, or outside data."""

    name: str = "egress"
    deny: bool = False
    """Deny such calls outright (the model is told why) instead of asking a person."""

    def evaluate(self, call: ToolCallRequest, ctx: PolicyContext) -> Decision | None:
        """Require approval listing what would leave and why it is suspect; no opinion otherwise."""
        spec = call.spec
        if spec is None or not spec.egress:
            return None
        trusted_values = values_in_text(ctx.trusted_text)
        trusted_words = set(words_of(ctx.trusted_text)) | _FILLER_WORDS
        vocabulary = _vocabulary(spec.parameters_json_schema)
        findings: list[str] = []
        sent: list[str] = []
        for egress in spec.egress:
            value = call.args.get(egress.arg)
            if value is None:
                continue
            if egress.holds == "contacts":
                findings.extend(
                    f"{egress.arg} sends {address}, who is not a CRM contact, was not found by discovery "
                    "in this conversation and was not named by the user"
                    for address in _addresses(value)
                    if address not in ctx.known_recipients
                    and address not in ctx.discovered_contacts
                    and address not in trusted_values
                )
                continue
            for text in text_values(value):
                if text.strip().lower() in vocabulary:
                    continue  # one of the tool's own enumerated values ("501-1000"): it carries nothing
                novel = [word for word in words_of(text) if word not in trusted_words]
                if not novel:
                    continue  # the user's own words: whatever they are, they are the user's to send
                sent.append(text)
                findings.append(f"{egress.arg} holds words the user did not write ({_quote(' '.join(novel))})")
                findings.extend(f"{egress.arg} holds {what}" for what in _not_a_filter(text, trusted_values))
        findings.extend(_outside_data(sent, ctx))
        if not findings:
            return None
        shown = "; ".join(_dedupe(findings)[:_MAX_FINDINGS])
        more = len(_dedupe(findings)) - _MAX_FINDINGS
        if more > 0:
            shown += f"; and {more} more"
        reason = f"{spec.name} sends its arguments to a third party, and they may carry data out: {shown}"
        if self.deny:
            return Decision.deny(rule=self.name, reason=f"{reason}. Not sent; search with plain criteria instead.")
        return Decision.require_approval(rule=self.name, reason=reason)


def words_of(text: str) -> list[str]:
    """The words and numbers of `text`, lower-cased and without a plural "s" ("heads" is "head"): what a
    filter's value is compared by."""
    return [_singular(word.lower()) for word in _WORD.findall(text[:MAX_SCANNED_CHARS])]


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _vocabulary(schema: Mapping[str, Any]) -> frozenset[str]:
    """Every enumerated (`enum`, `const`) string of a tool's argument schema, lower-cased."""
    found: set[str] = set()
    stack: list[object] = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            for key, inner in item.items():  # pyright: ignore[reportUnknownVariableType]
                if key == "enum" and isinstance(inner, list):
                    found.update(str(v).lower() for v in inner if isinstance(v, str))  # pyright: ignore[reportUnknownVariableType]
                elif key == "const" and isinstance(inner, str):
                    found.add(inner.lower())
                else:
                    stack.append(inner)  # pyright: ignore[reportUnknownArgumentType]
        elif isinstance(item, list):
            stack.extend(item)  # pyright: ignore[reportUnknownArgumentType]
    return frozenset(found)


def _not_a_filter(text: str, trusted_values: set[str]) -> Iterator[str]:
    """What a search criterion should not hold (unless the user wrote it)."""
    values = values_in_text(text) - trusted_values
    addresses = sorted(value for value in values if "@" in value)
    if addresses:
        yield f"an email address ({', '.join(addresses)})"
    # A bare dotted word ("Node.js") is a word; a link is one with a scheme or "www.".
    linked = re.search(r"(?:[a-z][a-z0-9+.-]*://|\bwww\.)", text.lower()) is not None
    domains = sorted(value for value in values if "@" not in value and "." in value) if linked else []
    if domains and not addresses:
        yield f"a domain or URL ({', '.join(domains)})"
    if digit_fingerprints(text):
        yield f"a phone-number-like run of {MIN_PHONE_DIGITS} or more digits ({_quote(text)})"
    for token, plain in encoded_tokens(text):
        yield f"an encoded value ({_quote(token)} decodes to {_quote(plain)})"


def _outside_data(sent: Sequence[str], ctx: PolicyContext) -> Iterator[str]:
    """Fingerprints of the conversation's outside data in what this call sends, alone or joined with
    what earlier calls sent."""
    if not ctx.untrusted_fingerprints or not sent:
        return
    suspect = ctx.untrusted_fingerprints.keys() - ctx.trusted_fingerprints
    if not suspect:
        return
    own = set[str]().union(*(fingerprints(expanded(text)) for text in [*sent, " ".join(sent)]))
    for found in sorted(own & suspect):
        yield f"{_describe(found)}, read from {ctx.untrusted_fingerprints[found]}"
    # Split over values or calls: the digits of everything sent so far, and the values joined without
    # separators (base64 cut in two), may spell what no single value did.
    history = [*ctx.earlier_egress, *sent]
    digits = digits_of(history)
    joined = ["".join("".join(text.split()) for text in history), *joined_fragments(history)]
    combined = set[str]().union(*(fingerprints(expanded(text)) for text in joined)) - own
    phones = {found for found in suspect if found.startswith("#") and found[1:] in digits and found not in own}
    for found in sorted((combined & suspect) | phones):
        where = "across this and earlier calls" if ctx.earlier_egress else "split across values"
        yield f"{_describe(found)} {where}, read from {ctx.untrusted_fingerprints[found]}"


def _describe(fingerprint: str) -> str:
    kind, body = fingerprint[0], fingerprint[1:]
    match kind:
        case "#":
            return f"the phone number {body}"
        case "~":
            return f'the words "{body}"'
        case _:
            return body


def _addresses(value: object) -> list[str]:
    if isinstance(value, str):
        return [value.lower()]
    return [text.lower() for text in strings_in(value)]


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= _QUOTE_CHARS else flat[: _QUOTE_CHARS - 1] + "…")


def _dedupe(findings: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(findings))
