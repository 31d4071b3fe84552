"""The plugin manager: built-ins, setuptools entry points (group "gql_server"), the disable list."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import pluggy

from gql_server import hookspecs
from gql_server.factors import SecondFactorMethod

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "gql_server"

# Modules that register the built-in methods through the same hooks a third party uses.
DEFAULT_PLUGINS: tuple[str, ...] = ()


def create_plugin_manager(disabled: Iterable[str] = ()) -> pluggy.PluginManager:
    """A manager with the hook specs, the built-ins and every installed entry point, less `disabled`."""
    pm = pluggy.PluginManager("gql_server")
    pm.add_hookspecs(hookspecs)
    for name in disabled:
        pm.set_blocked(name)
    for module_name in DEFAULT_PLUGINS:
        module = __import__(module_name)
        if not pm.is_blocked(module_name):
            pm.register(module, name=module_name)
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    pm.check_pending()
    return pm


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
