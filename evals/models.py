"""Models an evaluation can run, named on the command line.

- `offline`: the offline scripted model (`agent.offline_model`) with the enabled packs' demo scripts, which
  measures benign utility;
- a name a tool pack registers with `register_eval_model` from its evaluation modules, such as the sales
  pack's `obedient` (the injection suite's adversarial model);
- `replay:PATH`: model responses recorded earlier (by `RecordingModel`) served back without a network;
  a request with no recording fails the run with a clear reason instead of guessing;
- any pydantic-ai model id, such as `anthropic:claude-sonnet-4-5` (built as runs build Claude, see
  `resolve_model`, with the key and base URL the caller passes) or another provider's id, built by
  pydantic-ai's `infer_model`.

A recording is a JSON file mapping a key of each request to the responses given to it. The key is the
sha256 of the request's messages, with what changes from run to run removed (timestamps, pydantic-ai run
ids, usage and provider details), and of what the model is offered (`request_key`): each tool's name,
description and parameter schema, and the output mode. So the same conversation finds its recording in
another run, while a different prompt version (the instructions travel in the messages) or a changed
tool (a renamed parameter, a reworded description) does not find responses the model gave to something
else: the run fails with `ReplayMissingError`, and the fix is to record again. Model settings
(temperature, max tokens) are not in the key: they change how a model answers, not what was asked.
Responses are replayed as recorded, usage and model name included: the ledger prices a replayed run as the
recorded model would have cost, so cost budgets mean the same under replay (no money is spent).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anthropic import AnthropicError
from pydantic_ai.exceptions import UserError
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters, infer_model
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import ToolDefinition

from signoff.agent.models import ANTHROPIC_PREFIX, ClaudeOptions, claude_model, validate_model_id
from signoff.agent.offline_model import offline_model_for
from signoff.evals.registry import NamedRegistry, UnknownEntryError
from signoff.tools.packs import ToolPack

__all__ = [
    "RECORDING_FORMAT",
    "ModelChoice",
    "ModelNameError",
    "RecordingModel",
    "Recordings",
    "ReplayMissingError",
    "ReplayModel",
    "UnknownEvalModelError",
    "register_eval_model",
    "request_key",
    "resolve_model",
]

RECORDING_FORMAT = "signoff-model-recording/2"
# Format 1 keyed requests by their messages alone; its keys cannot be matched by format 2's.
_OLDER_FORMATS = frozenset({"signoff-model-recording/1"})

# Fields of stored messages that differ between two runs of the same conversation; not part of the key.
_VOLATILE_FIELDS = frozenset(
    {
        "timestamp",
        "run_id",
        "conversation_id",
        "usage",
        "model_name",
        "provider_name",
        "provider_url",
        "provider_details",
        "provider_response_id",
        "finish_reason",
        "metadata",
        "failed_attempts",
        "history_digest",
        "workspace_ref",
    }
)


class ModelNameError(ValueError):
    """A model name that cannot be used (unknown, missing recording file, missing key); one line."""


class ReplayMissingError(UserError):
    """A replayed run sent a request that was never recorded (the run fails with this reason)."""


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _VOLATILE_FIELDS}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    if isinstance(value, list):
        return [_strip(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
    return value


def _tool_offer(tool: ToolDefinition) -> dict[str, Any]:
    """What the model is told about one tool (not Signoff's metadata, timeouts or toolset ids)."""
    return {
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters_json_schema,
        "strict": tool.strict,
        "kind": tool.kind,
    }


def _offer(parameters: ModelRequestParameters) -> dict[str, Any]:
    """The tools and output options a request offers the model, in a stable order."""
    return {
        "function_tools": sorted((_tool_offer(tool) for tool in parameters.function_tools), key=lambda t: t["name"]),
        "output_tools": sorted((_tool_offer(tool) for tool in parameters.output_tools), key=lambda t: t["name"]),
        "native_tools": sorted(type(tool).__name__ for tool in parameters.native_tools),
        "output_mode": parameters.output_mode,
        "allow_text_output": parameters.allow_text_output,
    }


def request_key(messages: Sequence[ModelMessage], parameters: ModelRequestParameters) -> str:
    """The recording key of a request: sha256 of its messages without run-specific fields, and of the
    tools and output options it offers the model (see the module docstring)."""
    dumped = ModelMessagesTypeAdapter.dump_python(list(messages), mode="json")
    document = {"messages": _strip(dumped), "offer": _offer(parameters)}
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(kw_only=True)
class Recordings:
    """The responses of one recording file, by request key (each key may hold several, served in turn)."""

    path: Path
    responses: dict[str, list[Any]] = field(default_factory=dict[str, list[Any]])
    _served: dict[str, int] = field(default_factory=dict[str, int], init=False)

    @classmethod
    def load(cls, path: Path) -> Recordings:
        """Read a recording file (`ModelNameError` when it is missing or not a recording)."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ModelNameError(
                f"replay: cannot read {str(path)!r} ({error.strerror or type(error).__name__})"
            ) from None
        except json.JSONDecodeError as error:
            raise ModelNameError(f"replay: {str(path)!r} is not JSON ({error.msg} at line {error.lineno})") from None
        found = document.get("format") if isinstance(document, dict) else None  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if found in _OLDER_FORMATS:
            raise ModelNameError(
                f"replay: {str(path)!r} was recorded in the older format {found}, whose keys leave out the "
                f"tool definitions; record again into a new file (this version reads and writes {RECORDING_FORMAT})"
            )
        if found != RECORDING_FORMAT:
            raise ModelNameError(f"replay: {str(path)!r} is not a model recording ({RECORDING_FORMAT})")
        responses: dict[str, list[Any]] = document.get("responses", {})  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        return cls(path=path, responses=responses)

    def add(self, key: str, response: ModelResponse) -> None:
        """Keep one response and rewrite the file atomically (a crash never leaves half a recording)."""
        dumped = ModelMessagesTypeAdapter.dump_python([response], mode="json")[0]
        self.responses.setdefault(key, []).append(dumped)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"format": RECORDING_FORMAT, "responses": self.responses}
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=1, sort_keys=True)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def next_response(self, key: str) -> ModelResponse:
        """The next recorded response for `key` (in turn, when several were recorded), or `ReplayMissingError`."""
        recorded = self.responses.get(key)
        if not recorded:
            raise ReplayMissingError(
                f"replay: no recorded response for this request (key {key[:19]}…) in {str(self.path)!r}; "
                "record it again against the model"
            )
        turn = self._served.get(key, 0)
        self._served[key] = turn + 1
        message = ModelMessagesTypeAdapter.validate_python([recorded[turn % len(recorded)]])[0]
        assert isinstance(message, ModelResponse)
        return message


@dataclass(init=False)
class RecordingModel(WrapperModel):
    """Passes requests to the wrapped model and records each response under the request's key."""

    recordings: Recordings

    def __init__(self, wrapped: Model, recordings: Recordings) -> None:
        super().__init__(wrapped)
        self.recordings = recordings

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        # Keyed before the request is sent, from exactly what the replay will see.
        key = request_key(messages, model_request_parameters)
        response = await self.wrapped.request(messages, model_settings, model_request_parameters)
        self.recordings.add(key, response)
        return response


@dataclass(init=False)
class ReplayModel(Model):
    """Serves recorded responses; never touches a network."""

    recordings: Recordings

    def __init__(self, recordings: Recordings) -> None:
        super().__init__()
        self.recordings = recordings

    @property
    def model_name(self) -> str:
        return f"replay:{self.recordings.path.name}"

    @property
    def system(self) -> str:
        return "replay"

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        return self.recordings.next_response(request_key(messages, model_request_parameters))


class UnknownEvalModelError(UnknownEntryError):
    """No evaluation model of that name is registered."""


_EVAL_MODELS = NamedRegistry[Callable[[], Model]]("evaluation model", error=UnknownEvalModelError)


def register_eval_model(name: str, build: Callable[[], Model]) -> None:
    """Make a pack's model available to `signoff eval run --model NAME` (e.g. an adversarial model)."""
    if name == "offline" or ":" in name:
        raise ValueError(f"evaluation model name {name!r} is reserved or looks like a model id")
    _EVAL_MODELS.register(name, build)


@dataclass(frozen=True, kw_only=True)
class ModelChoice:
    """A model named on the command line; `build()` gives the model for one case."""

    name: str
    build: Callable[[], Model]


def resolve_model(
    name: str,
    *,
    record_to: Path | None = None,
    claude: ClaudeOptions | None = None,
    packs: Sequence[ToolPack] = (),
) -> ModelChoice:
    """The model called `name` (see the module docstring); with `record_to`, its responses are recorded there.

    `anthropic:` ids are built the way runs build them (`agent.models.claude_model`: prompt caching,
    bounded retries, failed attempts in the ledger, Anthropic's request ids) with `claude` (the CLI passes
    the configured options, key included; this module reads no environment); other pydantic-ai ids go
    through pydantic-ai's `infer_model`. `offline` runs the demo scripts of `packs` (the evaluation's).

    Raises `ModelNameError` for a name that cannot be used, so the CLI can refuse it before running anything.
    """
    name = name.strip()
    build: Callable[[], Model]
    if name == "offline":

        def build() -> Model:
            return offline_model_for(packs)

    elif name in _EVAL_MODELS.names():
        build = _EVAL_MODELS.get(name)
    elif name.startswith("replay:"):
        path = Path(name.removeprefix("replay:"))
        if not str(path):
            raise ModelNameError("replay: needs a path, as in replay:evals/recordings/sales_basics.json")
        replay = ReplayModel(Recordings.load(path))

        def build() -> Model:
            return replay

    else:
        if ":" not in name:
            raise ModelNameError(
                f"unknown model {name!r}: use offline, {''.join(n + ', ' for n in _EVAL_MODELS.names())}"
                "replay:PATH or a pydantic-ai model id such as anthropic:claude-sonnet-4-5"
            )
        try:
            if name.startswith(ANTHROPIC_PREFIX):
                options = claude or ClaudeOptions()
                if options.api_key is None:
                    # Checked here: the SDK would only complain at the first request, mid-evaluation.
                    raise ValueError("set ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for another endpoint)")
                model = claude_model(validate_model_id(name), options=options)
            else:
                model = infer_model(name)
        except (UserError, ValueError, ImportError, AnthropicError) as error:
            first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ModelNameError(f"model {name!r} cannot be used: {first_line}") from None

        def build() -> Model:
            return model

    if record_to is not None:
        recordings = Recordings.load(record_to) if record_to.exists() else Recordings(path=record_to)
        inner = build

        def build() -> Model:
            return RecordingModel(inner(), recordings)

    build()  # fails now, not in the middle of a run, when the model cannot be built
    return ModelChoice(name=name, build=build)
