"""SendLoginCodeResult: what sendLoginCode answers (a code for methods that deliver one: email_code, sms, ...),
and BeginSecondFactorResult: what beginSecondFactor answers (options for challenge-response methods)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

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


@strawberry.type
class SecondFactorChallenge:
    """What the client of a challenge-response method (a passkey) answers; its response goes, as JSON
    text, in verifySecondFactor's (or reauthenticate's) `code`."""

    options: JSON = strawberry.field(
        description="The method's options for the client (e.g. WebAuthn's request options)."
    )
    expires_at: datetime


BeginSecondFactorResult = Annotated[
    SecondFactorChallenge | ChallengeExpired | MethodNotAvailable | TooManyAttempts,
    strawberry.union("BeginSecondFactorResult"),
]
