"""The plugin contract: pluggy hook specifications (project name "gql_server").

Hooks receive the frozen views of `gql_server.plugin_api` (never database rows), and plugins mark their
implementations with `gql_server.plugin_api.hookimpl` (re-exported here for plugins written before it).
Every hook and its arguments are listed in docs/plugins.md; tests/test_plugin_docs.py holds the two alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from typing import Any

import pluggy

from gql_server.plugin_api import (
    AuthEvent,
    CustomerView,
    MembershipView,
    PolicyRequirement,
    SecondFactorMethod,
    UserView,
    hookimpl,
)

hookspec = pluggy.HookspecMarker("gql_server")

__all__ = ["hookimpl", "hookspec"]


@hookspec
def register_second_factors(register: Callable[[SecondFactorMethod], None]) -> None:
    """Call `register(method)` once for each second-factor method object the plugin provides."""


@hookspec
def policy_requirements(
    user: UserView,
    customers: Sequence[CustomerView],
    memberships: Sequence[MembershipView],
    methods: Mapping[str, SecondFactorMethod],
) -> PolicyRequirement | None:
    """Return a PolicyRequirement (or None) that tightens what the core requires of this user."""


@hookspec(firstresult=True)
def deliver_email(message: EmailMessage) -> Any:
    """Send an email.message.EmailMessage; return an awaitable (or True) when this plugin took it."""


@hookspec
def auth_event(event: AuthEvent) -> None:
    """Observe an audited event (login, lockout, settings change, ...) after it is recorded."""
