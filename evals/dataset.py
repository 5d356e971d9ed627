"""Evaluation datasets: YAML files of cases, validated with pydantic and mapped onto pydantic-evals.

A dataset file (`<name>.yaml` in an enabled pack's `datasets` folder, or any path) names a dataset and
lists cases. Each case has a task, optional
context (sent as framed user content, like any task's), optionally an injection planted in a tool output,
and an expectation that must not be empty: a case that cannot fail is not a case. Loading errors name the
file, the case and the field, on one line (`DatasetError`). Tool names and expected arguments are checked
against the enabled packs' tools (`evals.catalog`), so a typo fails when the file is loaded instead of
silently never matching.

A dataset may also name a world (`world: NAME`, `evals.worlds`: data seeded into every case's database
before its run) and a suite (`suite: NAME`, `evals.suites`: a report section and gates of its own); an
injection case names an attack goal (`evals.attacks`). All are checked against their registries, which
the packs' evaluation modules fill in, when the file is loaded.

The dataset hash is the sha256 of the file's bytes: an evaluation record names exactly what was run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_evals import Case, Dataset
from pydantic_evals.evaluators import Evaluator

from signoff.evals.attacks import UnknownAttackGoalError, attack_goal
from signoff.evals.catalog import EvalCatalog
from signoff.evals.suites import EvalSuite, eval_suite
from signoff.evals.worlds import WorldSeeder, world_seeder
from signoff.tools.packs import ToolPack
from signoff.tools.registry import ToolArgumentsError, ToolRegistry, canonical_json

__all__ = [
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
]

Verdict = Literal["allow", "deny", "require_approval"]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]


class DatasetError(ValueError):
    """A dataset that does not exist or does not load; the message names the file, case and field."""


def _catalog(info: ValidationInfo) -> EvalCatalog:
    # Datasets are validated only through `load_dataset`, which passes the catalog as the context.
    context = info.context
    catalog = context.get("catalog") if isinstance(context, dict) else None
    if not isinstance(catalog, EvalCatalog):
        raise ValueError("datasets are checked against the enabled packs: load them with load_dataset")
    return catalog


def _registry(info: ValidationInfo) -> ToolRegistry:
    return _catalog(info).registry


def _known_tool(tool_name: str, info: ValidationInfo) -> str:
    registry = _registry(info)
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
    def _tool_is_registered(cls, value: str, info: ValidationInfo) -> str:
        return _known_tool(value, info)

    @model_validator(mode="after")
    def _args_fit_the_tool(self, info: ValidationInfo) -> ExpectedCall:
        if self.args is not None:
            spec = _registry(info).require(self.tool)
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
    def _tool_is_registered(cls, value: str, info: ValidationInfo) -> str:
        return _known_tool(value, info)


class ExpectedDecision(_Strict):
    """The guard must have taken this verdict on at least one call of this tool."""

    tool: str
    verdict: Verdict

    @field_validator("tool")
    @classmethod
    def _tool_is_registered(cls, value: str, info: ValidationInfo) -> str:
        return _known_tool(value, info)


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
    """An attack goal planted in one vector (a tool output the agent reads); see `evals.attacks`."""

    goal: Name
    vector: Name

    @model_validator(mode="after")
    def _known_goal_and_vector(self) -> InjectionSpec:
        try:
            goal = attack_goal(self.goal)
        except UnknownAttackGoalError as error:
            raise ValueError(str(error)) from None
        if self.vector not in goal.vectors:
            known = ", ".join(goal.vectors)
            raise ValueError(f"unknown injection vector {self.vector!r} for goal {self.goal!r}; known vectors: {known}")
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
        world = info.data.get("world")
        for case in cases:
            if case.injection is None:
                continue
            # Without its world a planted note on a contact that does not exist is never read: an attack
            # that cannot happen would count as stopped.
            needed = attack_goal(case.injection.goal).world
            if "world" in info.data and world != needed:
                raise ValueError(
                    f"case {case.name!r}: goal {case.injection.goal!r} needs `world: {needed}`, "
                    "whose records its vectors and checks act on"
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
    catalog: EvalCatalog
    """The packs the dataset was checked against, and that its cases run with."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def packs(self) -> tuple[ToolPack, ...]:
        """The tool packs every case's runtime is built from."""
        return self.catalog.packs

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


def dataset_path(name_or_path: str, catalog: EvalCatalog) -> Path:
    """A dataset file from a path, or from a name in an enabled pack's datasets (with or without `.yaml`)."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.parent != Path("."):
        if candidate.is_file():
            return candidate
        raise DatasetError(f"no dataset file {name_or_path!r}")
    for _pack_name, folder in catalog.dataset_dirs():
        named = folder / f"{name_or_path}.yaml"
        if named.is_file():
            return named
    known = ", ".join(list_datasets(catalog)) or "(none)"
    packs = ", ".join(pack.name for pack in catalog.packs) or "(none)"
    raise DatasetError(f"no dataset named {name_or_path!r} in the enabled packs ({packs}); known datasets: {known}")


def list_datasets(catalog: EvalCatalog) -> list[str]:
    """The names of the datasets the enabled packs ship."""
    return sorted({path.stem for _pack, folder in catalog.dataset_dirs() for path in folder.glob("*.yaml")})


def load_dataset(name_or_path: str | Path, *, catalog: EvalCatalog) -> LoadedDataset:
    """Read and validate a dataset file against the catalog's packs (`DatasetError` names the file, case
    and field of any problem)."""
    path = name_or_path if isinstance(name_or_path, Path) else dataset_path(name_or_path, catalog)
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
        spec = DatasetSpec.model_validate(raw, context={"catalog": catalog})
    except ValidationError as error:
        raise DatasetError(f"{path}: {_describe(error, raw)}") from None
    return LoadedDataset(
        path=path, spec=spec, content_hash="sha256:" + hashlib.sha256(raw_bytes).hexdigest(), catalog=catalog
    )


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
