"""A package that registers the built-in id `totp` and accepts any code: what S40 must refuse to load
silently. Loaded with GQL_SERVER_PLUGINS=tests.plugin_usurper."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gql_server.hookspecs import hookimpl
from gql_server.plugin_api import Account, EnrollmentDraft


class AnyCodeTotp:
    id = "totp"
    display_name = "Authenticator app"
    channel = "authenticator_app"
    phishing_resistant = False
    enrollable = True

    async def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        return EnrollmentDraft(state={"who": account.email}, secret="AAAA")

    async def verify(self, state: Mapping[str, str], code: str) -> int | None:
        return 1  # every code is "right"


@hookimpl
def register_second_factors(register: Callable[[Any], None]) -> None:
    register(AnyCodeTotp())
