"""Logging and tracing setup for Signoff: logfire, scrubbed, local unless a token is given.

`configure_telemetry()` is the only place that configures logfire. It takes every setting as an argument
(only api/ and the CLI read the environment) and guarantees three things:

- Nothing leaves the machine unless the caller passes a logfire token. Without one, `send_to_logfire=False` is
  passed explicitly so that neither `LOGFIRE_TOKEN` nor a `.logfire/` credentials file can switch exporting on
  behind the caller's back. (Standard `OTEL_EXPORTER_OTLP_*` variables are still honoured by logfire itself: setting
  one is a deliberate opt-in to an OTLP backend, and those exporters see the same redacted spans.)
- Console output is off unless asked for: the CLI prints its own tables.
- E-mail addresses, phone numbers and API-key-shaped secrets are redacted from everything we export, on top of
  logfire's own key-name scrubbing (`password`, `api_key`, `auth`, ...).

How the redaction is layered, and why there are three layers:

1. logfire's scrubber (`ScrubbingOptions`). Its patterns are searched in attribute *keys* and string *values*
   (recursing into dicts, lists and JSON-encoded strings) of span attributes, span events, links, OTel log records
   and the values interpolated into `logfire.msg`. A key match replaces the whole value; a value match replaces the
   whole string with `[Scrubbed due to '<matched text>']`, except that a value which the pattern matches *entirely*
   is kept (so an attribute that is exactly `a@b.com` would survive a plain e-mail pattern), and the matched text
   itself is copied into the replacement and into the `logfire.scrubbed` attribute. So our `extra_patterns` are
   zero-width look-aheads that only *detect* e-mail/phone/secret shapes (they never match the whole value and leak
   nothing as "matched text"), and our `callback` replaces just the sensitive substrings via `redact_text`, keeping
   the rest of the value readable. logfire never scrubs span names, status descriptions, the `logfire.msg`
   attribute itself, the keys of nested dicts, or its "safe" attributes, among them `exception.message`,
   `exception.stacktrace`, `http.url`, `url.query` and `db.statement`.
2. `RedactingSpanProcessor` covers that gap. It runs first among the span processors: `on_start` redacts the name and
   attributes of the live span (so logfire's "pending span" copies are clean), and `on_end` redacts the name, status
   description, every attribute, event and link of the finished span, safe keys included, before any exporter
   (console, logfire, OTLP, tests) sees it.
3. `RedactingLogRecordProcessor` does the same for OTel log records, whose keys logfire does not scrub.

pydantic-ai is instrumented with `include_content=False`, so prompts, model text and tool arguments and results are
never recorded in the first place; the redaction above is the safety net for what code logs on purpose.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

import logfire
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Link, Status
from pydantic_ai import Agent

__all__ = [
    "API_KEY_PATTERN",
    "BEARER_TOKEN_PATTERN",
    "EMAIL_PATTERN",
    "LONG_TOKEN_PATTERN",
    "PHONE_PATTERN",
    "REDACTED_EMAIL",
    "REDACTED_PHONE",
    "REDACTED_SECRET",
    "URL_SECRET_PARAMETER_PATTERN",
    "RedactingLogRecordProcessor",
    "RedactingSpanProcessor",
    "configure_telemetry",
    "redact_text",
    "scrubbing_options",
]

# Replacement markers. They must not match logfire's default patterns (so "secret", "key" and "credential" are out:
# the callback would otherwise see the marker as a new default-pattern hit and blank the whole value) and must
# contain no quote or backslash, so that redacting raw JSON text leaves valid JSON.
REDACTED_EMAIL = "[redacted:email]"
REDACTED_PHONE = "[redacted:phone]"
REDACTED_SECRET = "[redacted:token]"

# Every pattern is anchored where a match may begin (a look-behind on its own character class, or `\b`), so a match
# can only begin at the start of a run. Without that, scanning a long run of letters with no "@" in it is quadratic
# (each position re-scans to the end of the run), which matters for large JSON attributes. None of them has a
# capturing group: they are also embedded in logfire's combined pattern, where the callback tells them apart by
# `lastgroup`.

# Addresses as they appear in text, JSON and URLs: `%40` is a percent-encoded "@" in query strings. The domain
# needs at least one dot, so `user@localhost`, decorators and `a@b` in code are left alone.
EMAIL_PATTERN = re.compile(
    r"(?<![\w.%+-])[\w.%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+",
    re.IGNORECASE,
)

# Three shapes, because bare digit runs are indistinguishable from amounts, counts and ids:
# 1. international: "+" then 7-15 digits (E.164, counted in `_replace_phone`) with spaces, dots, dashes, slashes
#    or brackets between them;
# 2. North American: 3-3-4 digits with separators, "(555) 123-4567", "555.123.4567";
# 3. national with a trunk "0": "030 1234 5678", "0171/2345678" (needs 9+ digits, see `_replace_phone`).
# Dates (2026-11-27), times, versions and plain numbers have none of these shapes.
PHONE_PATTERN = re.compile(
    r"(?<![\w+])\+\d(?:[ ./()-]{0,2}\d){6,20}(?!\d)"
    r"|(?<![\w.+/-])(?:\(\d{3}\)[ ]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-])"
    r"|(?<![\w.+/-])0\d{1,4}[ /-]\d{2,}(?:[ -]\d{2,}){0,3}(?![\w-])"
)
_MIN_PHONE_DIGITS_INTERNATIONAL = 7  # shortest E.164 numbers (small countries) have 7 digits after the "+"
_MIN_PHONE_DIGITS_NATIONAL = 9  # "030 1234" (7 digits) is more likely a reference than a phone number
_MAX_PHONE_DIGITS = 15  # E.164 maximum; longer digit runs are ids, not phone numbers

# Vendor key formats with a recognisable prefix, so they are caught at any length the vendor uses:
# Anthropic `sk-ant-...` and OpenAI `sk-...`/`sk-proj-...`; Stripe secret and restricted keys; GitHub tokens;
# Slack tokens; Google API keys; AWS access key ids; logfire write tokens; JWTs (base64url of `{"`, hence `eyJ`).
# The look-behind excludes "-" so that words like "task-force-..." do not start an `sk-` match. The all-caps AWS
# and case-sensitive Google/JWT prefixes are matched case-sensitively (`(?-i:...)`), or "Asia..." would be a key.
API_KEY_PATTERN = re.compile(
    r"(?<![\w-])(?:"
    r"sk-[\w-]{16,}"
    r"|[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{30,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|(?-i:AIza)[\w-]{35}(?![\w-])"
    r"|(?-i:(?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Za-z0-9])"
    r"|pylf_v\d+_[\w-]+"
    r"|(?-i:eyJ)[\w-]{8,}\.(?-i:eyJ)[\w-]{8,}\.[\w-]*"
    r")",
    re.IGNORECASE,
)

# "Authorization: Bearer <token>" pasted into an error message or a header dump. 16 characters is shorter than any
# real bearer token and longer than the English words that follow "bearer" in prose.
BEARER_TOKEN_PATTERN = re.compile(r"\bbearer\s+[\w.~+/=-]{16,}", re.IGNORECASE)

# Credentials in URL query strings (`?api_key=...`, as data-enrichment APIs use; `X-Amz-Signature=...` in presigned
# links): logfire keeps `http.url` and `url.query` verbatim. Any parameter whose name *ends* in a credential word
# has its value replaced; the name is kept for debugging. Over-redacting `sort_key=name` is the accepted price.
URL_SECRET_PARAMETER_PATTERN = re.compile(
    r"(?<=[?&;])[\w.-]*?(?:key|token|secret|password|passwd|auth|credential|signature|sig)=[^&#\s\\\"'<>]+",
    re.IGNORECASE,
)

# Unprefixed secrets: runs of 32+ base64/base64url/hex characters (32 is the shortest common hex key length).
# A run counts as a secret only if it looks random (see `_looks_random`), so long identifiers and file paths
# survive. Hex digests labelled with their algorithm (`sha256:<hex>`, as prompt content hashes are) are not secrets.
LONG_TOKEN_PATTERN = re.compile(
    r"(?<![A-Za-z0-9+/=_-])(?<!sha1:)(?<!sha256:)(?<!sha384:)(?<!sha512:)(?<!md5:)[A-Za-z0-9+/=_-]{32,}"
)
_HEX_TOKEN = re.compile(r"[0-9a-f]+|[0-9A-F]+")
# A file path splits into short segments; a random token almost never does (it would need two "/" in 40 characters
# with no 16-character stretch between them).
_PATH_SEGMENT_MAX_LENGTH = 16

# Attributes whose values are one-way digests by name (logfire's `logfire.exception.fingerprint`, a prompt's
# `content_hash`, an approval `digest`): hashes are not secrets and are needed to correlate, so only the
# unprefixed-long-token rule is skipped for them. E-mails, phones and prefixed keys are still redacted.
_DIGEST_KEY_PATTERN = re.compile(r"(?:fingerprint|digest|hash|sha\d*)$", re.IGNORECASE)

# Named groups for the detection-only copies of our patterns given to logfire (see the module docstring).
_SCRUBBING_GROUP_PREFIX = "signoff_"
_DETECTION_PATTERNS: Mapping[str, re.Pattern[str]] = {
    "email": EMAIL_PATTERN,
    "phone": PHONE_PATTERN,
    "api_key": API_KEY_PATTERN,
    "bearer": BEARER_TOKEN_PATTERN,
    "url_secret": URL_SECRET_PARAMETER_PATTERN,
    "long_token": LONG_TOKEN_PATTERN,
}
_SCRUBBING_EXTRA_PATTERNS = [
    rf"(?P<{_SCRUBBING_GROUP_PREFIX}{name}>(?={pattern.pattern}))" for name, pattern in _DETECTION_PATTERNS.items()
]


def redact_text(text: str) -> str:
    """Replace e-mail addresses, phone numbers and API-key-shaped secrets in `text` with `[redacted:...]` markers.

    Everything else is kept, so `"send to ann@example.com failed: 429"` becomes
    `"send to [redacted:email] failed: 429"`. Use it for error messages and summaries before logging them.
    """
    return _redact(text, digests_allowed=False)


def _redact(text: str, *, digests_allowed: bool) -> str:
    # Prefixed keys first: an `sk-...` key must not be half-eaten by the phone or long-token rules.
    text = API_KEY_PATTERN.sub(REDACTED_SECRET, text)
    text = BEARER_TOKEN_PATTERN.sub(REDACTED_SECRET, text)
    text = URL_SECRET_PARAMETER_PATTERN.sub(_replace_url_secret, text)
    text = EMAIL_PATTERN.sub(REDACTED_EMAIL, text)
    text = PHONE_PATTERN.sub(_replace_phone, text)
    if not digests_allowed:
        text = LONG_TOKEN_PATTERN.sub(_replace_long_token, text)
    return text


def _replace_url_secret(match: re.Match[str]) -> str:
    name, _, _ = match.group(0).partition("=")
    return f"{name}={REDACTED_SECRET}"


def _replace_phone(match: re.Match[str]) -> str:
    candidate = match.group(0)
    digits = sum(character.isdigit() for character in candidate)
    minimum = _MIN_PHONE_DIGITS_INTERNATIONAL if candidate.startswith("+") else _MIN_PHONE_DIGITS_NATIONAL
    return REDACTED_PHONE if minimum <= digits <= _MAX_PHONE_DIGITS else candidate


def _replace_long_token(match: re.Match[str]) -> str:
    candidate = match.group(0)
    return REDACTED_SECRET if _looks_random(candidate) else candidate


def _looks_random(candidate: str) -> bool:
    segments = candidate.split("/")
    if len(segments) > 2 and all(len(segment) < _PATH_SEGMENT_MAX_LENGTH for segment in segments):
        return False
    has_digit = any(character.isdigit() for character in candidate)
    has_letter = any(character.isalpha() for character in candidate)
    if _HEX_TOKEN.fullmatch(candidate):
        return has_digit and has_letter
    has_upper = any(character.isupper() for character in candidate)
    has_lower = any(character.islower() for character in candidate)
    return has_digit and has_upper and has_lower


def _digests_allowed(key: str | None) -> bool:
    return key is not None and _DIGEST_KEY_PATTERN.search(key) is not None


def _scrub_callback(match: logfire.ScrubMatch) -> Any:
    """Tell logfire what to put in place of a value one of its patterns matched.

    Returning `None` keeps logfire's own behaviour (replace the whole value); any other value replaces it.
    """
    group = match.pattern_match.lastgroup
    if group is None or not group.startswith(_SCRUBBING_GROUP_PREFIX):
        # One of logfire's default patterns (password, api_key, auth, ...): keep its whole-value redaction.
        return None
    value = match.value
    if not isinstance(value, str) or match.pattern_match.string is not value:
        # Our pattern matched a dict *key* (e.g. an address used as a key): the value under it is about that
        # person, so blank it whole. The key itself is redacted later by `RedactingSpanProcessor`.
        return None
    key = next((part for part in reversed(match.path) if isinstance(part, str)), None)
    redacted = _redact(value, digests_allowed=_digests_allowed(key))
    for later_match in match.pattern_match.re.finditer(redacted):
        if later_match.lastgroup is None and later_match.span() != (0, len(redacted)):
            # logfire's search stops at the first hit, which was ours; a default pattern (e.g. "password") further
            # along must still blank the value, as it would have without our patterns.
            return None
    return redacted


class RedactingSpanProcessor(SpanProcessor):
    """Redacts e-mails, phones and secrets from span names, attributes, events, links and status descriptions.

    It must be the first span processor, which `configure_telemetry` guarantees: `on_end` rewrites the finished
    span in place so that every processor after it (console, logfire, OTLP, test exporters) exports the redacted
    version. The in-place rewrite is needed because logfire hands the same `ReadableSpan` object to all its
    processors in turn and OpenTelemetry offers no public way to replace it; the private fields written here are
    the ones `ReadableSpan`'s own properties read, and `tests/telemetry` pins the behaviour.
    """

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        name = redact_text(span.name)
        if name != span.name:
            span.update_name(name)
        # A live span's attributes can be overwritten but not deleted, so keys are left to `on_end`.
        for key, value in (span.attributes or {}).items():
            new_value = _redact_value(key, value)
            if new_value is not value:
                span.set_attribute(key, new_value)

    def on_end(self, span: ReadableSpan) -> None:
        name = redact_text(span.name)
        attributes = _redact_attributes(span.attributes)
        events = [_redact_event(event) for event in span.events]
        links = [_redact_link(link) for link in span.links]
        status = span.status
        # Only ERROR statuses carry a description; OpenTelemetry drops it for the others.
        description = redact_text(status.description) if status.description else status.description
        if name != span.name:
            span._name = name  # pyright: ignore[reportPrivateUsage]
        if attributes is not None:
            span._attributes = BoundedAttributes(attributes=attributes)  # pyright: ignore[reportPrivateUsage]
        if any(new is not old for new, old in zip(events, span.events, strict=True)):
            span._events = events  # pyright: ignore[reportPrivateUsage]
        if any(new is not old for new, old in zip(links, span.links, strict=True)):
            span._links = links  # pyright: ignore[reportPrivateUsage]
        if description != status.description:
            span._status = Status(status.status_code, description)  # pyright: ignore[reportPrivateUsage]


class RedactingLogRecordProcessor(LogRecordProcessor):
    """Redacts e-mails, phones and secrets from OTel log record bodies and attributes, keys included.

    Runs after logfire's scrubber and before every log exporter; `ReadWriteLogRecord` is meant to be modified here.
    """

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        record = log_record.log_record
        body = _redact_value(None, record.body)
        attributes = _redact_attributes(record.attributes)
        if body is record.body and attributes is None:
            return
        redacted = copy.copy(record)
        redacted.body = body
        if attributes is not None:
            redacted.attributes = BoundedAttributes(attributes=attributes)
        log_record.log_record = redacted

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def _redact_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Return the attributes with keys and values redacted, or None when nothing changed."""
    if not attributes:
        return None
    redacted: dict[str, Any] = {}
    changed = False
    for key, value in attributes.items():
        new_key = redact_text(key)
        new_value = _redact_value(key, value)
        changed = changed or new_key != key or new_value is not value
        redacted[new_key] = new_value
    return redacted if changed else None


def _redact_value(key: str | None, value: Any) -> Any:
    """Redact strings, recursing into sequences and mappings; return `value` itself when nothing changed."""
    digests_allowed = _digests_allowed(key)
    if isinstance(value, str):
        redacted = _redact(value, digests_allowed=digests_allowed)
        return value if redacted == value else redacted
    if isinstance(value, (list, tuple)):
        items = cast("Sequence[object]", value)
        new_items = [_redact_value(key, item) for item in items]
        unchanged = all(new is old for new, old in zip(new_items, items, strict=True))
        return items if unchanged else tuple(new_items)
    if isinstance(value, Mapping):
        # Log bodies may be mappings (structured logs); attribute values never are.
        mapping = cast("Mapping[object, object]", value)
        new_mapping: dict[str, object] = {}
        changed = False
        for item_key, item_value in mapping.items():
            new_key = redact_text(str(item_key))
            new_value = _redact_value(str(item_key), item_value)
            changed = changed or new_key != item_key or new_value is not item_value
            new_mapping[new_key] = new_value
        return new_mapping if changed else mapping
    return value


def _redact_event(event: Event) -> Event:
    name = redact_text(event.name)
    attributes = _redact_attributes(event.attributes)
    if name == event.name and attributes is None:
        return event
    new_attributes = event.attributes if attributes is None else BoundedAttributes(attributes=attributes)
    return Event(name=name, attributes=new_attributes, timestamp=event.timestamp)


def _redact_link(link: Link) -> Link:
    attributes = _redact_attributes(link.attributes)
    if attributes is None:
        return link
    return Link(link.context, BoundedAttributes(attributes=attributes))


def scrubbing_options() -> logfire.ScrubbingOptions:
    """logfire scrubbing extended to e-mail addresses, phone numbers and secrets, for any `logfire.configure` call."""
    return logfire.ScrubbingOptions(extra_patterns=_SCRUBBING_EXTRA_PATTERNS, callback=_scrub_callback)


def configure_telemetry(
    *,
    service_name: str = "signoff",
    logfire_token: str | None = None,
    console: bool = False,
    environment: str | None = None,
    instrument_pydantic_ai: bool = True,
    additional_span_processors: Sequence[SpanProcessor] = (),
    additional_log_record_processors: Sequence[LogRecordProcessor] = (),
) -> None:
    """Configure logfire for this process; safe to call again (each call replaces the previous setup).

    Args:
        service_name: The `service.name` resource attribute.
        logfire_token: A logfire write token. Without one nothing is exported off the machine.
        console: Print spans and logs to the terminal (off by default: the CLI prints its own output).
        environment: The `deployment.environment.name` resource attribute, e.g. `"staging"`.
        instrument_pydantic_ai: Trace agent runs, model requests and tool calls, without their content
            (prompts, model text, tool arguments and results, binary parts). `False` turns that tracing off.
        additional_span_processors: More span processors, e.g. an exporter; they receive redacted spans.
        additional_log_record_processors: More OTel log record processors; they receive redacted records.
    """
    logfire.configure(
        # `if-token-present` would also pick up LOGFIRE_TOKEN or a credentials file when no token is passed,
        # so without a token exporting is switched off outright.
        send_to_logfire="if-token-present" if logfire_token else False,
        token=logfire_token or None,
        service_name=service_name,
        environment=environment,
        console=logfire.ConsoleOptions() if console else False,
        scrubbing=scrubbing_options(),
        # Ours first: processors run in order and each one after it must see the redacted span or record.
        additional_span_processors=[RedactingSpanProcessor(), *additional_span_processors],
        advanced=logfire.AdvancedOptions(
            log_record_processors=[RedactingLogRecordProcessor(), *additional_log_record_processors],
        ),
    )
    if instrument_pydantic_ai:
        logfire.instrument_pydantic_ai(include_content=False, include_binary_content=False)
    else:
        Agent.instrument_all(False)
