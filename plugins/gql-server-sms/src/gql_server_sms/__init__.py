"""gql-server-sms: a second factor by text message for gql_server, installed as a separate package.

gql_server finds this module through the entry point `sms = "gql_server_sms"` in the group
`gql_server` (see pyproject.toml) and calls the hook below; nothing in the core knows the name "sms".
Set GQL_SERVER_SMS_WEBHOOK_URL to the HTTP endpoint that sends the messages (without it the method answers
the core's readiness check, `problem()`, with why: it is not offered, and `serve` says so once); block the
plugin with GQL_SERVER_DISABLED_PLUGINS=sms.
"""

from __future__ import annotations

from collections.abc import Callable

from gql_server.plugin_api import SecondFactorMethod, hookimpl

from gql_server_sms.messages import code_message
from gql_server_sms.method import WEBHOOK_URL_VARIABLE, SmsMethod
from gql_server_sms.phone import mask_phone_number, normalize_phone_number

__all__ = [
    "WEBHOOK_URL_VARIABLE",
    "SmsMethod",
    "code_message",
    "mask_phone_number",
    "normalize_phone_number",
    "register_second_factors",
]


@hookimpl
def register_second_factors(register: Callable[[SecondFactorMethod], None]) -> None:
    """Offer the `sms` method to the core. Whether it can send anything is its `problem()`, which the core asks
    (and `serve` reports once), not a warning here: this hook runs in every process and command."""
    register(SmsMethod())
