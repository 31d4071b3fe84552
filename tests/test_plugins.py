"""Plugins: hooks documented, methods registered through the hook, observers contained."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from gql_server import hookspecs
from gql_server.hookspecs import hookimpl
from gql_server.plugins import collect_methods, create_plugin_manager

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


def test_every_hook_is_documented_under_its_own_heading_with_its_arguments():
    # Like datasette's: the names *and* the arguments of every hook, as the specs declare them.
    headings = {
        name: [a.strip() for a in arguments.split(",") if a.strip()]
        for name, arguments in re.findall(r"^## (\w+)\(([^)]*)\)", DOCS.read_text(encoding="utf-8"), flags=re.M)
    }
    hooks = {
        name: list(inspect.signature(getattr(hookspecs, name)).parameters)
        for name in dir(hookspecs)
        if hasattr(getattr(hookspecs, name), "gql_server_spec")
    }

    assert hooks
    assert hooks == headings


@dataclass(frozen=True)
class CarrierPigeon:
    id: str = "pigeon"
    display_name: str = "Carrier pigeon"
    channel: str = "bird"
    phishing_resistant: bool = False
    enrollable: bool = True


class PigeonPlugin:
    @hookimpl
    def register_second_factors(self, register):
        register(CarrierPigeon())
        register(object())  # not a method: ignored with a log line


def test_register_second_factors_collects_method_objects(caplog):
    pm = create_plugin_manager()
    pm.register(PigeonPlugin(), name="pigeon")

    methods = collect_methods(pm)

    assert isinstance(methods["pigeon"], CarrierPigeon)
    assert {"pigeon", "totp", "email_code", "recovery_code"} <= set(methods)
    assert "plugin pigeon registered an object that is not a second-factor method" in caplog.text


def test_disabled_plugins_are_blocked():
    pm = create_plugin_manager(disabled=["pigeon"])

    assert pm.register(PigeonPlugin(), name="pigeon") is None
    assert "pigeon" not in collect_methods(pm)


class FailingObserver:
    @hookimpl
    def auth_event(self, event):
        raise RuntimeError("observer down")


class RecordingObserver:
    def __init__(self):
        self.kinds = []

    @hookimpl
    def auth_event(self, event):
        self.kinds.append(event.kind)


@pytest.fixture
def observers(services):
    recording, failing = RecordingObserver(), FailingObserver()
    services.plugins.register(recording, name="recording")
    services.plugins.register(failing, name="failing")
    try:
        yield recording
    finally:
        services.plugins.unregister(name="recording")
        services.plugins.unregister(name="failing")


async def test_auth_event_observers_see_events_and_cannot_break_login(
    client, make_customer, make_user, observers, caplog
):
    await make_user(await make_customer(), "a@example.com", "correct horse battery")

    result = await client.login("a@example.com", "correct horse battery")

    assert result["__typename"] == "LoginSuccess"
    assert observers.kinds[-1] == "login_succeeded"
    assert "plugin failing failed in auth_event" in caplog.text


def test_a_package_whose_plugin_fails_to_load_is_left_out(tmp_path, monkeypatch, caplog):
    # A real installed distribution on sys.path, whose entry point raises on import.
    dist = tmp_path / "gql_server_broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gql-server-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[gql_server]\nbroken = gql_server_broken_plugin\n")
    (tmp_path / "gql_server_broken_plugin.py").write_text("raise RuntimeError('cannot import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    pm = create_plugin_manager()

    assert not pm.has_plugin("broken")
    assert {"totp", "email_code", "recovery_code"} <= set(collect_methods(pm))
    assert "plugin broken could not be loaded and is left out" in caplog.text
