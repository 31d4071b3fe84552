"""The plugin manager: built-ins, setuptools entry points (group "gql_server"), the disable list."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, distributions
from typing import Any

import pluggy

from gql_server import hookspecs
from gql_server.factors import SecondFactorMethod

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "gql_server"


def create_plugin_manager(disabled: Iterable[str] = ()) -> pluggy.PluginManager:
    """A manager with the hook specs and every installed entry point (the built-ins are entry points
    too, declared in pyproject.toml exactly as a third-party package declares its own), less `disabled`.
    """
    pm = pluggy.PluginManager("gql_server")
    pm.add_hookspecs(hookspecs)
    for name in disabled:
        pm.set_blocked(name)
    for entry_point in _entry_points():
        if pm.is_blocked(entry_point.name) or pm.has_plugin(entry_point.name):
            continue
        try:
            pm.register(entry_point.load(), name=entry_point.name)
        except Exception:
            # One broken package must not take the service down; its methods are simply absent.
            log.exception("plugin %s could not be loaded and is left out", entry_point.name)
    pm.check_pending()
    return pm


def _entry_points() -> list[EntryPoint]:
    # Every distribution's, as pluggy reads them: importlib.metadata.entry_points() keeps one
    # distribution per name, and an editable install can leave a second, empty one on sys.path.
    return [ep for dist in distributions() for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]


def call_each(hook: pluggy.HookCaller, **kwargs: Any) -> list[Any]:
    """Call every implementation of a hook, containing failures plugin by plugin; the non-None answers.

    pluggy stops at the first exception; one plugin that breaks must not silence the others.
    """
    answers = []
    for impl in hook.get_hookimpls():
        try:
            answer = impl.function(**{name: kwargs[name] for name in impl.argnames})
        except Exception:
            log.exception("plugin %s failed in %s", impl.plugin_name, hook.name)
            continue
        if answer is not None:
            answers.append(answer)
    return answers


def collect_methods(pm: pluggy.PluginManager) -> Mapping[str, SecondFactorMethod]:
    """Every registered second-factor method by id; the first plugin to claim an id keeps it."""
    methods: dict[str, SecondFactorMethod] = {}

    def register(method: SecondFactorMethod) -> None:
        if not isinstance(method, SecondFactorMethod):
            log.error("ignored a second-factor method without the required attributes: %r", method)
            return
        methods.setdefault(method.id, method)

    pm.hook.register_second_factors(register=register)
    return methods
