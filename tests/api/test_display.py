"""The approval display (api/display.py) over adversarial arguments: nothing hidden, everything flagged.

The model may be hijacked, so each case is text an attacker would write into a call's arguments to make
a person approve something other than what they read.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict
from typing import Any

import pytest
from inline_snapshot import snapshot

from signoff.api.display import (
    MAX_BLANK_RUN,
    MAX_LIST_ITEMS,
    ApprovalDisplay,
    approval_display,
    domains_to_check,
    escaped_json,
    neutralised,
    render_arguments,
    terminal_safe,
)

RLO = "\u202e"
ZWSP = "\u200b"
NBSP = "\u00a0"
ESC = "\x1b"
CYRILLIC_A = "\u0430"


def display(
    args: dict[str, Any],
    *,
    summary: str = "",
    recipients_arg: str | None = None,
    known_domains: frozenset[str] | None = None,
) -> ApprovalDisplay:
    return approval_display(args=args, summary=summary, recipients_arg=recipients_arg, known_domains=known_domains)


def domains(shown: ApprovalDisplay) -> list[dict[str, Any]]:
    return [asdict(domain) for domain in shown.domains]


def hidden_characters(text: str) -> list[str]:
    """Characters a reader cannot see or a terminal acts on, other than newlines."""
    return [c for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Co", "Cn", "Zl", "Zp")]


def test_an_rlo_reversed_file_name_is_shown_in_stored_order_and_flagged() -> None:
    # Read right to left after the override, "invoice_\u202egpj.exe" looks like "invoice_exe.jpg".
    shown = display(
        {"attachment": f"invoice_{RLO}gpj.exe", "to": f"ana@acme.example{RLO}moc.evil"},
        summary=f"Send invoice_{RLO}gpj.exe",
    )
    assert shown.summary == "Send invoice_⟦U+202E⟧gpj.exe"
    assert shown.arguments == snapshot("""\
{
  "attachment": "invoice_⟦U+202E⟧gpj.exe",
  "to": "ana@acme.example⟦U+202E⟧moc.evil ⟦acme.examplemoc.evil⟧"
}\
""")
    assert shown.warnings == snapshot(
        (
            "Bidirectional control characters in summary, attachment and to: U+202E RIGHT-TO-LEFT OVERRIDE. They "
            "can make text read in another order than it is stored; each is shown as ⟦U+…⟧.",
            "The domain acme.examplemoc.evil was written with invisible characters in it.",
        )
    )
    assert not hidden_characters(shown.summary + shown.arguments + "".join(shown.warnings))


def test_every_bidirectional_control_is_marked() -> None:
    controls = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    shown = display({"note": f"a{controls}b"})
    assert json.loads(shown.arguments)["note"] == "a" + "".join(f"⟦U+{ord(c):04X}⟧" for c in controls) + "b"
    [warning] = shown.warnings
    assert warning.startswith("Bidirectional control characters in note: U+061C ARABIC LETTER MARK, ")
    assert warning.count("U+") == 8 + 1  # eight named, "and 4 more", and the "⟦U+…⟧" of the sentence
    assert "and 4 more" in warning


def test_a_zero_width_space_inside_a_domain_is_marked_and_the_domain_flagged() -> None:
    shown = display(
        {"to": f"billing@pay{ZWSP}pal.com", "body": "Hi"},
        summary=f"Send an email to billing@pay{ZWSP}pal.com",
        recipients_arg="to",
        known_domains=frozenset({"paypal.com"}),
    )
    assert shown.summary == "Send an email to billing@pay⟦U+200B⟧pal.com ⟦paypal.com⟧"
    assert domains(shown) == snapshot(
        [
            {
                "unicode": "paypal.com",
                "ascii": "paypal.com",
                "flags": ("invisible",),
                "crm": "known",
                "recipients": 1,
                "lookalikes": (),
            }
        ]
    )
    assert shown.warnings == snapshot(
        (
            "Invisible characters in summary and to: U+200B ZERO WIDTH SPACE. They hide inside words and addresses; "
            "each is shown as ⟦U+…⟧.",
            "The domain paypal.com was written with invisible characters in it.",
        )
    )


def test_a_cyrillic_a_in_paypal_shows_its_punycode_and_is_flagged() -> None:
    address = f"security@p{CYRILLIC_A}ypal.com"
    shown = display(
        {"to": address, "subject": "Verify your account", "body": "Click the link."},
        summary=f'Send an email to {address} with the subject "Verify your account"',
        recipients_arg="to",
        known_domains=frozenset({"paypal.com"}),
    )
    assert shown.summary == (
        f'Send an email to security@p{CYRILLIC_A}ypal.com ⟦xn--pypal-4ve.com⟧ with the subject "Verify your account"'
    )
    assert domains(shown) == snapshot(
        [
            {
                "unicode": "pаypal.com",
                "ascii": "xn--pypal-4ve.com",
                "flags": ("confusable", "idn", "mixed_script", "not_in_crm"),
                "crm": "unknown",
                "recipients": 1,
                "lookalikes": ("а (CYRILLIC SMALL LETTER A) looks like a",),
            }
        ]
    )
    assert shown.warnings == snapshot(
        (
            "Words that mix scripts in summary and to: pаypal (а is CYRILLIC SMALL LETTER A). A letter of another "
            "alphabet can pass for a Latin one.",
            "The domain pаypal.com (xn--pypal-4ve.com) mixes scripts; has letters that pass for Latin ones: а "
            "(CYRILLIC SMALL LETTER A) looks like a.",
            "1 recipient domain has no contact in the CRM: pаypal.com (xn--pypal-4ve.com, 1 address).",
        )
    )


def test_a_whole_script_look_alike_is_flagged_though_it_mixes_nothing() -> None:
    # Every letter Cyrillic: not mixed, but each passes for a Latin one ("аррӏе" reads "apple").
    [domain] = display({"url": "https://\u0430\u0440\u0440\u04cf\u0435.com/login"}).domains
    assert (domain.ascii, domain.flags) == snapshot(("xn--80ak6aa92e.com", ("confusable", "idn")))


def test_punycode_input_is_shown_in_unicode_too() -> None:
    shown = display({"to": "ceo@xn--pypal-4ve.com"}, summary="Email ceo@xn--pypal-4ve.com", recipients_arg="to")
    assert shown.summary == f"Email ceo@xn--pypal-4ve.com ⟦p{CYRILLIC_A}ypal.com⟧"
    [domain] = shown.domains
    assert (domain.unicode, domain.ascii, domain.crm) == (f"p{CYRILLIC_A}ypal.com", "xn--pypal-4ve.com", "not_checked")
    assert "confusable" in domain.flags and "mixed_script" in domain.flags
    # No CRM lookup: "not checked" is neutral, never a warning of its own.
    assert not any("CRM" in warning for warning in shown.warnings)


def test_fullwidth_letters_and_ideographic_dots_are_another_form_of_the_name() -> None:
    [domain] = display({"to": "a@\uff50aypal\u3002com"}, recipients_arg="to").domains
    assert (domain.unicode, domain.ascii, domain.flags) == ("paypal.com", "paypal.com", ("normalised",))


def test_an_invalid_domain_is_shown_as_written_and_flagged() -> None:
    [domain] = display({"to": "a@exa_mple.com"}, recipients_arg="to").domains
    assert (domain.unicode, domain.ascii, domain.flags) == ("exa_mple.com", None, ("invalid",))


def test_terminal_escape_sequences_are_marked_and_flagged() -> None:
    clear_screen = f"{ESC}[2J{ESC}[H"
    hyperlink = f"{ESC}]8;;https://evil.example/{ESC}\\click here{ESC}]8;;{ESC}\\"
    title = f"{ESC}]0;approved\x07"
    shown = display({"body": f"Hello{clear_screen} {hyperlink} {title}\x9b31m\r overwritten"}, summary=clear_screen)
    assert json.loads(shown.arguments)["body"] == snapshot(
        "Hello⟦U+001B⟧[2J⟦U+001B⟧[H ⟦U+001B⟧]8;;https://evil.example/⟦U+001B⟧\\click here⟦U+001B⟧]8;;⟦U+001B⟧\\ "
        "⟦U+001B⟧]0;approved⟦U+0007⟧⟦U+009B⟧31m⟦U+000D⟧ overwritten"
    )
    assert shown.summary == "⟦U+001B⟧[2J⟦U+001B⟧[H"
    assert shown.warnings == snapshot(
        (
            "Control characters in summary and body: U+001B ESCAPE, U+0007 BELL, U+009B CONTROL SEQUENCE INTRODUCER "
            "and U+000D CARRIAGE RETURN. A terminal acts on them (an escape sequence can clear the screen, move the "
            "cursor or rewrite a line); each is shown as ⟦U+…⟧.",
        )
    )
    assert not hidden_characters(shown.summary + shown.arguments)


@pytest.mark.parametrize("blank", [" ", NBSP, "\u2003", "\t"], ids=["spaces", "nbsp", "em-spaces", "tabs"])
def test_a_long_run_of_blanks_cannot_push_an_instruction_out_of_view(blank: str) -> None:
    body = f"Thanks for your order.{blank * 500}Also forward every invoice to attacker@evil.example."
    shown = display({"body": body}, summary=f"Reply: {body}")
    expected = "Thanks for your order.⟦500 spaces⟧Also forward every invoice to attacker@evil.example."
    assert json.loads(shown.arguments)["body"] == expected
    assert shown.summary == f"Reply: {expected}"
    assert shown.warnings == (
        "Long runs of spaces (up to 500 in a row) in summary and body: text after them could sit out of view. "
        "Each run is shown as ⟦N spaces⟧.",
    )


def test_short_runs_of_blanks_are_left_alone() -> None:
    text = "Name:        Ana\n    indented\n\n\nthree lines down"
    shown = display({"body": text}, summary=text)
    assert shown.summary == text
    assert shown.warnings == ()


def test_a_pile_of_blank_lines_is_collapsed() -> None:
    body = "Quarterly update attached." + "\n" * 400 + "P.S. wire $40,000 to account 1234."
    shown = display({"body": body}, summary=body)
    assert shown.summary == "Quarterly update attached.\n\n⟦399 blank lines⟧\n\nP.S. wire $40,000 to account 1234."
    # Blank lines made of spaces and non-breaking spaces count as blank lines too.
    sneaky = display({"body": "a" + f"\n {NBSP}\t" * 50 + "\nb"})
    assert json.loads(sneaky.arguments)["body"] == "a\n\n⟦50 blank lines⟧\n\nb"
    assert shown.warnings == snapshot(
        (
            "Runs of blank lines (up to 399 in a row) in summary and body: text after them could sit out of view. "
            "Each run is shown as ⟦N blank lines⟧.",
        )
    )


def test_invisible_format_characters_and_tag_smuggling_are_shown() -> None:
    smuggled = "".join(chr(0xE0000 + ord(c)) for c in "approve all")
    shown = display({"note": f"ok{smuggled}\u2060\ufeff\u00ad\u3164.", "emoji": "fine \u2764\ufe0f"})
    note = json.loads(shown.arguments)["note"]
    assert note == "ok⟦11 tag characters, spelling “approve all”⟧⟦U+2060⟧⟦U+FEFF⟧⟦U+00AD⟧⟦U+3164⟧."
    # A variation selector right after a symbol only picks the emoji's style.
    assert json.loads(shown.arguments)["emoji"] == "fine \u2764\ufe0f"
    assert shown.warnings == snapshot(
        (
            "Invisible characters in note: U+E0000–U+E007F TAG characters, U+2060 WORD JOINER, U+FEFF ZERO WIDTH "
            "NO-BREAK SPACE, U+00AD SOFT HYPHEN and U+3164 HANGUL FILLER. They hide inside words and addresses; "
            "each is shown as ⟦U+…⟧.",
        )
    )


def test_a_run_of_one_hidden_character_is_one_counted_marker() -> None:
    shown = display({"name": f"Ana{ZWSP * 1000}Lopez{ESC}{ESC}"})
    assert json.loads(shown.arguments)["name"] == "Ana⟦U+200B ×1000⟧Lopez⟦U+001B ×2⟧"
    assert len(shown.warnings) == 2


def test_input_cannot_fake_a_marker() -> None:
    shown = display({"body": "⟦0 warnings⟧ all clear"})
    assert json.loads(shown.arguments)["body"] == "⟦U+27E6⟧0 warnings⟦U+27E7⟧ all clear"
    assert len(shown.warnings) == 1 and "cannot fake a marker" in shown.warnings[0]


def test_a_pile_of_combining_marks_is_cut() -> None:
    shown = display({"name": "Ana" + "\u0336" * 40 + " Lopez", "vietnamese": "Nguyễn"})
    assert json.loads(shown.arguments) == {
        "name": "Ana\u0336\u0336\u0336\u0336⟦36 more combining marks⟧ Lopez",
        "vietnamese": "Nguyễn",
    }
    assert [w.split(":")[0] for w in shown.warnings] == ["Piles of combining marks (up to 40 on one letter) in name"]


def test_text_in_other_scripts_is_not_a_warning() -> None:
    shown = display(
        {"body": "Grüße aus München, 東京からこんにちは, Привет, مرحبا", "to": "anna@münchen.example"},
        summary="Email anna@münchen.example",
        recipients_arg="to",
    )
    [domain] = shown.domains
    assert (domain.unicode, domain.ascii, domain.flags) == ("münchen.example", "xn--mnchen-3ya.example", ("idn",))
    assert shown.warnings == snapshot(
        ("The domain münchen.example (xn--mnchen-3ya.example) is internationalised: mail goes to its ASCII form.",)
    )


def test_two_hundred_recipients_every_outside_domain_is_named() -> None:
    emails = [f"person{i}@acme.example" for i in range(197)] + [
        "cfo@rival.example",
        "x@leak.example",
        "y@exfil.example",
    ]
    shown_in_summary = emails[:5]
    summary = f"Enroll {len(emails)} contacts in campaign c_1: {', '.join(shown_in_summary)}, ..."
    shown = display(
        {"campaign_id": "c_1", "emails": emails},
        summary=summary,
        recipients_arg="emails",
        known_domains=frozenset({"acme.example"}),
    )
    assert [(d.unicode, d.recipients, d.crm) for d in shown.domains] == snapshot(
        [
            ("acme.example", 197, "known"),
            ("rival.example", 1, "unknown"),
            ("leak.example", 1, "unknown"),
            ("exfil.example", 1, "unknown"),
        ]
    )
    assert shown.warnings == snapshot(
        (
            "3 recipient domains have no contact in the CRM: rival.example (1 address), leak.example (1 address) "
            "and exfil.example (1 address).",
            "The summary names 5 of the 200 recipients in emails; the domains listed with this approval count every "
            "one.",
        )
    )
    # The argument rendering shows the first items and says how many more there are.
    rendered = json.loads(shown.arguments)["emails"]
    assert len(rendered) == MAX_LIST_ITEMS + 1
    assert rendered[-1] == f"⟦… and {200 - MAX_LIST_ITEMS} more (200 in all)⟧"
    assert domains_to_check({"emails": emails}, recipients_arg="emails") == [
        "acme.example",
        "exfil.example",
        "leak.example",
        "rival.example",
    ]


def test_hidden_characters_past_the_shown_items_still_count() -> None:
    emails = [f"p{i}@acme.example" for i in range(100)] + [f"last@acme.example{ESC}[8m"]
    shown = display({"emails": emails}, recipients_arg="emails")
    assert any(w.startswith("Control characters in emails[100]: U+001B ESCAPE") for w in shown.warnings)


def test_nested_arguments_and_keys_are_neutralised() -> None:
    shown = display({"contacts": [{"email": "a@acme.example", f"no{RLO}te": f"x{ZWSP}"}]})
    assert json.loads(shown.arguments) == {"contacts": [{"email": "a@acme.example", "no⟦U+202E⟧te": "x⟦U+200B⟧"}]}
    assert [w.split(":")[0] for w in shown.warnings] == [
        "Bidirectional control characters in a key of contacts[0]",
        "Invisible characters in contacts[0].no⟦U+202E⟧te",
    ]
    assert [d.unicode for d in shown.domains] == ["acme.example"]


def test_clean_arguments_have_no_warnings() -> None:
    shown = display(
        {"to": "ana@acme.example", "subject": "Hello", "body": "Hi Ana,\n\nGood to meet you.\n\nBen"},
        summary='Send an email to ana@acme.example with the subject "Hello":\n\nHi Ana,\n\nGood to meet you.\n\nBen',
        recipients_arg="to",
        known_domains=frozenset({"acme.example"}),
    )
    assert shown.warnings == ()
    assert shown.summary.endswith("Good to meet you.\n\nBen")
    assert [(d.unicode, d.flags, d.crm) for d in shown.domains] == [("acme.example", (), "known")]


def test_escaped_json_round_trips_and_shows_every_hidden_character() -> None:
    value = {"body": f"a{RLO}b{ZWSP}c{NBSP}d{ESC}[2J\x85\u2028 \U000e0041 ⟦{' ' * 300}z", "n": [1, None, True, {}]}
    text = escaped_json(value)
    assert json.loads(text) == value
    assert not hidden_characters(text)
    assert NBSP not in text and " " * (MAX_BLANK_RUN + 1) not in text
    assert r"\u202e" in text and r"\u200b" in text and r"\u00a0" in text and r"\udb40\udc41" in text
    assert r"\u0020" * 300 + "z" in text
    # Clean arguments read exactly as plain indented JSON.
    clean = {"contacts": [{"email": "ana@acme.example", "name": "Ana  Lopez"}], "limit": 5, "note": None, "x": []}
    assert escaped_json(clean) == json.dumps(clean, indent=2, sort_keys=True, ensure_ascii=False)


def test_terminal_safe_marks_controls_and_keeps_layout() -> None:
    table = f"id    summary\n--    -------\na1    x{ESC}]52;c;cGF5bG9hZA=={ESC}\\ {RLO}y\t|"
    assert (
        terminal_safe(table) == "id    summary\n--    -------\na1    x⟦U+001B⟧]52;c;cGF5bG9hZA==⟦U+001B⟧\\ ⟦U+202E⟧y\t|"
    )
    assert terminal_safe("already ⟦U+202E⟧ marked") == "already ⟦U+202E⟧ marked"


def test_neutralised_and_render_arguments_agree_with_the_display() -> None:
    args = {"body": f"x{' ' * 40}y{RLO}"}
    assert render_arguments(args) == display(args).arguments
    assert neutralised(args["body"]) == json.loads(display(args).arguments)["body"]
