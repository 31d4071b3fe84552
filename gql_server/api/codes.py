"""SendLoginCodeResult: what sendLoginCode answers (a code for methods that deliver one: email_code, sms, ...)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from gql_server.api.errors import ChallengeExpired, MethodNotAvailable, TooManyAttempts


@strawberry.type
class CodeSent:
    """A code is on its way."""

    sent_to: str
    expires_at: datetime


SendLoginCodeResult = Annotated[
    CodeSent | ChallengeExpired | MethodNotAvailable | TooManyAttempts,
    strawberry.union("SendLoginCodeResult"),
]
