"""sendLoginCode: a login code for methods that deliver one (email_code, sms, ...)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from gql_server.api.context import Info
from gql_server.api.errors import ChallengeExpired, MethodNotAvailable, TooManyAttempts, error_for
from gql_server.auth.results import CodeDispatched


@strawberry.type
class CodeSent:
    """A code is on its way."""

    sent_to: str
    expires_at: datetime


SendLoginCodeResult = Annotated[
    CodeSent | ChallengeExpired | MethodNotAvailable | TooManyAttempts,
    strawberry.union("SendLoginCodeResult"),
]


async def send_login_code(info: Info, challenge: str, method: str) -> SendLoginCodeResult:
    """For methods that deliver a code (email_code, sms, ...): send one for this challenge."""
    services = info.context.services
    outcome = await services.second_factor.send_login_code(challenge, method, ip=info.context.client_ip)
    if isinstance(outcome, CodeDispatched):
        return CodeSent(sent_to=outcome.sent_to, expires_at=outcome.expires_at)
    error = error_for(outcome)
    assert isinstance(error, ChallengeExpired | MethodNotAvailable | TooManyAttempts)
    return error
