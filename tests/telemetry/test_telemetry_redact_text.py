"""`redact_text`: what it must redact, and what it must leave alone."""

from __future__ import annotations

import time

import pytest

from signoff.agent.telemetry import REDACTED_EMAIL, REDACTED_PHONE, REDACTED_SECRET, redact_text
from tests.telemetry.telemetry_support import CANARY_EMAIL, CANARY_KEY, CANARY_PHONE

E, P, S = REDACTED_EMAIL, REDACTED_PHONE, REDACTED_SECRET

REDACTED_CASES = [
    pytest.param(f"key {CANARY_KEY} here", f"key {S} here", id="anthropic-key"),
    pytest.param("OPENAI=sk-proj-abcDEF1234567890abcdefXYZ", f"OPENAI={S}", id="openai-key"),
    pytest.param("stripe sk_test_FAKEfake1234567890FAKE", f"stripe {S}", id="stripe-key"),
    pytest.param("token ghp_FAKEfake1234567890FAKEfake1234567890", f"token {S}", id="github-token"),
    pytest.param("AIzaFAKEfake1234567890FAKEfake123456789", S, id="google-key"),
    pytest.param("aws AKIAIOSFODNN7EXAMPLE.", f"aws {S}.", id="aws-key-id"),
    pytest.param(
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        f"jwt {S}",
        id="jwt",
    ),
    pytest.param("Authorization: Bearer abcdef1234567890abcdef", f"Authorization: {S}", id="bearer-token"),
    pytest.param(
        "GET https://api.example.com/v2/find?domain=acme.com&api_key=abcd1234&limit=12",
        f"GET https://api.example.com/v2/find?domain=acme.com&api_key={S}&limit=12",
        id="url-api-key-parameter",
    ),
    pytest.param(
        "https://bucket.s3.amazonaws.com/a.csv?X-Amz-Expires=900&X-Amz-Signature=0a1b2c3d",
        f"https://bucket.s3.amazonaws.com/a.csv?X-Amz-Expires=900&X-Amz-Signature={S}",
        id="url-signature-parameter",
    ),
    pytest.param("hunter key 5f4dcc3b5aa765d61d8327deb882cf995f4dcc3b", f"hunter key {S}", id="long-hex"),
    pytest.param("secret Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MEFCQ0RFRkdI", f"secret {S}", id="long-base64"),
    pytest.param("aws wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", f"aws {S}", id="base64-with-slashes"),
    pytest.param(f"mail {CANARY_EMAIL}.", f"mail {E}.", id="email"),
    pytest.param("Ann <ann+crm@sub.example.co.uk>", f"Ann <{E}>", id="email-plus-subdomain"),
    pytest.param("?to=canary.person%40example.com&x=1", f"?to={E}&x=1", id="email-percent-encoded"),
    pytest.param(f'{{"to": "{CANARY_EMAIL}", "n": 12}}', f'{{"to": "{E}", "n": 12}}', id="email-in-json"),
    pytest.param(CANARY_EMAIL, E, id="email-whole-value"),
    pytest.param(f"call {CANARY_PHONE} now", f"call {P} now", id="phone-international-spaces"),
    pytest.param("+4930123456789", P, id="phone-international-compact"),
    pytest.param("+1 (555) 123-4567", P, id="phone-international-brackets"),
    pytest.param("(555) 123-4567 or 555.123.4567", f"{P} or {P}", id="phone-north-american"),
    pytest.param("ruf 030 1234 5678 an, oder 0171/2345678", f"ruf {P} an, oder {P}", id="phone-national"),
    pytest.param(
        f"failed for {CANARY_EMAIL} ({CANARY_PHONE}) with {CANARY_KEY}",
        f"failed for {E} ({P}) with {S}",
        id="all-three",
    ),
]

UNCHANGED_CASES = [
    pytest.param("12", id="small-number"),
    pytest.param("2026-11-27", id="date"),
    pytest.param("2026-11-27T10:30:00+01:00", id="timestamp-with-offset"),
    pytest.param("send_outreach_email", id="tool-name"),
    pytest.param("lookup_contact", id="tool-name-2"),
    pytest.param("version 1.2.3, build 2026.11.27", id="versions"),
    pytest.param("order 4711 costs 1234567.89 EUR", id="amounts"),
    pytest.param("id 12345678901234567890", id="long-number"),
    pytest.param("run 0192f2a1-7c3e-7b21-9a4e-3f1d2c4b5a69", id="uuid"),
    pytest.param("pyd_ai_0875b016d3354d12ac00b0633a6ee3e7", id="tool-call-id"),
    pytest.param("sha256:5f4dcc3b5aa765d61d8327deb882cf995f4dcc3b5f4dcc3b5aa765d61d8327de", id="labelled-digest"),
    pytest.param("/Users/alice/Documents/Projects2025/signoff/agent/telemetry.py", id="file-path"),
    pytest.param("very_long_snake_case_function_name_for_something_else", id="long-identifier"),
    pytest.param("task-management-system-for-the-sales-team", id="hyphenated-words"),
    pytest.param("@decorator and user@localhost", id="at-signs-without-domain"),
    pytest.param("max 15 emails per batch, bearer bonds", id="prose"),
    pytest.param("AsiaPacificHeadquarters2024 and akiaiosfodnn7example", id="not-aws-keys"),
    pytest.param("room 101, floor 3, 10:30", id="small-numbers-in-prose"),
    pytest.param(f"{E} {P} {S}", id="markers-are-stable"),
]


@pytest.mark.parametrize(("text", "expected"), REDACTED_CASES)
def test_redact_text_redacts(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", UNCHANGED_CASES)
def test_redact_text_leaves_non_sensitive_text_alone(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(("text", "expected"), REDACTED_CASES)
def test_redact_text_is_idempotent(text: str, expected: str) -> None:
    assert redact_text(redact_text(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a" * 1_000_000, id="one-long-run"),
        pytest.param("x.y+z-" * 200_000, id="email-local-part-characters"),
        pytest.param("0 " * 500_000, id="digits-and-spaces"),
        pytest.param("aA1/" * 250_000, id="base64-characters"),
    ],
)
def test_redact_text_is_linear_on_large_input(text: str) -> None:
    # A quadratic pattern would take minutes here; large JSON attributes must not stall the exporter.
    started = time.perf_counter()
    redact_text(text)
    assert time.perf_counter() - started < 5
