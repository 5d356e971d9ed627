"""What a person sees of a call awaiting approval: a display that attacker-controlled text cannot bend.

The model may be hijacked, so the arguments of a call waiting for a person, and the summary rendered from
them, are attacker-controlled text. This module turns one approval into an `ApprovalDisplay` that hides
nothing, for the three places a person decides (the inbox, the CLI, the HTTP API):

- characters that change how text reads without showing themselves (bidirectional controls, zero-width
  and other format characters of category Cf, C0 and C1 controls such as the ESC that starts a terminal
  escape sequence, private-use and unassigned code points) are shown as markers such as ⟦U+202E⟧;
- long runs of spaces or non-breaking spaces, and piles of blank lines, become one marker that says how
  many there were (⟦500 spaces⟧, ⟦300 blank lines⟧), so nothing sits out of view behind them;
- every domain of an address or a URL is listed in its Unicode and ASCII (IDNA, `xn--`) forms, flagged
  when it mixes scripts, has letters that pass for Latin ones, hid invisible characters, or (when the
  caller asked the CRM) has no contact in the CRM;
- lists longer than `MAX_LIST_ITEMS` are shown in part with "and N more", and the domain list and the
  warnings name every domain, whatever the summary or the list shows.

Every finding is also a warning in words, shown before the summary. The module is pure: a caller that
can ask the CRM passes the names from `domains_to_check` to its lookup, then the answer to
`approval_display(known_domains=...)`; `known_domains=None` means "not checked", never "unknown".
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import idna
from confusable_homoglyphs import categories, confusables

__all__ = [
    "MAX_BLANK_LINES",
    "MAX_BLANK_RUN",
    "MAX_LIST_ITEMS",
    "ApprovalDisplay",
    "CrmStatus",
    "DomainDisplay",
    "DomainFlag",
    "approval_display",
    "domains_to_check",
    "escaped_json",
    "neutralised",
    "render_arguments",
    "terminal_safe",
]

DomainFlag = Literal["idn", "mixed_script", "confusable", "invisible", "normalised", "invalid", "not_in_crm"]
"""What is wrong with (or worth knowing about) a domain: `idn` it has non-ASCII labels (its `xn--` form
differs), `mixed_script` a label mixes scripts, `confusable` it has letters that pass for Latin ones,
`invisible` invisible characters were removed from it, `normalised` it was written in another form of the
same name (fullwidth letters, ideographic dots), `invalid` it is no valid domain name, `not_in_crm` the
CRM has no contact there."""

CrmStatus = Literal["known", "unknown", "not_checked"]
"""Whether the CRM has contacts at a recipient's domain; `not_checked` when no CRM lookup was available,
and for domains that are only mentioned (the CRM is asked about where mail goes, not about every link)."""

MAX_BLANK_RUN = 12
"""Spaces (of any width, tabs included) in a row shown as they are; a longer run is one marker. Longer than
any indentation a message needs, far shorter than the width of a screen or a terminal."""

MAX_BLANK_LINES = 2
"""Blank lines in a row shown as they are (a paragraph break, with room to spare); more are one marker."""

MAX_LIST_ITEMS = 25
"""Items of a list shown in the argument rendering; the rest are counted ("and N more"). The warnings and
the domain list cover every item."""

MAX_COMBINING_MARKS = 4
"""Combining marks on one letter shown as they are (Vietnamese stacks two or three); more can smear a
letter over the text around it."""

_MAX_NAMED = 8
"""Places or characters a warning names before it says "and N more"."""

FindingKind = Literal[
    "bidi", "control", "invisible", "unknown", "whitespace", "blank_lines", "combining", "mixed_script", "marker"
]

_BIDI_CONTROLS = frozenset(chr(c) for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)))
# Default-ignorable code points that are not format characters (Cf), and blanks that draw nothing: they
# hide in text just as zero-width characters do.
_INVISIBLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors
    (0x2800, 0x2800),  # braille pattern blank
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xE0100, 0xE01EF),  # variation selectors supplement
)
_TAG_RANGE = (0xE0000, 0xE007F)  # tag characters: invisible copies of ASCII, used to smuggle text
_EMOJI_PRESENTATION = frozenset("\ufe0e\ufe0f")  # one after a symbol picks text or emoji style: harmless
_MARKER_BRACKETS = frozenset("⟦⟧")  # this display's own markers: shown escaped, so input cannot fake one
_SPACES = "\t \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"  # tab and the space separators (Zs)
_BLANK_LINES = re.compile(rf"\n(?:[{_SPACES}]*\n){{{MAX_BLANK_LINES + 1},}}")
_IDNA_DOTS = frozenset(".\u3002\uff0e\uff61")  # IDNA maps the ideographic and fullwidth full stops to "."
_CONTROL_NAMES = {
    0x00: "NULL",
    0x07: "BELL",
    0x08: "BACKSPACE",
    0x0B: "LINE TABULATION",
    0x0C: "FORM FEED",
    0x0D: "CARRIAGE RETURN",
    0x1B: "ESCAPE",
    0x7F: "DELETE",
    0x85: "NEXT LINE",
    0x9B: "CONTROL SEQUENCE INTRODUCER",
    0x9D: "OPERATING SYSTEM COMMAND",
}
_LATIN_LIKE = ["latin", "common"]  # letters judged against Latin; digits and punctuation (common) pass


@dataclass(frozen=True, kw_only=True)
class _Finding:
    kind: FindingKind
    where: str
    detail: str
    """A character's code point and name, a count, or a word, depending on `kind`."""


@dataclass(frozen=True, kw_only=True)
class DomainDisplay:
    """One domain of the call, as a person should read it."""

    unicode: str
    """The domain in Unicode (IDNA-decoded), or as written (hidden characters marked) when it is invalid."""
    ascii: str | None
    """Its ASCII form (`xn--...` for internationalised labels), the name mail and DNS actually use; None
    when it is no valid domain name."""
    flags: tuple[DomainFlag, ...]
    crm: CrmStatus
    recipients: int
    """How many of the call's recipients (its `recipients_arg`) are at this domain; 0 when it is only
    mentioned (another argument's address or a link)."""
    lookalikes: tuple[str, ...] = ()
    """Its letters that pass for Latin ones, described (`а (CYRILLIC SMALL LETTER A) looks like a`)."""


@dataclass(frozen=True, kw_only=True)
class ApprovalDisplay:
    """An approval as every surface shows it: warnings first, then the summary and the arguments."""

    summary: str
    """The summary with hidden characters marked and long blank runs collapsed."""
    arguments: str
    """The arguments as indented JSON of neutralised strings, long lists cut with "and N more"."""
    warnings: tuple[str, ...]
    domains: tuple[DomainDisplay, ...]
    changes: tuple[str, ...] = ()
    """What the call would overwrite in stored data, one neutralised line each (first, before the summary)."""


# --- characters -------------------------------------------------------------------------------------


def _code(char: str) -> str:
    return f"U+{ord(char):04X}"


def _char_name(char: str) -> str:
    name = unicodedata.name(char, "") or _CONTROL_NAMES.get(ord(char), "")
    if not name:
        category = unicodedata.category(char)
        name = {"Cc": "control character", "Co": "private-use character", "Cs": "surrogate"}.get(
            category, "unassigned code point"
        )
    return f"{_code(char)} {name}"


def _hidden_kind(char: str) -> FindingKind | None:
    """Why a character must be shown as a marker, or None for a character that shows itself."""
    if char in _BIDI_CONTROLS:
        return "bidi"
    if char in _MARKER_BRACKETS:
        return "marker"
    category = unicodedata.category(char)
    if category in ("Cc", "Zl", "Zp"):
        return "control"
    point = ord(char)
    if category == "Cf" or any(low <= point <= high for low, high in _INVISIBLE_RANGES):
        return "invisible"
    if category in ("Co", "Cn", "Cs"):
        return "unknown"
    return None


def _is_tag(char: str) -> bool:
    return _TAG_RANGE[0] <= ord(char) <= _TAG_RANGE[1]


def _is_blank(char: str) -> bool:
    return char == "\t" or unicodedata.category(char) == "Zs"


def _marked(text: str, *, where: str, findings: list[_Finding], collapse: bool) -> str:
    """`text` with hidden characters as markers. With `collapse` (input text), long blank runs and piles of
    marks become markers too, and the marker brackets are escaped; without it (text that may hold this
    display's markers already, on its way to a terminal) the brackets stay."""
    out: list[str] = []
    index, end = 0, len(text)
    while index < end:
        char = text[index]
        if char == "\n" or (char == "\t" and not collapse):
            out.append(char)
            index += 1
        elif collapse and _is_blank(char):
            stop = index
            while stop < end and _is_blank(text[stop]):
                stop += 1
            run = stop - index
            if run > MAX_BLANK_RUN:
                out.append(f"⟦{run} spaces⟧")
                findings.append(_Finding(kind="whitespace", where=where, detail=str(run)))
            else:
                out.append(text[index:stop])
            index = stop
        elif _is_tag(char):
            stop = index
            while stop < end and _is_tag(text[stop]):
                stop += 1
            spelled = "".join(
                chr(ord(c) - _TAG_RANGE[0]) for c in text[index:stop] if 0x20 <= ord(c) - _TAG_RANGE[0] < 0x7F
            )
            out.append(f"⟦{stop - index} tag characters, spelling “{spelled}”⟧")
            findings.append(_Finding(kind="invisible", where=where, detail="U+E0000–U+E007F TAG characters"))
            index = stop
        elif unicodedata.category(char) in ("Mn", "Me") and _hidden_kind(char) is None:
            stop = index
            while stop < end and unicodedata.category(text[stop]) in ("Mn", "Me") and _hidden_kind(text[stop]) is None:
                stop += 1
            run = stop - index
            if collapse and run > MAX_COMBINING_MARKS:
                out.append(text[index : index + MAX_COMBINING_MARKS])
                out.append(f"⟦{run - MAX_COMBINING_MARKS} more combining marks⟧")
                findings.append(_Finding(kind="combining", where=where, detail=str(run)))
            else:
                out.append(text[index:stop])
            index = stop
        else:
            kind = _hidden_kind(char)
            previous = text[index - 1] if index else ""
            if kind == "invisible" and char in _EMOJI_PRESENTATION and unicodedata.category(previous or " ") == "So":
                kind = None
            if kind == "marker" and not collapse:
                kind = None
            if kind is None:
                out.append(char)
                index += 1
                continue
            stop = index + 1
            while stop < end and text[stop] == char:
                stop += 1
            # A run of one hidden character is one marker with a count, not a wall of markers.
            out.append(f"⟦{_code(char)}⟧" if stop - index == 1 else f"⟦{_code(char)} ×{stop - index}⟧")
            findings.append(_Finding(kind=kind, where=where, detail=_char_name(char)))
            index = stop
    return "".join(out)


# Scripts that are written together: Japanese mixes these three, Korean mixes Hangul and Han.
_SCRIPTS_WRITTEN_TOGETHER = (frozenset({"HAN", "HIRAGANA", "KATAKANA"}), frozenset({"HAN", "HANGUL"}))


def _script_of(char: str) -> str:
    return categories.alias(char)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]


def _mixes_scripts(word: str) -> bool:
    """Whether the letters of `word` come from more than one script (digits and marks do not count),
    except combinations a language writes together."""
    scripts = {_script_of(c) for c in word if c.isalpha()} - {"COMMON", "INHERITED"}
    return len(scripts) > 1 and not any(scripts <= together for together in _SCRIPTS_WRITTEN_TOGETHER)


def _mixed_script_words(text: str, *, where: str, findings: list[_Finding]) -> None:
    for match in re.finditer(r"\w+", text):
        word = match.group()
        if word.isascii() or not _mixes_scripts(word):
            continue
        scripts = [_script_of(c) for c in word if c.isalpha()]
        main = max(set(scripts), key=scripts.count)
        strangers = sorted({c for c in word if c.isalpha() and _script_of(c) != main})
        described = ", ".join(f"{c} is {unicodedata.name(c, _code(c))}" for c in strangers)
        findings.append(_Finding(kind="mixed_script", where=where, detail=f"{word} ({described})"))


def _neutralise(text: str, *, where: str, findings: list[_Finding]) -> str:
    """The display's form of `text`. The markers this adds (blank lines, domains' other forms) are put
    between the marked pieces of the input, so that they are never marked themselves."""
    _mixed_script_words(text, where=where, findings=findings)
    text = text.replace("\r\n", "\n")
    pieces: list[str] = []
    start = 0
    for match in _BLANK_LINES.finditer(text):
        pieces.append(_with_domain_forms(text[start : match.start()], where=where, findings=findings))
        lines = match.group().count("\n") - 1
        findings.append(_Finding(kind="blank_lines", where=where, detail=str(lines)))
        pieces.append(f"\n\n⟦{lines} blank lines⟧\n\n")
        start = match.end()
    pieces.append(_with_domain_forms(text[start:], where=where, findings=findings))
    return "".join(pieces)


def _with_domain_forms(text: str, *, where: str, findings: list[_Finding]) -> str:
    """Marked `text`, each domain not written in its plain ASCII form followed by the other form:
    `pаypal.com ⟦xn--pypal-4ve.com⟧`, `xn--pypal-4ve.com ⟦pаypal.com⟧`."""
    pieces: list[str] = []
    start = 0
    for _begin, end, written in _written_domains(text):
        domain = _read_domain(written)
        if domain.ascii is None or written.lower() == domain.ascii == domain.unicode:
            continue
        other = domain.unicode if written.lower() == domain.ascii else domain.ascii
        pieces.append(_marked(text[start:end], where=where, findings=findings, collapse=True))
        pieces.append(f" ⟦{other}⟧")
        start = end
    pieces.append(_marked(text[start:], where=where, findings=findings, collapse=True))
    return "".join(pieces)


def neutralised(text: str) -> str:
    """`text` as the display shows it: hidden characters as markers, long blank runs and piles collapsed."""
    return _neutralise(text, where="text", findings=[])


def terminal_safe(text: str) -> str:
    """`text` with control, bidirectional and invisible characters as markers, and nothing else changed
    (tables keep their padding): what a command may print to a terminal whatever a value holds."""
    return _marked(text, where="text", findings=[], collapse=False)


def escaped_json(value: Any) -> str:
    """Indented JSON of `value` (keys sorted) in which every hidden character, non-ASCII space and run of
    more than `MAX_BLANK_RUN` spaces is written as `\\uXXXX` escapes: parsing it gives back exactly
    `value`, and a person editing it sees every character."""
    return _escaped_json(value, depth=0)


def _escaped_json(value: Any, *, depth: int) -> str:
    inner, outer = "  " * (depth + 1), "  " * depth
    if isinstance(value, Mapping) and value:
        items = sorted((str(k), v) for k, v in value.items())  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        lines = [f"{inner}{_escaped_string(k)}: {_escaped_json(v, depth=depth + 1)}" for k, v in items]
        return "{\n" + ",\n".join(lines) + f"\n{outer}}}"
    if isinstance(value, Sequence) and not isinstance(value, str | bytes) and value:
        lines = [f"{inner}{_escaped_json(item, depth=depth + 1)}" for item in value]  # pyright: ignore[reportUnknownVariableType]
        return "[\n" + ",\n".join(lines) + f"\n{outer}]"
    if isinstance(value, str):
        return _escaped_string(value)
    return json.dumps(value)


def _escaped_string(text: str) -> str:
    """One JSON string literal; json.dumps escapes quotes, backslashes and C0 controls, this the rest."""
    literal = json.dumps(text, ensure_ascii=False)
    literal = "".join(_escaped_char(char) if _needs_escape(char) else char for char in literal)
    return re.sub(rf" {{{MAX_BLANK_RUN + 1},}}", lambda run: _escaped_char(" ") * len(run.group()), literal)


def _needs_escape(char: str) -> bool:
    kind = _hidden_kind(char)
    return (kind is not None and kind != "marker") or (char not in " \t" and _is_blank(char))


def _escaped_char(char: str) -> str:
    units = char.encode("utf-16-be")  # a code point past U+FFFF is a surrogate pair in JSON
    return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))


# --- arguments --------------------------------------------------------------------------------------


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _shown_value(value: Any, *, path: str, findings: list[_Finding], limit: int | None) -> Any:
    if isinstance(value, str):
        return _neutralise(value, where=path or "arguments", findings=findings)
    if isinstance(value, Mapping):
        shown: dict[str, Any] = {}
        for key, item in value.items():  # pyright: ignore[reportUnknownVariableType]
            name = _neutralise(str(key), where=f"a key of {path or 'the arguments'}", findings=findings)  # pyright: ignore[reportUnknownArgumentType]
            shown[name] = _shown_value(item, path=_child(path, name), findings=findings, limit=limit)
        return shown
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        items = [
            _shown_value(item, path=_child(path, index), findings=findings, limit=limit)
            for index, item in enumerate(value)  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
        ]
        if limit is not None and len(items) > limit:
            items = [*items[:limit], f"⟦… and {len(items) - limit} more ({len(items)} in all)⟧"]
        return items
    return value


def render_arguments(args: Mapping[str, Any], *, limit: int | None = MAX_LIST_ITEMS) -> str:
    """Arguments as indented JSON of neutralised strings (not JSON to parse back: see `escaped_json`)."""
    return json.dumps(_shown_value(args, path="", findings=[], limit=limit), indent=2, ensure_ascii=False)


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path or "arguments", value
    elif isinstance(value, Mapping):
        for key, item in value.items():  # pyright: ignore[reportUnknownVariableType]
            yield from _strings(item, _child(path, str(key)))  # pyright: ignore[reportUnknownArgumentType]
    elif isinstance(value, Sequence) and not isinstance(value, bytes):
        for index, item in enumerate(value):  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
            yield from _strings(item, _child(path, index))


# --- domains ----------------------------------------------------------------------------------------


def _is_domain_char(char: str) -> bool:
    return (
        char.isalnum()
        or char in "-_"
        or char in _IDNA_DOTS
        or unicodedata.category(char) in ("Mn", "Mc", "Me")
        or _hidden_kind(char) in ("bidi", "invisible")
    )


def _written_domains(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, domain) for each domain written after an `@` (an address) or a `://` (a URL), as
    written: hidden characters in it stay, so that the display can say they were there."""
    for match in re.finditer(r"@|://", text):
        start = stop = match.end()
        while stop < len(text) and _is_domain_char(text[stop]):
            stop += 1
        while stop > start and (text[stop - 1] in _IDNA_DOTS or text[stop - 1] == "-" or _hidden_kind(text[stop - 1])):
            stop -= 1
        written = text[start:stop]
        if any(c in _IDNA_DOTS for c in written):
            yield start, stop, written


@dataclass(kw_only=True)
class _Domain:
    unicode: str
    ascii: str | None
    flags: set[DomainFlag] = field(default_factory=set[DomainFlag])
    lookalikes: list[str] = field(default_factory=list[str])
    recipients: int = 0

    @property
    def key(self) -> str:
        return self.ascii or self.unicode

    @property
    def names(self) -> list[str]:
        """The forms a CRM may store it under."""
        return sorted({self.unicode.lower(), *([self.ascii] if self.ascii else [])})


def _read_domain(written: str) -> _Domain:
    visible = "".join(c for c in written if _hidden_kind(c) is None)
    flags: set[DomainFlag] = set()
    if visible != written:
        flags.add("invisible")
    try:
        ascii_form = idna.encode(visible, uts46=True).decode("ascii")
        unicode_form = idna.decode(ascii_form)
    except (idna.IDNAError, UnicodeError):
        return _Domain(unicode=terminal_safe(written).lower(), ascii=None, flags={*flags, "invalid"})
    domain = _Domain(unicode=unicode_form, ascii=ascii_form, flags=flags)
    if "xn--" in ascii_form:
        flags.add("idn")
    if visible.lower() not in (unicode_form, ascii_form):
        flags.add("normalised")
    for label in unicode_form.split("."):
        if label.isascii():
            continue
        if _mixes_scripts(label):
            flags.add("mixed_script")
        found = confusables.is_confusable(label, greedy=True, preferred_aliases=_LATIN_LIKE)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        for entry in found or []:  # pyright: ignore[reportUnknownVariableType]
            latin = [g["c"] for g in entry["homoglyphs"] if g["c"].isascii() and g["c"].isalnum()]  # pyright: ignore[reportUnknownVariableType]
            if latin:
                flags.add("confusable")
                char: str = entry["character"]  # pyright: ignore[reportUnknownVariableType]
                domain.lookalikes.append(f"{char} ({unicodedata.name(char, _code(char))}) looks like {latin[0]}")
    return domain


def _recipients(args: Mapping[str, Any], recipients_arg: str | None) -> list[str]:
    value = args.get(recipients_arg) if recipients_arg is not None else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return [str(item) for item in value]  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
    return []


def _domains(args: Mapping[str, Any], recipients_arg: str | None) -> list[_Domain]:
    """Every domain of the call, once each: the recipients' first (most addresses first), then the others."""
    found: dict[str, _Domain] = {}

    def add(written: str) -> _Domain:
        domain = _read_domain(written)
        seen = found.setdefault(domain.key, domain)
        if seen is not domain:  # the same name written another way: what each way showed counts
            seen.flags |= domain.flags
            seen.lookalikes.extend(d for d in domain.lookalikes if d not in seen.lookalikes)
        return seen

    for address in _recipients(args, recipients_arg):
        if "@" in address:
            add(address.rsplit("@", 1)[1]).recipients += 1
    for _where, text in _strings(args):
        for _start, _end, written in _written_domains(text):
            add(written)
    ordered = list(found.values())
    ordered.sort(key=lambda d: -d.recipients)  # stable: first seen first among equals
    return ordered


def domains_to_check(args: Mapping[str, Any], *, recipients_arg: str | None) -> list[str]:
    """The names to ask the CRM about: each recipient domain's ASCII and Unicode forms, lower-cased."""
    return sorted({name for domain in _domains(args, recipients_arg) if domain.recipients for name in domain.names})


# --- warnings ---------------------------------------------------------------------------------------


def _listing(items: Sequence[str], *, limit: int | None = _MAX_NAMED) -> str:
    """'a, b and c'; past `limit` items, 'a, b, ... and 4 more'. Never cut silently."""
    if limit is not None and len(items) > limit:
        return f"{', '.join(items[:limit])} and {len(items) - limit} more"
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _unique(values: Iterator[str]) -> list[str]:
    return list(dict.fromkeys(values))


_CHARACTER_WARNINGS: dict[FindingKind, str] = {
    "bidi": "Bidirectional control characters in {places}: {details}. They can make text read in another order "
    "than it is stored; each is shown as ⟦U+…⟧.",
    "control": "Control characters in {places}: {details}. A terminal acts on them (an escape sequence can clear "
    "the screen, move the cursor or rewrite a line); each is shown as ⟦U+…⟧.",
    "invisible": "Invisible characters in {places}: {details}. They hide inside words and addresses; each is "
    "shown as ⟦U+…⟧.",
    "unknown": "Private-use or unassigned characters in {places}: {details}. Nobody can tell how they look; each "
    "is shown as ⟦U+…⟧.",
    "whitespace": "Long runs of spaces (up to {most} in a row) in {places}: text after them could sit out of "
    "view. Each run is shown as ⟦N spaces⟧.",
    "blank_lines": "Runs of blank lines (up to {most} in a row) in {places}: text after them could sit out of "
    "view. Each run is shown as ⟦N blank lines⟧.",
    "combining": "Piles of combining marks (up to {most} on one letter) in {places}: they can smear over the text "
    "around them. The extra marks are shown as ⟦N more combining marks⟧.",
    "mixed_script": "Words that mix scripts in {places}: {details}. A letter of another alphabet can pass for a "
    "Latin one.",
    "marker": "The brackets ⟦ ⟧ this display marks characters with appear in {places}; they are shown as "
    "⟦U+27E6⟧ and ⟦U+27E7⟧, so that they cannot fake a marker.",
}


def _character_warnings(findings: Sequence[_Finding]) -> list[str]:
    warnings: list[str] = []
    for kind, template in _CHARACTER_WARNINGS.items():
        mine = [f for f in findings if f.kind == kind]
        if not mine:
            continue
        details = _unique(f.detail for f in mine)
        warnings.append(
            template.format(
                places=_listing(_unique(f.where for f in mine)),
                details=_listing(details),
                most=max((int(d) for d in details if d.isdigit()), default=0),
            )
        )
    return warnings


def _domain_name(domain: DomainDisplay, *extra: str) -> str:
    """`pаypal.com (xn--pypal-4ve.com, 3 addresses)`: the ASCII form whenever it differs."""
    notes = [*([domain.ascii] if domain.ascii is not None and domain.ascii != domain.unicode else []), *extra]
    return f"{domain.unicode} ({', '.join(notes)})" if notes else domain.unicode


def _domain_warning(domain: DomainDisplay) -> str | None:
    problems: list[str] = []
    if "invalid" in domain.flags:
        problems.append("is not a valid domain name")
    if "mixed_script" in domain.flags:
        problems.append("mixes scripts")
    if "confusable" in domain.flags:
        problems.append(f"has letters that pass for Latin ones: {_listing(domain.lookalikes)}")
    if "invisible" in domain.flags:
        problems.append("was written with invisible characters in it")
    if "normalised" in domain.flags:
        problems.append("was written in another form of this name (fullwidth letters or dots)")
    if "idn" in domain.flags and not problems:
        problems.append("is internationalised: mail goes to its ASCII form")
    if not problems:
        return None
    return f"The domain {_domain_name(domain)} {'; '.join(problems)}."


def _crm_warning(domains: Sequence[DomainDisplay]) -> str | None:
    outside = [d for d in domains if d.recipients and d.crm == "unknown"]
    if not outside:
        return None
    named = [_domain_name(d, f"{d.recipients} {'address' if d.recipients == 1 else 'addresses'}") for d in outside]
    count = f"{len(outside)} recipient {'domain has' if len(outside) == 1 else 'domains have'}"
    return f"{count} no contact in the CRM: {_listing(named, limit=None)}."


def _elision_warning(args: Mapping[str, Any], summary: str, recipients_arg: str | None) -> str | None:
    recipients = _recipients(args, recipients_arg)
    folded = summary.casefold()
    named = sum(1 for address in recipients if address.casefold() in folded)
    if named >= len(recipients):
        return None
    return (
        f"The summary names {named} of the {len(recipients)} recipients in {recipients_arg}; "
        "the domains listed with this approval count every one."
    )


# --- the display ------------------------------------------------------------------------------------


def approval_display(
    *,
    args: Mapping[str, Any],
    summary: str,
    recipients_arg: str | None,
    known_domains: Collection[str] | None,
    changes: Sequence[str] = (),
) -> ApprovalDisplay:
    """The display of one approval: its validated (JSON-shaped) `args` and the `summary` rendered from them.

    `recipients_arg` is the tool's argument of outbound addresses (`ToolSpec.recipients_arg`);
    `known_domains` the names (of `domains_to_check`) the CRM has contacts at, or None when no CRM could
    be asked: every domain is then `not_checked`, and no warning says anything about the CRM. Only the
    recipients' domains are checked; a domain that is only mentioned is `not_checked` either way.
    """
    findings: list[_Finding] = []
    shown_summary = _neutralise(summary, where="summary", findings=findings)
    shown_args = _shown_value(args, path="", findings=findings, limit=MAX_LIST_ITEMS)
    known = None if known_domains is None else {name.lower() for name in known_domains}
    domains: list[DomainDisplay] = []
    for domain in _domains(args, recipients_arg):
        crm: CrmStatus = "not_checked"
        if known is not None and domain.recipients:
            crm = "known" if known.intersection(domain.names) else "unknown"
        flags = sorted(domain.flags | ({"not_in_crm"} if crm == "unknown" else set()))
        domains.append(
            DomainDisplay(
                unicode=domain.unicode,
                ascii=domain.ascii,
                flags=tuple(flags),  # pyright: ignore[reportArgumentType]
                crm=crm,
                recipients=domain.recipients,
                lookalikes=tuple(domain.lookalikes),
            )
        )
    shown_changes = tuple(_neutralise(line, where="changes", findings=findings) for line in changes)
    warnings = _character_warnings(findings)
    if shown_changes:
        # Overwriting stored data is what the summary of a sync does not say: it is read before the summary.
        count = len(shown_changes)
        warnings.insert(
            0, f"This call overwrites stored data ({count} {'change' if count == 1 else 'changes'}); read them first."
        )
    warnings += [w for w in map(_domain_warning, domains) if w is not None]
    warnings += [w for w in (_crm_warning(domains), _elision_warning(args, summary, recipients_arg)) if w]
    return ApprovalDisplay(
        summary=shown_summary,
        arguments=json.dumps(shown_args, indent=2, ensure_ascii=False),
        warnings=tuple(warnings),
        domains=tuple(domains),
        changes=shown_changes,
    )
