"""The tool registry: typed async tools plus the safety metadata the model never sees.

A `ToolSpec` pairs an async function (its parameters validated by pydantic from the type hints) with the
facts the policy layer and the approval inbox need: whether it is destructive, whether it needs a human,
how many items one call may touch and which argument counts them, what one item costs outside, and how
to summarise a call for a person. The model only ever sees the name, the description and the argument
schema; everything else stays on this side.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import InitVar, dataclass, field, fields
from decimal import Decimal
from typing import Any, Literal, Protocol

from jinja2 import TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import ValidationError
from pydantic_ai import Tool
from pydantic_ai.toolsets import FunctionToolset
from pydantic_core import to_jsonable_python

__all__ = [
    "SAFETY_METADATA_KEY",
    "ApprovalFacts",
    "ApprovalPredicate",
    "ArgsValidator",
    "Egress",
    "EgressHolds",
    "ToolArgumentsError",
    "ToolRegistry",
    "ToolSafety",
    "ToolSpec",
    "UnknownToolError",
    "canonical_json",
]

ApprovalPredicate = Callable[[Mapping[str, Any], "ApprovalFacts"], bool]
"""Decides from validated (JSON-shaped) arguments and run facts whether a call needs a person."""

SAFETY_METADATA_KEY = "signoff"
"""The key of a pydantic-ai tool's `metadata` under which its `ToolSafety` is given."""


class ArgsValidator(Protocol):
    """What validates a tool's raw arguments: pydantic-core's `SchemaValidator` (a tool's `args_validator`)."""

    def validate_python(self, input: Any, /) -> Any: ...


# Jinja's sandbox keeps approval summaries from reaching attributes or callables of argument values:
# summaries are written by tool authors, but the values come from the model.
_SUMMARY_ENV = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True, kw_only=True)
class ApprovalFacts:
    """What an approval predicate may know about the run besides the arguments."""

    run_id: str
    known_recipients: frozenset[str] = frozenset()


class UnknownToolError(LookupError):
    """No tool of that name is registered."""

    def __init__(self, tool_name: str, known: Iterable[str]) -> None:
        self.tool_name = tool_name
        super().__init__(f"unknown tool {tool_name!r}; registered tools: {', '.join(sorted(known)) or '(none)'}")


class ToolArgumentsError(ValueError):
    """Arguments failed the tool's schema; `errors` is pydantic's list, `str()` is readable."""

    def __init__(self, tool_name: str, error: ValidationError) -> None:
        self.tool_name = tool_name
        self.errors = error.errors(include_url=False)
        lines = [f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}" for e in self.errors]
        super().__init__(f"invalid arguments for {tool_name!r}: " + "; ".join(lines))


def canonical_json(value: Any) -> str:
    """One stable JSON text for a value: sorted keys, no spaces. Used for digests and storage."""
    return json.dumps(to_jsonable_python(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


EgressHolds = Literal["filter", "contacts"]
"""What an argument sent to a third party may hold: `filter`, short search criteria (no addresses,
phone numbers, encoded blobs or text read from outside data); `contacts`, email addresses of people
the CRM knows, discovery returned in this conversation, or the user named."""


@dataclass(frozen=True)
class Egress:
    """An argument whose value leaves the system: the tool sends it to a third party (see `EgressHolds`)."""

    arg: str
    holds: EgressHolds = "filter"


@dataclass(frozen=True, kw_only=True)
class ToolSafety:
    """The safety metadata of a tool you already have as a pydantic-ai tool (see `ToolSpec` for each field).

    Give it as the tool's metadata, `@agent.tool_plain(metadata={"signoff": ToolSafety(...)})`, and the
    `Guard` on the agent applies it. The defaults are the cautious ones: a tool is taken to have side
    effects and to need a person unless it says otherwise. An empty `approval_summary` shows the tool's
    name and arguments.
    """

    destructive: bool = True
    requires_approval: bool | ApprovalPredicate = True
    approval_summary: str = ""
    idempotent: bool = False
    max_batch: int | None = None
    batch_arg: str | None = None
    unit_cost_usd: Decimal = Decimal("0")
    recipients_arg: str | None = None
    untrusted_output: bool = False
    egress: tuple[Egress, ...] = ()
    returns_contacts: bool = False
    effect_verbs: tuple[str, ...] = ()
    """Past-tense words an answer uses to claim this tool's effect happened ("sent", "emailed"); the
    claim checker (`signoff.agent.claims`) compares them with the audit. Empty: derived from the name."""


@dataclass(frozen=True, kw_only=True)
class ToolSpec(ToolSafety):
    """One registered tool: the function the model may call and the metadata it never sees.

    `requires_approval` is either a constant or a predicate over the validated arguments (in JSON shape)
    and the run's facts. `max_batch` bounds `batch_size(args)`, the number of items the call touches,
    counted from `batch_arg` (the length of a list, or the value of an integer such as `limit`).
    `unit_cost_usd` is the estimated external cost of one item; `approval_summary` is a jinja2 template
    rendered with the arguments for the person who decides (empty: the tool's name and arguments).
    `recipients_arg` names the argument holding outbound email addresses, for the outbound-email policy
    rule. `egress` declares the arguments the tool sends to a third party and what each may hold: the
    egress policy rule asks a person before outside data, or a value the metadata does not allow,
    leaves through them, even from a read-only tool. `returns_contacts` marks tools whose output lists
    people found for the user (mappings with an `email` key, as a lead search returns): those addresses
    may then be sent on to a `contacts` egress argument (enrichment) without a person.
    `untrusted_output` marks tools whose result is outside data (a lead database, an enrichment
    vendor, CRM notes, inbound email) that anyone may have written: the provenance policy rule treats
    values first seen there as suspect. The safety fields and their cautious defaults are `ToolSafety`'s.

    `function` may take pydantic-ai's `RunContext` as its first parameter (see `takes_ctx`), e.g. to make
    a routed model call charged to the run; every other parameter is an argument the model gives.
    A tool that lives in another toolset (an agent's own tools under a `Guard`) is described by
    `ToolSpec.for_definition`, with no function: it runs where it lives, and the spec only describes it.
    """

    name: str
    function: Callable[..., Awaitable[Any]] | None
    description: str
    definition: InitVar[tuple[dict[str, Any], ArgsValidator] | None] = None
    """Internal: the argument schema and validator of a tool without `function` (see `for_definition`)."""
    _tool: Tool[Any] | None = field(init=False, repr=False, compare=False, default=None)
    _schema: dict[str, Any] = field(init=False, repr=False, compare=False, default_factory=dict[str, Any])
    _validator: ArgsValidator | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self, definition: tuple[dict[str, Any], ArgsValidator] | None) -> None:
        if self.max_batch is not None and self.batch_arg is None:
            raise ValueError(f"tool {self.name!r} sets max_batch but not batch_arg")
        if self.function is not None:
            # A function whose first parameter is `RunContext[...]` gets the run's context (pydantic-ai
            # infers it); that parameter is not in the argument schema, so validation never sees it.
            tool = Tool(self.function, name=self.name, description=self.description)
            object.__setattr__(self, "_tool", tool)
            definition = (tool.function_schema.json_schema, tool.function_schema.validator)
        if definition is None:
            raise ValueError(f"tool {self.name!r} has neither a function nor a definition")
        object.__setattr__(self, "_schema", definition[0])
        object.__setattr__(self, "_validator", definition[1])
        parameters = set(definition[0].get("properties", {}))
        if not self.approval_summary:
            shown = ", ".join(f"{p}={{{{ {p} }}}}" for p in definition[0].get("properties", {}))
            object.__setattr__(self, "approval_summary", f"{self.name}({shown})")
        for option, argument in (
            ("batch_arg", self.batch_arg),
            ("recipients_arg", self.recipients_arg),
            *(("egress", egress.arg) for egress in self.egress),
        ):
            if argument is not None and argument not in parameters:
                raise ValueError(f"tool {self.name!r}: {option} {argument!r} is not one of its parameters")
        if not all(isinstance(egress, Egress) for egress in self.egress):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValueError(f"tool {self.name!r}: egress must be a tuple of signoff.Egress")
        try:
            summary_names = meta.find_undeclared_variables(_SUMMARY_ENV.parse(self.approval_summary))
        except TemplateSyntaxError as error:
            raise ValueError(f"tool {self.name!r}: approval_summary is not a valid template: {error}") from None
        unknown = sorted(summary_names - parameters)
        if unknown:
            # A misspelt name renders as nothing: the approver would read a summary with a hole in it.
            raise ValueError(
                f"tool {self.name!r}: approval_summary names {', '.join(map(repr, unknown))}, "
                f"which {'is not a parameter' if len(unknown) == 1 else 'are not parameters'}"
            )

    @classmethod
    def for_definition(
        cls,
        *,
        name: str,
        description: str,
        parameters_json_schema: dict[str, Any],
        args_validator: ArgsValidator,
        safety: ToolSafety,
    ) -> ToolSpec:
        """The spec of a tool defined elsewhere (a pydantic-ai toolset), from its schema and `ToolSafety`.

        Raises `ValueError` naming the tool when the metadata does not fit its parameters.
        """
        values = {f.name: getattr(safety, f.name) for f in fields(ToolSafety)}
        return cls(
            name=name,
            function=None,
            description=description,
            definition=(parameters_json_schema, args_validator),
            **values,
        )

    @property
    def tool(self) -> Tool[Any]:
        """The pydantic-ai tool that runs `function` (only for specs with a function)."""
        if self._tool is None:
            raise TypeError(f"tool {self.name!r} runs in its own toolset; Signoff only describes it")
        return self._tool

    @property
    def takes_ctx(self) -> bool:
        """Whether `function` takes the run's `RunContext` as its first parameter (before the arguments)."""
        return self._tool is not None and self._tool.takes_ctx

    @property
    def parameters_json_schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments, as the model sees it."""
        return self._schema

    def validate_args(self, raw_args: Mapping[str, Any]) -> dict[str, Any]:
        """Validate raw arguments exactly as a model call would be; returns them in JSON shape."""
        assert self._validator is not None  # set by __post_init__
        try:
            validated = self._validator.validate_python(dict(raw_args))
        except ValidationError as error:
            raise ToolArgumentsError(self.name, error) from error
        return to_jsonable_python(validated)

    def batch_size(self, args: Mapping[str, Any]) -> int:
        """How many items this call touches: 1 for tools without a batch argument."""
        if self.batch_arg is None:
            return 1
        value = args.get(self.batch_arg)
        if isinstance(value, bool):  # bool is an int subclass; a flag counts nothing
            return 1
        if isinstance(value, int):
            return max(value, 0)
        if isinstance(value, Sequence) and not isinstance(value, str | bytes):
            return len(value)
        return 1

    def estimated_cost_usd(self, args: Mapping[str, Any]) -> Decimal:
        """Estimated external spend of this call: unit cost times items."""
        return self.unit_cost_usd * self.batch_size(args)

    def needs_approval(self, args: Mapping[str, Any], facts: ApprovalFacts) -> bool:
        """Evaluate the metadata's approval requirement for these arguments."""
        if isinstance(self.requires_approval, bool):
            return self.requires_approval
        return bool(self.requires_approval(args, facts))

    def egress_contacts(self, args: Mapping[str, Any]) -> list[str]:
        """The email addresses this call sends to a third party in its `contacts` egress arguments, lower-cased."""
        found: list[str] = []
        for egress in self.egress:
            if egress.holds == "contacts":
                found.extend(_addresses(args.get(egress.arg)))
        return found

    def recipients(self, args: Mapping[str, Any]) -> list[str]:
        """Outbound email addresses in these arguments, lower-cased."""
        if self.recipients_arg is None:
            return []
        return _addresses(args.get(self.recipients_arg))

    def render_summary(self, args: Mapping[str, Any]) -> str:
        """The human summary of a call, e.g. 'Create 8 contacts in HubSpot: ana@acme.io, ...'."""
        return _SUMMARY_ENV.from_string(self.approval_summary).render(**args).strip()

    def metadata(self) -> dict[str, Any]:
        """The safety metadata in JSON shape, for listings (`signoff tools`, `GET /v1/tools`)."""
        return {
            "name": self.name,
            "description": self.description,
            "destructive": self.destructive,
            "requires_approval": self.requires_approval if isinstance(self.requires_approval, bool) else "conditional",
            "max_batch": self.max_batch,
            "batch_arg": self.batch_arg,
            "unit_cost_usd": str(self.unit_cost_usd),
            "idempotent": self.idempotent,
            "untrusted_output": self.untrusted_output,
            "egress": {egress.arg: egress.holds for egress in self.egress},
            "returns_contacts": self.returns_contacts,
            "parameters": self.parameters_json_schema,
        }


def _addresses(value: object) -> list[str]:
    """Email addresses in an argument holding one or a list, lower-cased."""
    if isinstance(value, str):
        return [value.lower()]
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [str(v).lower() for v in value]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    return []


class ToolRegistry:
    """The tools a run may use, by name, and the pydantic-ai toolset that exposes them."""

    def __init__(self, specs: Iterable[ToolSpec] = ()) -> None:
        self._specs: dict[str, ToolSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: ToolSpec) -> None:
        """Add a tool; a second tool of the same name is an error, never a silent replacement."""
        if spec.name in self._specs:
            raise ValueError(f"a tool named {spec.name!r} is already registered")
        self._specs[spec.name] = spec

    def get(self, tool_name: str) -> ToolSpec | None:
        """The spec of that name, or None."""
        return self._specs.get(tool_name)

    def require(self, tool_name: str) -> ToolSpec:
        """The spec of that name, or `UnknownToolError`."""
        spec = self._specs.get(tool_name)
        if spec is None:
            raise UnknownToolError(tool_name, self._specs)
        return spec

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        """Registered tool names, sorted."""
        return sorted(self._specs)

    def toolset(self) -> FunctionToolset[Any]:
        """A fresh pydantic-ai toolset with every registered tool that has a function (the guard wraps it)."""
        return FunctionToolset[Any](tools=[spec.tool for spec in self if spec.function is not None])

    def describe(self, spec: ToolSpec) -> None:
        """Record the spec of a tool that lives in another toolset (a `Guard`'s agent's own tool).

        Describing the same tool again is a no-op; a different spec under a name already taken is an error.
        """
        existing = self._specs.get(spec.name)
        if existing is None:
            self._specs[spec.name] = spec
        elif existing.function is not None or existing.metadata() != spec.metadata():
            raise ValueError(f"a different tool named {spec.name!r} is already registered")
