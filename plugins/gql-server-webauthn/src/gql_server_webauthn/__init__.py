"""gql-server-webauthn: passkeys and security keys (WebAuthn) as a second factor for gql_server, installed as a
separate package.

gql_server finds this module through the entry point `webauthn = "gql_server_webauthn"` in the group
`gql_server` (see pyproject.toml) and calls the hook below; nothing in the core knows the name "webauthn".
Set GQL_SERVER_WEBAUTHN_RP_ID and GQL_SERVER_WEBAUTHN_ORIGIN (README.md); block the plugin with
GQL_SERVER_DISABLED_PLUGINS=webauthn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gql_server.plugin_api import SecondFactorMethod, hookimpl

from gql_server_webauthn.config import (
    ORIGIN_VARIABLE,
    RP_ID_VARIABLE,
    RP_NAME_VARIABLE,
    ConfigurationError,
    RelyingParty,
    relying_party,
)
from gql_server_webauthn.method import WebAuthnMethod, next_counter, user_handle

__all__ = [
    "ORIGIN_VARIABLE",
    "RP_ID_VARIABLE",
    "RP_NAME_VARIABLE",
    "ConfigurationError",
    "RelyingParty",
    "WebAuthnMethod",
    "next_counter",
    "register_second_factors",
    "relying_party",
    "user_handle",
]

log = logging.getLogger(__name__)


@hookimpl
def register_second_factors(register: Callable[[SecondFactorMethod], None]) -> None:
    """Offer the `webauthn` method to the core. Settings that cannot work are its `problem()`, which the core
    asks (the method is then not offered, and `serve` says why, once); this hook runs in every process and
    command, so it only says at DEBUG which relying party it serves."""
    try:
        rp = relying_party()
    except ConfigurationError:
        pass
    else:
        log.debug("webauthn: relying party %s for %s", rp.rp_id, ", ".join(rp.origins))
    register(WebAuthnMethod())
