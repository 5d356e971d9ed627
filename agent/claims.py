"""Where a run's final answer claims an effect that the audit says did not happen.

The check is deliberately narrow, so that honest answers pass: a clause of the answer claims a tool's
effect when it uses one of the tool's effect words in the past tense ("sent", "emailed", "synced"), is
not negated ("was not sent", "nothing was synced"), not hedged ("will be sent once approved", "I asked
for approval to send") and not a question. A claim contradicts the audit when

- it names a value of a call (a recipient, a campaign name) whose effect did not happen, or
- it names no call, and no call of that tool happened, or
- the tool was never called at all (the claim must then name the tool's object: "the email", "the campaign").

A tool's effect words are its `ToolSafety.effect_verbs`; without them they come from its name: the past
tense of its first word (`send_email` -> "sent"), of nouns that are verbs too ("emailed"), and a few
common synonyms. Generic words ("created", "updated", "added") count only when the clause also names the
tool's object or one of its calls' values, so "I created a summary" is no claim about `create_campaign`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from signoff.agent.effects import Effect, EffectOutcome
from signoff.tools.registry import ToolRegistry, ToolSpec

__all__ = ["Contradiction", "ToolVocabulary", "check_claims", "tool_vocabulary"]

# A claim quoted in a note is cut to this length: the note must stay one readable line.
_MAX_CLAIM_CHARS = 160

# Words of a tool's name that say nothing about what it acts on.
_STOP_WORDS = frozenset({"a", "an", "the", "to", "from", "in", "into", "of", "for", "and", "by", "on", "with", "at"})

_IRREGULAR_PAST: dict[str, tuple[str, ...]] = {
    "send": ("sent",),
    "pay": ("paid",),
    "buy": ("bought",),
    "sell": ("sold",),
    "write": ("wrote", "written"),
    "make": ("made",),
    "build": ("built",),
    "give": ("gave", "given"),
    "take": ("took", "taken"),
    "run": ("ran",),
    "begin": ("began", "begun"),
    "forward": ("forwarded",),
    # Past and present are the same word: no tense to tell a claim from a plan.
    "set": (),
    "put": (),
    "cut": (),
}

# Other words an answer uses for the same effect. They need the tool's object or a call's value in the
# clause too, since each of them also means other things ("added a note", "delivered the summary").
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "send": ("emailed", "mailed", "delivered", "dispatched"),
    "email": ("sent", "mailed", "delivered"),
    "sync": ("synchronized", "synchronised", "upserted", "pushed", "uploaded", "imported", "added", "created"),
    "upsert": ("synced", "added", "created", "updated"),
    "create": ("set up", "added", "launched"),
    "enroll": ("enroled", "signed up", "subscribed", "added"),
    "assign": ("reassigned", "transferred"),
    "update": ("changed", "modified", "edited"),
    "delete": ("removed", "erased"),
    "remove": ("deleted",),
    "refund": ("reimbursed", "credited", "returned"),
    "charge": ("billed",),
    "cancel": ("canceled", "cancelled"),
    "book": ("scheduled", "reserved"),
    "post": ("published",),
    "publish": ("posted",),
    "notify": ("informed", "alerted"),
}

# Words too common to claim an effect on their own, even as a tool's own verb ("I created a summary").
_GENERIC = frozenset({"created", "updated", "added", "made", "set up", "changed", "modified", "started", "moved"})

# Nouns in tool names that are verbs too: `send_email` is claimed by "emailed" as well as by "sent".
_NOUN_VERBS: dict[str, tuple[str, ...]] = {
    "email": ("emailed", "e-mailed"),
    "mail": ("mailed",),
    "message": ("messaged",),
    "text": ("texted",),
    "sms": ("texted",),
    "invoice": ("invoiced",),
}

# Just before the effect word ("was not sent", "nothing has been synced", "0 contacts created").
_NEGATION = re.compile(r"\b(?:not|never|no|nothing|none|nobody|neither|nor|cannot|zero|0)\b|n[’']t\b", re.IGNORECASE)
# Just after it ("sent nothing", "synced none of them").
_NEGATION_AFTER = re.compile(r"^\s*(?:nothing|none|nobody|no one|no)\b", re.IGNORECASE)
# Just before it: the effect is future, possible or wished for ("will be sent", "would have been created").
_MODAL = re.compile(
    r"\b(?:will|would|could|should|can|may|might|shall|must|to be|going to|about to|ready to|needs? to|ha(?:s|ve) to)\b"
    r"|['’]ll\b",
    re.IGNORECASE,
)
# Anywhere in the clause: the effect waits for something, or the clause asks for it.
_CONDITION = re.compile(
    r"\b(?:if|once|unless|until|whether|pending|awaiting|waiting|queued|proposed|planned"
    r"|before (?:you|anyone|someone|a person|it is|it's|it was|it could|they are|they were|approv\w*|sign-?off|your)"
    r"|when (?:you|someone|a person|it is|they are|it's) approv\w*|(?:after|upon) (?:your |an? )?approval)\b"
    r"|\b(?:ask|asked|asking|request|requested|requesting|need|needs|needed|require|requires|required|seek|seeking"
    r"|sought)\b.{0,40}\bapprov"
    r"|\bfor (?:your |an? |human |a person's )?(?:approval|sign-?off)\b",
    re.IGNORECASE,
)
# A sentence that asks: it opens with a question word or an auxiliary.
_QUESTION = re.compile(
    r"^[\W_]*(?:who|what|when|where|which|why|how|should|shall|can|could|would|will|do|does|did|is|are|was"
    r"|were|have|has|had|may|might|must|want|shall)\b",
    re.IGNORECASE,
)
_WORDS_BEFORE = 6
_MODAL_WORDS_BEFORE = 4

# A sentence ends at . ! ? before blanks, or before a capital with no blank at all ("Done.I sent it"):
# the model writes the answer, and a missing space must not glue a claim onto a negated sentence.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|(?<=[a-z0-9)][.!?])(?=[A-Z])|\n+")
# Where a negation or hedge stops reaching: the end of the previous sentence or clause.
_LAST_BREAK = re.compile(r".*[.!?;:](?:\s+|$)", re.DOTALL)
_CLAUSE_BREAK = re.compile(
    r";|,?\s+\b(?:but|however|although|though|whereas|while|except)\b|,\s+and\b|\s[-–—]+\s", re.IGNORECASE
)


@dataclass(frozen=True, kw_only=True)
class ToolVocabulary:
    """The words by which an answer claims one tool's effect and names what the tool acts on.

    `standalone` words claim it alone ("sent"); the others of `verbs` need a noun or a call's value in
    the clause too. `implies_object` words name the object themselves ("emailed": an email).
    """

    tool_name: str
    verbs: tuple[str, ...]
    standalone: frozenset[str]
    implies_object: frozenset[str]
    nouns: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Contradiction:
    """A clause of the final answer that claims an effect the audit says did not happen.

    `effect` is the call it contradicts; None when the run (and its conversation) made no call of
    `tool_name` at all. `note` is the sentence shown beside the answer.
    """

    claim: str
    verb: str
    tool_name: str
    effect: Effect | None
    note: str

    @property
    def outcome(self) -> EffectOutcome | None:
        """What actually happened to the call the claim is about (None: there was no such call)."""
        return None if self.effect is None else self.effect.outcome


def tool_vocabulary(tool_name: str, spec: ToolSpec | None = None) -> ToolVocabulary:
    """The effect words and object nouns of a tool: its spec's `effect_verbs`, or derived from its name."""
    words = [word for word in re.split(r"[_\-\s]+|(?<=[a-z])(?=[A-Z])", tool_name.strip()) if word]
    words = [word.lower() for word in words]
    nouns = tuple(word for word in words[1:] if word not in _STOP_WORDS)
    if spec is not None and spec.effect_verbs:
        verbs = tuple(dict.fromkeys(verb.strip().lower() for verb in spec.effect_verbs if verb.strip()))
        return ToolVocabulary(
            tool_name=tool_name,
            verbs=verbs,
            standalone=frozenset(verbs),
            implies_object=frozenset(verbs),  # the tool's author chose them: they name its effect alone
            nouns=nouns,
        )
    first = words[0] if words else tool_name.lower()
    own = _past_forms(first)
    from_nouns = tuple(form for noun in nouns for form in _NOUN_VERBS.get(noun, ()))
    synonyms = _SYNONYMS.get(first, ()) + tuple(form for noun in nouns for form in _SYNONYMS.get(noun, ()))
    verbs = tuple(dict.fromkeys(own + from_nouns + synonyms))
    return ToolVocabulary(
        tool_name=tool_name,
        verbs=verbs,
        standalone=frozenset(form for form in own + from_nouns if form not in _GENERIC),
        implies_object=frozenset(from_nouns),
        nouns=nouns,
    )


def check_claims(
    answer: str | None,
    effects: Sequence[Effect],
    *,
    registry: ToolRegistry | None = None,
) -> tuple[Contradiction, ...]:
    """The clauses of `answer` that claim an effect `effects` say did not happen, in the answer's order.

    `effects` are the run's (with those of earlier runs of its conversation, which a follow-up may
    recount). The destructive tools of `registry` that were never called are checked too: an answer
    that says "I emailed ana@acme.example" about a run with no `send_email` call is contradicted.
    """
    if not answer:
        return ()
    by_tool: dict[str, list[Effect]] = {}
    for effect in effects:
        by_tool.setdefault(effect.tool_name, []).append(effect)
    specs = {spec.name: spec for spec in registry or () if spec.destructive}
    vocabularies = [tool_vocabulary(name, specs.get(name)) for name in dict.fromkeys([*by_tool, *specs])]
    found: list[Contradiction] = []
    seen: set[tuple[str, str]] = set()
    for clause in _clauses(answer):
        lowered = clause.lower()
        matched = [(vocabulary, verb) for vocabulary in vocabularies if (verb := _claimed_verb(lowered, vocabulary))]
        # A word several tools share ("added") is about a tool that was called, if any was.
        called_verbs = {verb for vocabulary, verb in matched if vocabulary.tool_name in by_tool}
        for vocabulary, verb in matched:
            calls = by_tool.get(vocabulary.tool_name, [])
            if not calls and verb in called_verbs:
                continue
            for contradiction in _contradictions(clause, lowered, verb, vocabulary, calls):
                key = (contradiction.claim, contradiction.effect.tool_call_id if contradiction.effect else verb)
                if key not in seen:
                    seen.add(key)
                    found.append(contradiction)
    return tuple(found)


def _contradictions(
    clause: str, lowered: str, verb: str, vocabulary: ToolVocabulary, calls: Sequence[Effect]
) -> Iterable[Contradiction]:
    named = {call.tool_call_id: [v for v in call.values if _names(lowered, v)] for call in calls}
    names_object = verb in vocabulary.implies_object or any(_names_noun(lowered, noun) for noun in vocabulary.nouns)
    if not calls:
        if names_object:
            yield _contradiction(clause, verb, vocabulary.tool_name, None)
        return
    if not (verb in vocabulary.standalone or names_object or any(named.values())):
        return
    happened_values = {value for call in calls if call.happened for value in call.values}
    if any(named.values()):
        for call in calls:
            if not call.happened and any(value not in happened_values for value in named[call.tool_call_id]):
                yield _contradiction(clause, verb, vocabulary.tool_name, call)
    elif not any(call.happened for call in calls):
        for call in calls:
            yield _contradiction(clause, verb, vocabulary.tool_name, call)


def _contradiction(clause: str, verb: str, tool_name: str, effect: Effect | None) -> Contradiction:
    claim = clause.strip().lstrip("-*•–— ").rstrip(" .!,;:")
    if len(claim) > _MAX_CLAIM_CHARS:
        claim = claim[: _MAX_CLAIM_CHARS - 1] + "…"
    truth = f"no {tool_name} call was made" if effect is None else f"the audit says: {effect.summary} — {effect.detail}"
    return Contradiction(
        claim=claim,
        verb=verb,
        tool_name=tool_name,
        effect=effect,
        note=f'the answer says "{claim}", but {truth}',
    )


def _clauses(answer: str) -> list[str]:
    clauses: list[str] = []
    for sentence in _SENTENCE_BREAK.split(answer):
        if sentence.strip().endswith("?") and _QUESTION.match(sentence.strip()):
            continue  # a question claims nothing ("Should I send it?"); "I sent it, anything else?" does
        clauses += [clause for clause in _CLAUSE_BREAK.split(sentence) if clause.strip()]
    return clauses


def _claimed_verb(lowered: str, vocabulary: ToolVocabulary) -> str | None:
    """The first effect word the clause affirms (not negated, hedged or conditional), if any."""
    if _CONDITION.search(lowered):
        return None
    for verb in vocabulary.verbs:
        pattern = r"(?<![\w-])" + r"\s+".join(map(re.escape, verb.split())) + r"(?![\w-])"
        for match in re.finditer(pattern, lowered):
            before = _LAST_BREAK.sub("", lowered[: match.start()]).split()
            if _NEGATION.search(" ".join(before[-_WORDS_BEFORE:])):
                continue
            if _MODAL.search(" ".join(before[-_MODAL_WORDS_BEFORE:])):
                continue
            if _NEGATION_AFTER.search(lowered[match.end() :]):
                continue
            return verb
    return None


def _names(lowered: str, value: str) -> bool:
    """Whether the clause names this value (whole, not as part of a longer address or word)."""
    return re.search(r"(?<![\w@.\-])" + re.escape(value) + r"(?![\w@\-])", lowered) is not None


def _names_noun(lowered: str, noun: str) -> bool:
    stem = noun[:-1] if len(noun) > 3 and noun.endswith("s") and not noun.endswith("ss") else noun
    return re.search(r"\b" + re.escape(stem) + r"(?:s|es)?\b", lowered) is not None


def _past_forms(verb: str) -> tuple[str, ...]:
    """The past tense and participle of an English verb: the irregular ones, else by the spelling rules."""
    if verb in _IRREGULAR_PAST:
        return _IRREGULAR_PAST[verb]
    if verb.endswith("e"):
        return (verb + "d",)
    if len(verb) > 1 and verb.endswith("y") and verb[-2] not in "aeiou":
        return (verb[:-1] + "ied",)
    forms = [verb + "ed"]
    # Consonant-vowel-consonant endings may double ("submitted", "cancelled"): offer both spellings.
    if len(verb) >= 3 and verb[-1] not in "aeiouwxy" and verb[-2] in "aeiou" and verb[-3] not in "aeiou":
        forms.append(verb + verb[-1] + "ed")
    return tuple(forms)
