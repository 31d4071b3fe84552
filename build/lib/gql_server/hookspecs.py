"""The plugin contract: pluggy hook specifications only (project name "gql_server")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("gql_server")
hookimpl = pluggy.HookimplMarker("gql_server")


@hookspec
def register_second_factors(register: Callable[[Any], None]) -> None:
    """Call `register(method)` once for each second-factor method object the plugin provides."""


@hookspec
def auth_event(event: Any) -> None:
    """Observe an audited event (login, lockout, settings change, ...) after it is recorded."""
