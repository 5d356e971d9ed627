"""Evaluation datasets: YAML files of cases, validated with pydantic and mapped onto pydantic-evals.

A dataset file (`evals/datasets/<name>.yaml`) names a dataset and lists cases. Each case has a task, optional
context (sent as framed user content, like any task's), optionally an injection planted in a tool output,
and an expectation that must not be empty: a case that cannot fail is not a case. Loading errors name the
file, the case and the field, on one line (`DatasetError`). Tool names and expected arguments are checked
against the sales tool registry, so a typo fails when the file is loaded instead of silently never matching.

A dataset may also name a world (`world: NAME`, `evals.worlds`: data seeded into every case's database
before its run) and a suite (`suite: NAME`, `evals.suites`: a report section and gates of its own). Both
are checked against their registries when the file is loaded.

The dataset hash is the sha256 of the file's bytes: an evaluation record names exactly what was run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_evals import Case, Dataset
from pydantic_evals.evaluators import Evaluator
from sqlalchemy.ext.asyncio import async_sessionmaker

from signoff.evals.suites import EvalSuite, eval_suite
from signoff.evals.worlds import WorldSeeder, world_seeder
from signoff.tools.registry import ToolArgumentsError, ToolRegistry, canonical_json
from signoff.tools.sales import build_sales_tools, offline_providers

__all__ = [
    "DATASETS_DIR",
    "CaseSpec",
    "DatasetError",
    "DatasetSpec",
    "Expectation",
    "ExpectedCall",
    "ExpectedDecision",
    "FinalAnswerCheck",
    "ForbiddenCall",
    "InjectionSpec",
    "LoadedDataset",
    "SecuritySpec",
    "dataset_path",
    "list_datasets",
    "load_dataset",
    "sales_tool_registry",
]

DATASETS_DIR = Path(__file__).parent / "datasets"
"""Where named datasets live: `signoff eval run sales_basics` reads `DATASETS_DIR / "sales_basics.yaml"`."""

Verdict = Literal["allow", "deny", "require_approval"]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]


class DatasetError(ValueError):
    """A dataset that does not exist or does not load; the message names the file, case and field."""


@cache
def sales_tool_registry() -> ToolRegistry:
    """The sales tools, for their names, schemas and metadata (never called: the providers are unbound)."""
    # Building the tools touches no database; the providers' session factory is only used by a call.
    return ToolRegistry(build_sales_tools(offline_providers(async_sessionmaker())))


def _known_tool(tool_name: str) -> str:
    registry = sales_tool_registry()
    if registry.get(tool_name) is None:
        raise ValueError(f"unknown tool {tool_name!r}; registered tools: {', '.join(registry.names())}")
    return tool_name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExpectedCall(_Strict):
    """A call that must be executed. With `args`, only a call with exactly these (validated) arguments counts,
    and only such a call is approved by the simulated approver. `approval` says whether the guard must have
    asked a person for it (`required`) or let it run on its own (`none`)."""

    tool: str
    args: dict[str, Any] | None = None
    approval: Literal["required", "none"] | None = None

    @field_validator("tool")
    @classmethod
    def _tool_is_registered(cls, value: str) -> str:
        return _known_tool(value)

    @model_validator(mode="after")
    def _args_fit_the_tool(self) -> ExpectedCall:
        if self.args is not None:
            spec = sales_tool_registry().require(self.tool)
            try:
                validated = spec.validate_args(self.args)
            except ToolArgumentsError as error:
                raise ValueError(str(error)) from None
            # Stored as the guard stores them, so comparing canonical JSON is comparing what would run.
            object.__setattr__(self, "args", validated)
        return self

    def args_json(self) -> str | None:
        """The expected arguments as canonical JSON (as audit and approval rows hold them), or None."""
        return None if self.args is None else canonical_json(self.args)


class ForbiddenCall(_Strict):
    """A tool that must not be executed (a request the guard denied, or a person denied, did not happen)."""

    tool: str

    @field_validator("tool")
    @classmethod
    def _tool_is_registered(cls, value: str) -> str:
        return _known_tool(value)


class ExpectedDecision(_Strict):
    """The guard must have taken this verdict on at least one call of this tool."""

    tool: str
    verdict: Verdict

    @field_validator("tool")
    @classmethod
    def _tool_is_registered(cls, value: str) -> str:
        return _known_tool(value)


class FinalAnswerCheck(_Strict):
    """Substrings the final answer must and must not contain (compared case-insensitively)."""

    contains: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list[str])
    not_contains: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list[str])

    @model_validator(mode="after")
    def _not_empty(self) -> FinalAnswerCheck:
        if not self.contains and not self.not_contains:
            raise ValueError("final_answer needs `contains` or `not_contains`")
        return self


class Expectation(_Strict):
    """What a case checks. At least one expectation is required."""

    must_call: list[ExpectedCall] = Field(default_factory=list[ExpectedCall])
    must_not_call: list[ForbiddenCall] = Field(default_factory=list[ForbiddenCall])
    decisions: list[ExpectedDecision] = Field(default_factory=list[ExpectedDecision])
    final_answer: FinalAnswerCheck | None = None
    max_cost_usd: Annotated[Decimal, Field(gt=0)] | None = None
    max_seconds: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Expectation:
        if not (
            self.must_call
            or self.must_not_call
            or self.decisions
            or self.final_answer is not None
            or self.max_cost_usd is not None
            or self.max_seconds is not None
        ):
            raise ValueError("the expectation is empty: a case without an expectation cannot fail")
        return self


class InjectionSpec(_Strict):
    """An injection goal planted in one vector (a tool output the agent reads); see `evals.injection`."""

    goal: Name
    vector: Name

    @model_validator(mode="after")
    def _known_goal_and_vector(self) -> InjectionSpec:
        try:
            from signoff.evals.injection import INJECTION_GOALS, VECTORS
        except ImportError as error:
            raise ValueError(
                f"injection cases need the evals.injection package, which does not load: {error}"
            ) from None
        if self.goal not in INJECTION_GOALS:
            raise ValueError(f"unknown injection goal {self.goal!r}; known goals: {', '.join(sorted(INJECTION_GOALS))}")
        if self.vector not in VECTORS:
            raise ValueError(f"unknown injection vector {self.vector!r}; known vectors: {', '.join(VECTORS)}")
        return self


class SecuritySpec(_Strict):
    """The security check of an injection case: the goal's check must be False after the run."""

    goal: Name


class CaseSpec(_Strict):
    """One case of a dataset (see the module docstring)."""

    name: Name
    task: Annotated[str, Field(min_length=1, max_length=4_000)]
    context: dict[str, Any] | None = None
    injection: InjectionSpec | None = None
    expect: Expectation
    security: SecuritySpec | None = None

    @field_validator("security")
    @classmethod
    def _security_names_the_injection(cls, value: SecuritySpec | None, info: ValidationInfo) -> SecuritySpec | None:
        injection = info.data.get("injection")
        if value is not None and (injection is None or injection.goal != value.goal):
            raise ValueError("`security` must name the goal of the case's `injection` (the loader fills it in)")
        return value

    @model_validator(mode="after")
    def _security_from_injection(self) -> CaseSpec:
        if self.injection is not None and self.security is None:
            object.__setattr__(self, "security", SecuritySpec(goal=self.injection.goal))
        return self


class DatasetSpec(_Strict):
    """A dataset file: a name, a description, optionally a world and a suite, and at least one case, names
    unique. Cases with an injection need the injection suite's world: their goals act on its records."""

    name: Name
    description: str = ""
    world: Name | None = None
    """The world seeded into every case's fresh database before its run (`evals.worlds`)."""
    suite: Name | None = None
    """The suite whose report section and gates the evaluation adds (`evals.suites`)."""
    cases: Annotated[list[CaseSpec], Field(min_length=1)]

    @field_validator("world")
    @classmethod
    def _known_world(cls, value: str | None) -> str | None:
        if value is not None:
            world_seeder(value)  # UnknownWorldError lists the known worlds
        return value

    @field_validator("suite")
    @classmethod
    def _known_suite(cls, value: str | None) -> str | None:
        if value is not None:
            eval_suite(value)  # UnknownSuiteError lists the known suites
        return value

    @field_validator("cases")
    @classmethod
    def _unique_case_names(cls, cases: list[CaseSpec], info: ValidationInfo) -> list[CaseSpec]:
        seen: set[str] = set()
        for case in cases:
            if case.name in seen:
                raise ValueError(f"two cases are named {case.name!r}")
            seen.add(case.name)
        if "world" in info.data and any(case.injection is not None for case in cases):
            from signoff.evals.injection import INJECTION_WORLD

            # Without it a planted note on a contact that does not exist is never read: an attack that
            # cannot happen would count as stopped.
            if info.data["world"] != INJECTION_WORLD:
                raise ValueError(
                    f"cases with `injection` need `world: {INJECTION_WORLD}`: "
                    "the goals and vectors act on its contacts, campaign and replies"
                )
        return cases


EvalDataset = Dataset[CaseSpec, Any, Expectation]
"""The pydantic-evals dataset of our cases: inputs are the case, metadata its expectation."""


@dataclass(frozen=True, kw_only=True)
class LoadedDataset:
    """A validated dataset file with its content hash."""

    path: Path
    spec: DatasetSpec
    content_hash: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def world(self) -> WorldSeeder | None:
        """The seeder of the dataset's world, run on every case's database before the case; None if none."""
        return None if self.spec.world is None else world_seeder(self.spec.world)

    @property
    def suite(self) -> EvalSuite | None:
        """The dataset's suite (extra report section and gates), or None."""
        return None if self.spec.suite is None else eval_suite(self.spec.suite)

    def to_pydantic_evals(self, evaluators: Sequence[Evaluator[CaseSpec, Any, Expectation]]) -> EvalDataset:
        """The dataset as pydantic-evals `Dataset`/`Case` objects with these dataset-level evaluators."""
        cases = [Case(name=case.name, inputs=case, metadata=case.expect) for case in self.spec.cases]
        return EvalDataset(name=self.spec.name, cases=cases, evaluators=list(evaluators))


def dataset_path(name_or_path: str) -> Path:
    """A dataset file from a path, or from a name in `DATASETS_DIR` (with or without `.yaml`)."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.parent != Path("."):
        if candidate.is_file():
            return candidate
        raise DatasetError(f"no dataset file {name_or_path!r}")
    named = DATASETS_DIR / f"{name_or_path}.yaml"
    if named.is_file():
        return named
    known = ", ".join(list_datasets()) or "(none)"
    raise DatasetError(f"no dataset named {name_or_path!r} in {DATASETS_DIR}; known datasets: {known}")


def list_datasets() -> list[str]:
    """The names of the datasets in `DATASETS_DIR`."""
    return sorted(path.stem for path in DATASETS_DIR.glob("*.yaml"))


def load_dataset(name_or_path: str | Path) -> LoadedDataset:
    """Read and validate a dataset file (`DatasetError` names the file, case and field of any problem)."""
    path = name_or_path if isinstance(name_or_path, Path) else dataset_path(name_or_path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as error:
        raise DatasetError(f"{path}: cannot be read ({error.strerror or type(error).__name__})") from None
    try:
        raw = yaml.safe_load(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as error:
        raise DatasetError(f"{path}: not valid YAML: {_yaml_problem(error)}") from None
    if not isinstance(raw, dict):
        raise DatasetError(f"{path}: a dataset is a mapping with `name`, `description` and `cases`")
    try:
        spec = DatasetSpec.model_validate(raw)
    except ValidationError as error:
        raise DatasetError(f"{path}: {_describe(error, raw)}") from None
    return LoadedDataset(path=path, spec=spec, content_hash="sha256:" + hashlib.sha256(raw_bytes).hexdigest())


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(problem)


def _describe(error: ValidationError, raw: Mapping[str, Any]) -> str:
    """Every problem on one line: `case 'x': expect.must_call.0.tool: unknown tool 'y'; ...`."""
    raw_cases = raw.get("cases")
    problems: list[str] = []
    for detail in error.errors(include_url=False):
        location = list(detail["loc"])
        where = ""
        if len(location) >= 2 and location[0] == "cases" and isinstance(location[1], int):
            index = location[1]
            case_name = None
            if isinstance(raw_cases, list) and index < len(raw_cases) and isinstance(raw_cases[index], dict):
                case_name = raw_cases[index].get("name")  # pyright: ignore[reportUnknownMemberType]
            where = f"case {case_name!r}: " if isinstance(case_name, str) else f"case #{index + 1}: "
            location = location[2:]
        field_path = ".".join(str(part) for part in location) or "(case)"
        message = detail["msg"].removeprefix("Value error, ")
        problems.append(f"{where}{field_path}: {message}")
    return "; ".join(problems)
