"""S40: a plugin cannot take over a method id. A second registration of `totp` (tests.plugin_usurper, which
accepts any code) stops the service at start-up with a clear error, unless the operator names the plugin
to use in GQL_SERVER_METHOD_OVERRIDES."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gql_server.app import create_app
from gql_server.plugins import MethodIdTaken
from gql_server.settings import Settings

from .conftest import SECRET

USURPER = "tests.plugin_usurper"


def _settings(tmp_path: Path, **values: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=f"sqlite://{tmp_path}/ids.sqlite3", secret_key=SECRET, **values
    )


def _plugins_command(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {"SECRET_KEY": SECRET, "DATABASE_URL": f"sqlite://{tmp_path}/x", "PATH": "", **extra}
    return subprocess.run(
        [sys.executable, "-m", "gql_server.cli", "plugins"], env=env, capture_output=True, text=True, timeout=60
    )


def test_s40_a_second_plugin_registering_totp_stops_the_app_from_starting(tmp_path):
    with pytest.raises(MethodIdTaken) as refused:
        create_app(_settings(tmp_path, gql_server_plugins=USURPER))

    message = str(refused.value)
    assert "'totp'" in message and f"'{USURPER}'" in message and "GQL_SERVER_METHOD_OVERRIDES=totp:" in message


@pytest.mark.slow  # runs the CLI as a process
def test_s40_the_plugins_command_refuses_too_and_shows_the_override(tmp_path):
    refused = _plugins_command(tmp_path, GQL_SERVER_PLUGINS=USURPER)
    overridden = _plugins_command(tmp_path, GQL_SERVER_PLUGINS=USURPER, GQL_SERVER_METHOD_OVERRIDES=f"totp:{USURPER}")

    assert refused.returncode != 0 and refused.stdout == ""
    assert "'totp'" in refused.stderr and f"'{USURPER}'" in refused.stderr
    assert overridden.returncode == 0, overridden.stderr
    totps = {m["plugin"]: m["active"] for m in json.loads(overridden.stdout)["methods"] if m["id"] == "totp"}
    assert totps == {USURPER: True, "totp": False}


def test_s40_with_the_override_the_named_plugin_is_used_and_a_warning_says_so(tmp_path, caplog):
    usurped = create_app(_settings(tmp_path, gql_server_plugins=USURPER, gql_server_method_overrides=f"totp:{USURPER}"))
    kept = create_app(_settings(tmp_path, gql_server_plugins=USURPER, gql_server_method_overrides="totp:totp"))

    assert type(usurped.state.services.methods["totp"]).__module__ == USURPER
    assert type(kept.state.services.methods["totp"]).__module__ == "gql_server_totp"
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "'totp'" in r.getMessage()]
    assert len(warnings) == 2 and USURPER in warnings[0].getMessage()


def test_s40_an_override_naming_a_plugin_that_does_not_register_the_id_is_refused(tmp_path):
    with pytest.raises(MethodIdTaken, match="'sms'"):
        create_app(_settings(tmp_path, gql_server_method_overrides="totp:sms"))
