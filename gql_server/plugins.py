"""The plugin manager: built-ins, setuptools entry points (group "gql_server"), the disable list, and which
plugin's method answers to each method id (S40)."""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import Distribution, EntryPoint, distributions
from typing import Any

import pluggy
from pluggy import HookImpl

from gql_server import hookspecs, metrics
from gql_server.limits import MAX_CODE_LENGTH
from gql_server.plugin_api import MethodStrings, MethodUI, SecondFactorMethod, capabilities_of, problem_of, ui_of
from gql_server.settings import ConfigurationError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "gql_server"
# The core's own policy plugin for the customer setting requirePhishingResistantAdmins (issue 16). It is
# registered by the core, not through an entry point, and GQL_SERVER_DISABLED_PLUGINS does not block it: a
# customer's security setting must not silently stop being enforced. Its hook answers only for members of
# a customer with the setting on, so the policy skips it for everyone else (`Policy.plugin_requirements`).
CORE_POLICY_MODULE = "gql_server_policy_phishing_resistant"
CORE_POLICY = "phishing_resistant_admins"


def create_plugin_manager(disabled: Iterable[str] = (), modules: Iterable[str] = ()) -> pluggy.PluginManager:
    """A manager with the hook specs and every installed entry point (the built-ins are entry points
    too, declared in pyproject.toml exactly as a third-party package declares its own), plus the
    opt-in plugin `modules` (GQL_SERVER_PLUGINS), less the `disabled` names.
    """
    pm = pluggy.PluginManager("gql_server")
    pm.add_hookspecs(hookspecs)
    pm.register(importlib.import_module(CORE_POLICY_MODULE), name=CORE_POLICY)
    for name in disabled:
        if name != CORE_POLICY:
            pm.set_blocked(name)
    for module_name in modules:
        if not pm.is_blocked(module_name) and not pm.has_plugin(module_name) and module_name != CORE_POLICY_MODULE:
            # Asked for by name in the configuration: a module that is missing is a start-up error.
            pm.register(importlib.import_module(module_name), name=module_name)
    for _dist, entry_point in _entry_points():
        if pm.is_blocked(entry_point.name) or pm.has_plugin(entry_point.name):
            continue
        try:
            pm.register(entry_point.load(), name=entry_point.name)
        except Exception:
            # One broken package must not take the service down; its methods are simply absent.
            log.exception("plugin %s could not be loaded and is left out", entry_point.name)
            metrics.plugin_failed(entry_point.name, "load")
    pm.check_pending()
    return pm


def _entry_points() -> list[tuple[Distribution, EntryPoint]]:
    # Every distribution's, as pluggy reads them: importlib.metadata.entry_points() keeps one
    # distribution per name, and an editable install can leave a second, empty one on sys.path.
    return [(d, ep) for d in distributions() for ep in d.entry_points if ep.group == ENTRY_POINT_GROUP]


def call_order(hook: pluggy.HookCaller) -> list[HookImpl]:
    """A hook's implementations in pluggy's own call order: `tryfirst` ones, then the others from the
    last registered to the first, then `trylast` ones (the built-ins), so that an installed package's
    implementation comes before the built-in one it may refine."""
    # get_hookimpls() lists them in the reverse of the order pluggy calls them.
    return list(reversed(hook.get_hookimpls()))


def call_each(hook: pluggy.HookCaller, **kwargs: Any) -> list[Any]:
    """Call every implementation of a hook in pluggy's call order (`call_order`), containing failures
    plugin by plugin; the non-None answers, in that order.

    pluggy stops at the first exception; one plugin that breaks must not silence the others.
    """
    answers = []
    for impl in call_order(hook):
        answer = call_each_impl(impl, hook.name, **kwargs)
        if answer is not None:
            answers.append(answer)
    return answers


def call_each_impl(impl: HookImpl, hook_name: str, **kwargs: Any) -> Any:
    """One plugin's implementation of a hook; its exception is logged and becomes None."""
    try:
        return impl.function(**{name: kwargs[name] for name in impl.argnames})
    except Exception:
        log.exception("plugin %s failed in %s", impl.plugin_name, hook_name)
        metrics.plugin_failed(impl.plugin_name, hook_name)
        return None


def registered_methods(pm: pluggy.PluginManager) -> list[tuple[str, SecondFactorMethod]]:
    """(plugin name, method) for every method each plugin registers, in pluggy's call order.

    Each plugin is asked on its own, so one that raises loses only its own methods.
    """
    found: list[tuple[str, SecondFactorMethod]] = []
    for impl in call_order(pm.hook.register_second_factors):

        def register(method: SecondFactorMethod, plugin: str = impl.plugin_name) -> None:
            if not isinstance(method, SecondFactorMethod):
                log.error("plugin %s registered an object that is not a second-factor method: %r", plugin, method)
                return
            problem = id_problem(method.id) or ui_problem(getattr(method, "ui", None))
            if problem:
                log.error("plugin %s: method %r left out, it cannot be offered (%s)", plugin, method.id, problem)
                return
            found.append((plugin, method))

        call_each_impl(impl, "register_second_factors", register=register)
    return found


# A method id is a word: it names the method in the API, in stored factors (64 characters) and in clients'
# keys ("method.<id>.hint"); a dot or a space in it could pass for another method's key.
_METHOD_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")
# A language tag as clients use them ("en", "fi", "pt-BR"): never a key like "__proto__".
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{1,8})*")


def id_problem(method_id: object) -> str | None:
    """What makes a method id unusable, or None: it must be lowercase letters, digits and underscores,
    starting with a letter, at most 64 characters."""
    if not isinstance(method_id, str) or not _METHOD_ID.fullmatch(method_id):
        return "its id must be lowercase letters, digits and _, starting with a letter, at most 64 characters"
    return None


def ui_problem(ui: object) -> str | None:
    """What makes a method's declared `ui` unusable for clients, or None (no `ui` at all is fine: `ui_of`
    describes such a method from its display name and capabilities)."""
    if ui is None:
        return None
    if not isinstance(ui, MethodUI):
        return "not a MethodUI"
    code = ui.code
    if not 0 < code.min_length <= code.max_length <= MAX_CODE_LENGTH:
        return f"code lengths must satisfy 0 < min_length <= max_length <= {MAX_CODE_LENGTH}"
    if code.pattern is not None:
        try:
            re.compile(code.pattern)
        except re.error as error:
            return f"code.pattern is no regular expression: {error}"
    if ui.strings and "en" not in ui.strings:
        return 'strings need "en", the language every client falls back to'
    for language, text in ui.strings.items():
        if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
            return f"strings are keyed by language tags (en, fi, pt-BR), not {language!r}"
        if not isinstance(text, MethodStrings) or not all(
            isinstance(value, str) for value in (text.name, text.about, text.label, text.hint)
        ):
            return f"strings[{language!r}] must be MethodStrings of text"
    return None


class MethodIdTaken(ConfigurationError):
    """S40: a method id is registered by more than one plugin and GQL_SERVER_METHOD_OVERRIDES names none
    of them, or an override names a plugin that does not register that id. Raised at start-up."""


def active_methods(
    pm: pluggy.PluginManager, overrides: Mapping[str, str] | None = None
) -> list[tuple[str, SecondFactorMethod, bool]]:
    """(plugin name, method, active) for every registered method; exactly one per id is active.

    S40: an id claimed by two plugins is a start-up error (a package must not take over `totp` by being
    installed), unless `overrides` (GQL_SERVER_METHOD_OVERRIDES, id -> plugin name) names the one to
    use; that choice is logged as a WARNING.
    """
    overrides = overrides or {}
    found = registered_methods(pm)
    claims: dict[str, list[str]] = {}
    for plugin, method in found:
        claims.setdefault(method.id, []).append(plugin)
    for method_id, plugin in overrides.items():
        if plugin not in claims.get(method_id, []):
            by = ", ".join(repr(p) for p in claims.get(method_id, [])) or "no plugin"
            raise MethodIdTaken(
                f"GQL_SERVER_METHOD_OVERRIDES names plugin {plugin!r} for the method id {method_id!r}, "
                f"but that id is registered by {by}."
            )
    for method_id, plugins in claims.items():
        if len(plugins) < 2:
            continue
        names = " and ".join(repr(p) for p in plugins)
        chosen = overrides.get(method_id)
        if chosen is None:
            raise MethodIdTaken(
                f"The second-factor method id {method_id!r} is registered by more than one plugin: {names}. "
                f"Uninstall or disable one (GQL_SERVER_DISABLED_PLUGINS), or name the one to use with "
                f"GQL_SERVER_METHOD_OVERRIDES={method_id}:<plugin name>."
            )
        log.warning(
            "the method id %r is registered by %s; plugin %r is used (GQL_SERVER_METHOD_OVERRIDES)",
            method_id,
            names,
            chosen,
        )
    taken: set[str] = set()
    listed = []
    for plugin, method in found:
        active = method.id not in taken and overrides.get(method.id, plugin) == plugin
        if active:
            taken.add(method.id)
        listed.append((plugin, method, active))
    return listed


def describe(pm: pluggy.PluginManager, overrides: Mapping[str, str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """What is installed, for `gql-server plugins`: plugins (with their distribution) and methods, with
    the one plugin whose method is used for each id (`active`). Raises MethodIdTaken like start-up does."""
    dists = {ep.name: (dist.metadata["Name"], dist.version) for dist, ep in _entry_points() if pm.has_plugin(ep.name)}
    plugins = [
        {
            "name": name,
            "distribution": dists.get(name, (None, None))[0],
            "version": dists.get(name, (None, None))[1],
            "hooks": sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()),
        }
        for name, plugin in sorted(pm.list_name_plugin())
        if plugin is not None
    ]
    methods = []
    for plugin_name, method, chosen in active_methods(pm, overrides):
        problem = readiness_problem(method) if chosen else None
        methods.append(
            {
                "id": method.id,
                "displayName": method.display_name,
                "channel": method.channel,
                "phishingResistant": method.phishing_resistant,
                "enrollable": method.enrollable,
                "capabilities": _capabilities(method),
                "ui": _ui(method),
                "plugin": plugin_name,
                # The one method used for its id (S40), and able to work: offered to users.
                "active": chosen and problem is None,
                **({"problem": problem} if problem else {}),
            }
        )
    return {"plugins": plugins, "methods": methods}


def readiness_problem(method: SecondFactorMethod) -> str | None:
    """Why `method` cannot work now (its `problem()`, see `problem_of`), or None; a check that raises is a
    problem too (logged): a method whose readiness is unknown is not offered."""
    try:
        return problem_of(method)
    except Exception as exc:
        log.exception("method %r: its readiness check (problem()) failed", method.id)
        return f"its readiness check failed ({type(exc).__name__})"


@dataclass(frozen=True)
class MethodSet:
    """A process's second-factor methods, by id: `usable` ones (offered, enrolled, used at login) and
    `unready` ones, the method S40 chose for their id but which cannot work now, with why (`problem()`).
    Asked once per process, when its services are built: a restart applies a configuration change."""

    usable: Mapping[str, SecondFactorMethod]
    unready: Mapping[str, tuple[SecondFactorMethod, str]]


def method_set(pm: pluggy.PluginManager, overrides: Mapping[str, str] | None = None) -> MethodSet:
    """The registered methods, each id's one (S40), sorted into usable and unready."""
    usable: dict[str, SecondFactorMethod] = {}
    unready: dict[str, tuple[SecondFactorMethod, str]] = {}
    for _plugin, method, chosen in active_methods(pm, overrides):
        if not chosen:
            continue
        problem = readiness_problem(method)
        if problem is None:
            usable[method.id] = method
        else:
            unready[method.id] = (method, problem)
    return MethodSet(usable, unready)


def collect_methods(
    pm: pluggy.PluginManager, overrides: Mapping[str, str] | None = None
) -> Mapping[str, SecondFactorMethod]:
    """Every usable second-factor method by id: the only one, or the one `overrides` names (S40), unless it
    cannot work now (`method_set`)."""
    return method_set(pm, overrides).usable


def warn_unready(methods: MethodSet, *, production: bool) -> None:
    """One line per method that cannot work, naming it and why (`serve` says it once, before its workers
    start): users are not offered it, and those with a factor of it use their other factors or recovery
    codes until it is fixed and the service restarted. A WARNING in production, where it is a configuration
    to fix; INFO in development, where an installed package without its gateway is the usual (a fresh
    clone's `make serve` installs the SMS method and configures no gateway) and a start should be quiet."""
    level = logging.WARNING if production else logging.INFO
    for method_id, (_method, problem) in sorted(methods.unready.items()):
        log.log(
            level,
            "the %s method is installed but cannot work, so it is not offered: %s. Users with a factor of it "
            "sign in with their other factors or recovery codes until this is fixed and the service restarted",
            method_id,
            problem,
        )


def _capabilities(method: SecondFactorMethod) -> dict[str, Any]:
    declared = capabilities_of(method)
    return {
        "kind": declared.kind.value,
        "phishingResistant": declared.phishing_resistant,
        "hardwareBound": declared.hardware_bound,
        "deliversCodes": declared.delivers_codes,
        "browserApi": declared.browser_api,
        **({"extra": dict(declared.extra)} if declared.extra else {}),
    }


def _ui(method: SecondFactorMethod) -> dict[str, Any]:
    """How clients present the method, in short: the prompt and the languages it speaks."""
    declared = ui_of(method)
    return {"prompt": declared.prompt.value, "languages": sorted(declared.strings)}
