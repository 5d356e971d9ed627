"""The tool-pack contract: what a plugin gives Signoff, and how Signoff finds and loads it.

A **tool pack** is a `ToolPack` value that a distribution names in the entry-point group
`signoff.tool_packs` (the entry point's name is the pack's name)::

    [project.entry-points."signoff.tool_packs"]
    support = "support_desk.pack:support_pack"

The object the entry point names is a `ToolPack`, or a function of no arguments returning one. Signoff
loads the packs a deployment enables (`SIGNOFF_PACKS`, default `sales`), once, at start-up; it never
imports a pack's modules any other way, so the core depends on this contract and on no pack.

A pack brings its tools (built per runtime from a `PackContext`, so they can close over the database
and the clock), its tables (`metadata`) and their migrations (its own alembic versions folder, tracked
in its own version table, so enabling or disabling a pack never confuses another's history), the
prompt its agent uses, and the modules that register its evaluation suites and worlds.

Everything wrong with a pack is a `PackLoadError` at load time, naming the pack and the tool: an entry
point that does not import, an object that is not a pack, two packs with a tool of the same name, tool
metadata that does not fit the tool (see `ToolSpec`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic_ai.messages import ModelMessage, ModelResponse
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signoff.tools.registry import ToolRegistry, ToolSpec

__all__ = [
    "ENTRY_POINT_GROUP",
    "CredentialCheck",
    "DescribeChanges",
    "FakeProviders",
    "KnownDomains",
    "KnownRecipients",
    "LoadedPack",
    "OfflineScript",
    "PackContext",
    "PackLoadError",
    "PackTools",
    "ServiceHealth",
    "ToolPack",
    "available_packs",
    "build_packs",
    "load_packs",
]

ENTRY_POINT_GROUP = "signoff.tool_packs"
"""The entry-point group Signoff reads tool packs from."""

OfflineScript = Callable[[Sequence[ModelMessage]], ModelResponse | None]
"""A pack's demo script for the offline model: the next response to a conversation, or None when the
latest task is not one of the pack's demo tasks."""

KnownRecipients = Callable[[Sequence[str]], Awaitable[set[str]]]
"""Which of these email addresses the pack already knows (its CRM contacts), for the outbound-email rule."""

DescribeChanges = Callable[[str, Mapping[str, Any]], Awaitable[list[str]]]
"""What a call of this tool (name, validated arguments) would change in stored data, one line per change
("ana@acme.io: title 'COO' -> 'CTO'"), for the approval display; [] for no change or a tool it does not know."""


@dataclass(frozen=True, kw_only=True)
class ServiceHealth:
    """One outside service a pack calls, as `/readyz`, `/metrics` and `signoff doctor` show it.

    `breaker` is the service's circuit breaker (`opened`: calls fail at once until a trial call succeeds);
    `waiting` counts calls queued for the client-side rate limit and `in_flight` those on the wire;
    `counters` are totals since the process started (`requests`, `throttled`, `retries`, ...).
    """

    service: str
    breaker: Literal["closed", "opened", "half-opened"]
    waiting: int
    in_flight: int
    counters: Mapping[str, int] = field(default_factory=dict[str, int])


@dataclass(frozen=True, kw_only=True)
class CredentialCheck:
    """The answer of one cheap read call made with a configured credential (`signoff providers check`).

    `detail` is safe to print: it never holds the credential or a vendor's raw answer.
    """

    service: str
    ok: bool
    detail: str


class FakeProviders(Protocol):
    """Starts a pack's vendor doubles on `host` while the context is open; yields the pack options that point
    the pack at them (fake credentials included)."""

    def __call__(self, *, host: str = "127.0.0.1") -> AbstractAsyncContextManager[Mapping[str, str]]: ...


KnownDomains = Callable[[Sequence[str]], Awaitable[set[str]]]
"""Which of these domains (lower-cased, in ASCII and Unicode forms) the pack has contacts at, for the
approval display's "no contact in the CRM" warning."""


class PackLoadError(RuntimeError):
    """A tool pack could not be loaded or does not fit; the message names the pack (and tool)."""

    def __init__(self, pack_name: str, problem: str) -> None:
        self.pack_name = pack_name
        self.problem = problem
        super().__init__(f"tool pack {pack_name!r}: {problem}")


@dataclass(frozen=True, kw_only=True)
class PackContext:
    """What a pack's `build` gets from the runtime: the database, the clock and its options.

    `options` are the pack's own settings (the service passes its entry of `SIGNOFF_PACK_OPTIONS`; tests
    pass them directly), so a pack never reads the environment itself.
    """

    session_factory: async_sessionmaker[AsyncSession]
    clock: Callable[[], datetime]
    options: Mapping[str, str] = field(default_factory=dict[str, str])

    @classmethod
    def unbound(cls) -> PackContext:
        """A context on no database, for building a pack's tools to read their names and metadata (a
        pack's tools use the session factory only when called; `build` must not do I/O)."""
        return cls(session_factory=async_sessionmaker(), clock=lambda: datetime.now(UTC))


@dataclass(frozen=True, kw_only=True)
class PackTools:
    """A pack built for one runtime: its tools, and what the core may ask it.

    `resources` is whatever the pack's tools close over (its providers), kept so that the pack's own
    tests, seeders and evaluation goals can reach them through the runtime; the core never looks inside.
    """

    tools: Sequence[ToolSpec]
    known_recipients: KnownRecipients | None = None
    known_domains: KnownDomains | None = None
    """Asked by the approval display (inbox, CLI, API) which recipient domains are new to the CRM; a pack
    without it leaves them "not checked"."""
    describe_changes: DescribeChanges | None = None
    """Asked by the approval display what a waiting call would overwrite, so the approver reads every field
    that changes, not only the summary's."""
    health: Callable[[], Awaitable[Sequence[ServiceHealth]]] | None = None
    """The outside services the pack's tools call, with their breakers and queues (None: it calls none)."""
    check_credentials: Callable[[], Awaitable[Sequence[CredentialCheck]]] | None = None
    """One cheap read per configured credential, for `signoff providers check` (None: nothing to check)."""
    aclose: Callable[[], Awaitable[None]] | None = None
    """Releases what `build` opened (HTTP connection pools), when the runtime closes."""
    resources: object = None


@dataclass(frozen=True, kw_only=True)
class ToolPack:
    """A plugin: tools with their safety metadata, plus the tables, migrations and prompts they need.

    - `build` makes the pack's `PackTools` for one runtime (called once per runtime).
    - `metadata` holds the pack's tables (names start with `<name>_`); `migrations` is the
      folder of alembic revision files that create them, applied by the same upgrade as the core's and
      recorded in the version table `alembic_version_<name>`. A pack with tables must ship migrations.
    - `prompt` names the prompt template its agent runs with by default; `prompt_dir` is the pack's
      prompts folder (`templates/<prompt>/v<N>.j2`, `labels.toml`, `released.toml`).
    - `eval_modules` are imported by the evaluation runner: they register the pack's suites and worlds.
    - `datasets` is the folder of the pack's evaluation datasets (YAML).
    - `offline_script` lets the offline model (no Claude key) do the pack's `demo_tasks`.
    - `routes` builds the pack's HTTP routes, a FastAPI `APIRouter` that `signoff serve` mounts beside the
      core's (a path the core or another pack already serves is refused, naming the pack). Its handlers
      reach the runtime with `signoff.api.deps.RuntimeDep` (then `runtime.pack_tools(<name>)`) and check
      roles with `RequesterDep`, `ApproverDep` or `AdminDep`. The tools layer does not depend on FastAPI,
      so the type here is `Any`.
    - `fake_providers` starts local doubles of the pack's vendors (for `signoff dev fake-providers`: a person
      trying the product without accounts) and yields the pack options that point the pack at them.
    """

    name: str
    description: str
    build: Callable[[PackContext], PackTools]
    metadata: MetaData | None = None
    migrations: Path | None = None
    prompt: str | None = None
    prompt_dir: Path | None = None
    eval_modules: tuple[str, ...] = ()
    datasets: Path | None = None
    offline_script: OfflineScript | None = None
    demo_tasks: tuple[str, ...] = ()
    routes: Callable[[], Any] | None = None
    fake_providers: FakeProviders | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise PackLoadError(self.name, "a pack name is a lower-case identifier, e.g. 'support_desk'")
        if self.metadata is not None and self.metadata.tables and self.migrations is None:
            raise PackLoadError(self.name, "it declares tables but no migrations folder to create them")
        # A pack's tables carry its name, so no pack can declare (or shadow) the core's or another pack's.
        prefix = f"{self.name}_"
        tables = self.metadata.tables if self.metadata is not None else {}
        foreign = sorted(table for table in tables if not table.startswith(prefix))
        if foreign:
            raise PackLoadError(self.name, f"its table names must start with {prefix!r}: {', '.join(foreign)}")
        if self.prompt is not None and self.prompt_dir is None:
            raise PackLoadError(self.name, f"it names the prompt {self.prompt!r} but no prompt_dir to load it from")
        if self.prompt_dir is not None and not self.prompt_dir.is_dir():
            raise PackLoadError(self.name, f"its prompts folder {str(self.prompt_dir)!r} does not exist")
        if self.migrations is not None and not self.migrations.is_dir():
            raise PackLoadError(self.name, f"its migrations folder {str(self.migrations)!r} does not exist")

    @property
    def version_table(self) -> str:
        """The alembic version table of this pack's migrations."""
        return f"alembic_version_{self.name}"


@dataclass(frozen=True, kw_only=True)
class LoadedPack:
    """A pack and what it built for one runtime."""

    pack: ToolPack
    tools: PackTools


def available_packs() -> dict[str, EntryPoint]:
    """Every pack installed in this environment, by name (not imported)."""
    return {entry.name: entry for entry in entry_points(group=ENTRY_POINT_GROUP)}


def _load_entry_point(entry: EntryPoint) -> ToolPack:
    try:
        loaded = entry.load()
    except Exception as error:  # any failure to import is the pack's, and must name it
        raise PackLoadError(entry.name, f"entry point {entry.value!r} does not import: {error!r}") from error
    if callable(loaded) and not isinstance(loaded, ToolPack):
        try:
            loaded = loaded()
        except PackLoadError:
            raise
        except Exception as error:
            raise PackLoadError(entry.name, f"entry point {entry.value!r} failed: {error!r}") from error
    if not isinstance(loaded, ToolPack):
        raise PackLoadError(entry.name, f"entry point {entry.value!r} is not a ToolPack (got {type(loaded).__name__})")
    if loaded.name != entry.name:
        raise PackLoadError(entry.name, f"entry point {entry.value!r} names a pack called {loaded.name!r}")
    return loaded


def load_packs(names: Sequence[str]) -> list[ToolPack]:
    """Import the named packs from the `signoff.tool_packs` entry points, in the order given."""
    installed = available_packs()
    packs: list[ToolPack] = []
    for name in dict.fromkeys(names):  # a name given twice is loaded once
        entry = installed.get(name)
        if entry is None:
            known = ", ".join(sorted(installed)) or "(none installed)"
            raise PackLoadError(name, f"not installed (no {ENTRY_POINT_GROUP!r} entry point); installed packs: {known}")
        packs.append(_load_entry_point(entry))
    return packs


def build_packs(
    packs: Iterable[ToolPack], context_for: Callable[[ToolPack], PackContext]
) -> tuple[ToolRegistry, list[LoadedPack]]:
    """Build every pack for one runtime (each with `context_for(pack)`) and register all their tools in one registry.

    A tool name two packs share, or one pack registers twice, is a `PackLoadError` naming both packs;
    a tool whose metadata does not fit it (see `ToolSpec`) fails inside the pack's `build`, and the error
    is raised again naming the pack.
    """
    registry = ToolRegistry()
    owner: dict[str, str] = {}
    loaded: list[LoadedPack] = []
    for pack in packs:
        if any(other.pack.name == pack.name for other in loaded):
            raise PackLoadError(pack.name, "is enabled twice")
        try:
            built = pack.build(context_for(pack))
        except PackLoadError:
            raise
        except Exception as error:
            raise PackLoadError(pack.name, f"building its tools failed: {error}") from error
        if not isinstance(built, PackTools):
            raise PackLoadError(pack.name, f"its build returned {type(built).__name__}, not PackTools")
        for spec in built.tools:
            if not isinstance(spec, ToolSpec):
                raise PackLoadError(pack.name, f"its tools include {type(spec).__name__}, not a ToolSpec")
            if spec.name in owner:
                other = owner[spec.name]
                where = "twice" if other == pack.name else f"also by pack {other!r}"
                raise PackLoadError(pack.name, f"tool {spec.name!r} is registered {where}")
            owner[spec.name] = pack.name
            registry.register(spec)
        loaded.append(LoadedPack(pack=pack, tools=built))
    return registry, loaded
