"""Settings pick the model and the database the way the README says."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.function import FunctionModel

from signoff.agent.offline_model import OFFLINE_MODEL_NAME
from signoff.agent.runs import DEFAULT_STREAM_RESTARTS
from signoff.api.runtime import select_model
from signoff.api.settings import Settings


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name in ("ANTHROPIC_API_KEY", "SIGNOFF_MODEL", "SIGNOFF_DATABASE_URL", "SIGNOFF_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_without_a_key_the_offline_model_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    model = select_model(_settings(monkeypatch))
    assert isinstance(model, FunctionModel) and model.model_name == OFFLINE_MODEL_NAME
    assert isinstance(select_model(_settings(monkeypatch, ANTHROPIC_API_KEY="  ")), FunctionModel)


def test_with_a_key_claude_runs_unless_offline_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    model = select_model(_settings(monkeypatch, ANTHROPIC_API_KEY="sk-ant-test"))
    assert isinstance(model, AnthropicModel) and model.model_name == "claude-sonnet-4-5"
    custom = select_model(
        _settings(monkeypatch, ANTHROPIC_API_KEY="sk-ant-test", SIGNOFF_MODEL="anthropic:claude-haiku-4-5")
    )
    assert custom.model_name == "claude-haiku-4-5"
    offline = select_model(_settings(monkeypatch, ANTHROPIC_API_KEY="sk-ant-test", SIGNOFF_MODEL="offline"))
    assert isinstance(offline, FunctionModel)


def test_default_database_is_a_sqlite_file_in_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = _settings(monkeypatch, SIGNOFF_DATA_DIR=str(tmp_path))
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path / 'signoff.db'}"
    other = _settings(monkeypatch, SIGNOFF_DATABASE_URL="postgresql+asyncpg://u@h/db")
    assert other.resolved_database_url == "postgresql+asyncpg://u@h/db"


def test_unsupported_model_family_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="'openai:gpt-5' is not supported"):
        _settings(monkeypatch, SIGNOFF_MODEL="openai:gpt-5")


def test_stream_restarts_reach_the_runner_and_a_negative_count_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _settings(monkeypatch).runner_settings().stream_restarts == DEFAULT_STREAM_RESTARTS
    assert _settings(monkeypatch, SIGNOFF_STREAM_RESTARTS="0").runner_settings().stream_restarts == 0
    with pytest.raises(ValidationError, match="stream_restarts"):
        _settings(monkeypatch, SIGNOFF_STREAM_RESTARTS="-1")
