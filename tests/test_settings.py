"""Settings from the environment: the secret key, production hardening, cookie security."""

from __future__ import annotations

import stat

import pytest
from pydantic import ValidationError

from gql_server.settings import ConfigurationError, Settings


def test_development_secret_is_generated_once_owner_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    first = Settings(_env_file=None).resolved_secret_key
    second = Settings(_env_file=None).resolved_secret_key

    key_file = tmp_path / "var" / "secret.key"
    assert first == second and len(first) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_production_refuses_to_start_without_a_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)

    with pytest.raises(ConfigurationError, match="SECRET_KEY is required"):
        Settings(_env_file=None, gql_server_env="production").check()


def test_a_short_secret_key_is_refused():
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(_env_file=None, secret_key="too-short")


def test_production_turns_explorer_and_introspection_off_unless_asked():
    production = Settings(_env_file=None, gql_server_env="production", secret_key="k" * 32)
    explicit = Settings(_env_file=None, gql_server_env="production", secret_key="k" * 32, graphiql=True)

    both = Settings(_env_file=None, gql_server_env="production", secret_key="k" * 32, graphiql=True, introspection=True)

    assert (production.graphiql_enabled, production.introspection_enabled) == (False, False)
    # S28: the explorer asked for in production does not bring introspection along; that takes its own setting.
    assert (explicit.graphiql_enabled, explicit.introspection_enabled) == (True, False)
    assert (both.graphiql_enabled, both.introspection_enabled) == (True, True)
    assert production.production_exposures == []
    assert both.production_exposures == ["GraphiQL (GRAPHIQL=true)", "introspection (INTROSPECTION=true)"]
    development = Settings(_env_file=None, graphiql=True)
    assert (development.introspection_enabled, development.production_exposures) == (True, [])


def test_settings_come_from_environment_variables(monkeypatch):
    monkeypatch.setenv("PUBLIC_URL", "https://auth.example.com/")
    monkeypatch.setenv("SESSION_IDLE_MINUTES", "15")
    monkeypatch.setenv("GQL_SERVER_DISABLED_PLUGINS", "sms, push")

    settings = Settings(_env_file=None)

    assert settings.public_url == "https://auth.example.com"
    assert settings.secure_cookies
    assert settings.session_idle.total_seconds() == 900
    assert settings.disabled_plugins == ["sms", "push"]


def test_every_setting_is_in_the_readme_configuration_table():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]

    missing = [name.upper() for name in Settings.model_fields if f"| `{name.upper()}` |" not in table]

    assert missing == []
