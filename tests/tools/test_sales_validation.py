"""Argument validation of the sales tools: real constraints, but batch limits left to the policy layer."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from signoff.tools.registry import ToolArgumentsError, ToolSpec
from signoff.tools.sales.models import MAX_ITEMS_PER_CALL, Contact, IdealCustomerProfile


def _contacts(count: int) -> list[dict[str, Any]]:
    return [
        {"email": f"person{index}@acme-logistics.example", "first_name": "Ana", "last_name": f"Lopez{index}"}
        for index in range(count)
    ]


def _emails(count: int) -> list[str]:
    return [f"person{index}@acme-logistics.example" for index in range(count)]


def test_contact_rejects_a_malformed_email() -> None:
    with pytest.raises(ValidationError, match="value is not a valid email address"):
        Contact.model_validate({"email": "ana.lopez-at-acme", "first_name": "Ana", "last_name": "Lopez"})


def test_contact_rejects_reserved_special_use_domains() -> None:
    # `.test` and friends are refused by email-validator; `.example` (the offline domain) is accepted.
    with pytest.raises(ValidationError, match="special-use or reserved name"):
        Contact.model_validate({"email": "ana@acme.test", "first_name": "Ana", "last_name": "Lopez"})
    assert Contact.model_validate({"email": "ana@acme.example", "first_name": "Ana", "last_name": "Lopez"})


@pytest.mark.parametrize(
    ("field", "value"),
    [("first_name", ""), ("first_name", "   "), ("last_name", "x" * 101), ("title", "")],
)
def test_contact_enforces_name_and_title_lengths(field: str, value: str) -> None:
    raw = {"email": "ana@acme.example", "first_name": "Ana", "last_name": "Lopez", field: value}
    with pytest.raises(ValidationError) as raised:
        Contact.model_validate(raw)
    assert raised.value.errors()[0]["loc"] == (field,)


def test_contact_refuses_unknown_fields_instead_of_dropping_them() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Contact.model_validate({"email": "ana@acme.example", "first_name": "Ana", "last_name": "Lopez", "phone": "1"})


def test_contact_strips_surrounding_whitespace_and_normalises_the_email_domain() -> None:
    contact = Contact.model_validate({"email": "Ana.Lopez@ACME.example", "first_name": " Ana ", "last_name": "Lopez"})
    assert (contact.email, contact.first_name) == ("Ana.Lopez@acme.example", "Ana")


def test_icp_caps_titles_and_checks_the_size_band() -> None:
    IdealCustomerProfile(industry="Logistics", location="Germany", titles=[f"Title {n}" for n in range(10)])
    with pytest.raises(ValidationError, match="at most 10 items"):
        IdealCustomerProfile(industry="Logistics", location="Germany", titles=[f"Title {n}" for n in range(11)])
    with pytest.raises(ValidationError, match="company_size"):
        IdealCustomerProfile.model_validate({"industry": "Logistics", "location": "Germany", "company_size": "huge"})
    with pytest.raises(ValidationError, match="industry"):
        IdealCustomerProfile(industry="", location="Germany")


def test_sync_schema_accepts_a_batch_over_the_limit_so_policy_can_ask_to_split_it(
    sales_tools: dict[str, ToolSpec],
) -> None:
    spec = sales_tools["sync_contacts_to_crm"]
    args = spec.validate_args({"contacts": _contacts(12)})
    assert spec.max_batch == 10
    assert spec.batch_size(args) == 12
    assert len(args["contacts"]) == 12


@pytest.mark.parametrize(
    ("tool_name", "batch_arg", "make_items"),
    [
        ("sync_contacts_to_crm", "contacts", _contacts),
        ("enrich_contacts", "emails", _emails),
    ],
)
def test_batch_tools_refuse_empty_and_runaway_lists(
    sales_tools: dict[str, ToolSpec], tool_name: str, batch_arg: str, make_items: Any
) -> None:
    spec = sales_tools[tool_name]
    with pytest.raises(ToolArgumentsError, match="at least 1 item"):
        spec.validate_args({batch_arg: []})
    spec.validate_args({batch_arg: make_items(MAX_ITEMS_PER_CALL)})
    with pytest.raises(ToolArgumentsError, match=f"at most {MAX_ITEMS_PER_CALL} items"):
        spec.validate_args({batch_arg: make_items(MAX_ITEMS_PER_CALL + 1)})


def test_enroll_refuses_an_empty_list_and_a_bad_address(sales_tools: dict[str, ToolSpec]) -> None:
    spec = sales_tools["enroll_contacts"]
    with pytest.raises(ToolArgumentsError, match="emails: List should have at least 1 item"):
        spec.validate_args({"campaign_id": "cmp_1", "emails": []})
    with pytest.raises(ToolArgumentsError, match=r"emails\.1: value is not a valid email address"):
        spec.validate_args({"campaign_id": "cmp_1", "emails": ["ana@acme.example", "not an email"]})


def test_enrich_names_the_bad_address_in_the_error(sales_tools: dict[str, ToolSpec]) -> None:
    with pytest.raises(ToolArgumentsError) as raised:
        sales_tools["enrich_contacts"].validate_args({"emails": ["ana@acme.example", "bob@", "cy@acme.example"]})
    assert [error["loc"] for error in raised.value.errors] == [("emails", 1)]


@pytest.mark.parametrize(("limit", "valid"), [(0, False), (1, True), (100, True), (101, False)])
def test_discover_leads_limit_is_one_to_one_hundred(sales_tools: dict[str, ToolSpec], limit: int, valid: bool) -> None:
    spec = sales_tools["discover_leads"]
    raw = {"icp": {"industry": "Logistics", "location": "Germany"}, "limit": limit}
    if valid:
        assert spec.validate_args(raw)["limit"] == limit
    else:
        with pytest.raises(ToolArgumentsError, match="limit"):
            spec.validate_args(raw)


def test_discover_leads_defaults_to_ten_and_fills_icp_defaults(sales_tools: dict[str, ToolSpec]) -> None:
    args = sales_tools["discover_leads"].validate_args({"icp": {"industry": "Logistics", "location": "Germany"}})
    assert args == {
        "icp": {"industry": "Logistics", "location": "Germany", "company_size": None, "titles": []},
        "limit": 10,
    }


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"to": "not-an-email"}, "to: value is not a valid email address"),
        ({"subject": ""}, "subject: String should have at least 1 character"),
        ({"subject": "Hello\r\nBcc: everyone@acme.example"}, "subject: String should match pattern"),
        ({"subject": "x" * 201}, "subject: String should have at most 200 characters"),
        ({"body": "   "}, "body: String should have at least 1 character"),
        ({"body": "x" * 10_001}, "body: String should have at most 10000 characters"),
    ],
)
def test_send_email_arguments(sales_tools: dict[str, ToolSpec], override: dict[str, str], message: str) -> None:
    raw = {"to": "ana@acme.example", "subject": "Quick question", "body": "Hi Ana,\n\nShort note.\n\nBen"} | override
    with pytest.raises(ToolArgumentsError, match=message):
        sales_tools["send_email"].validate_args(raw)


def test_create_campaign_requires_a_name(sales_tools: dict[str, ToolSpec]) -> None:
    spec = sales_tools["create_campaign"]
    assert spec.validate_args({"name": " Logistics DACH "}) == {"name": "Logistics DACH", "description": None}
    with pytest.raises(ToolArgumentsError, match="name"):
        spec.validate_args({"name": " "})
