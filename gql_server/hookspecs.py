"""The plugin contract: pluggy hook specifications only (project name "gql_server")."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("gql_server")
hookimpl = pluggy.HookimplMarker("gql_server")


@hookspec
def register_second_factors(register: Callable[[Any], None]) -> None:
    """Call `register(method)` once for each second-factor method object the plugin provides."""


@hookspec
def policy_requirements(
    user: Any, customers: Sequence[Any], memberships: Sequence[Any], methods: Mapping[str, Any]
) -> Any:
    """Return a PolicyRequirement (or None) that tightens what the core requires of this user."""


@hookspec(firstresult=True)
def deliver_email(message: Any) -> Any:
    """Send an email.message.EmailMessage; return an awaitable (or True) when this plugin took it."""


@hookspec
def auth_event(event: Any) -> None:
    """Observe an audited event (login, lockout, settings change, ...) after it is recorded."""
