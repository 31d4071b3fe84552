"""LoginResult and its members: what login, verifySecondFactor and (partly) resetPassword answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from gql_server.api.errors import (
    ChallengeExpired,
    InvalidCode,
    InvalidCredentials,
    MethodNotAvailable,
    TooManyAttempts,
)
from gql_server.api.methods import SecondFactorMethodType
from gql_server.api.users import SessionType, UserType


@strawberry.type(description="The session token is also set as an HttpOnly cookie for browsers and GraphiQL.")
class LoginSuccess:
    """A session was created."""

    token: str
    session: SessionType
    user: UserType


@strawberry.type
class SecondFactorRequired:
    """The password was right; finish with `verifySecondFactor` within this challenge."""

    challenge: str
    expires_at: datetime
    methods: list[SecondFactorMethodType] = strawberry.field(
        description="The methods this user has enrolled, plus recovery_code."
    )
    remember_device_days: int = strawberry.field(
        default=0,
        description=(
            "R18: the days verifySecondFactor's rememberDevice would keep this browser for; 0 when the user's "
            "customers do not allow it (a frontend offers the box only above 0)."
        ),
    )


@strawberry.type
class ConversionRequired:
    """The customer enforces two factors: convert the account with this ticket (R3)."""

    ticket: str
    expires_at: datetime
    email: str = strawberry.field(description="The account's current email, to prefill the form.")


@strawberry.type
class ConversionPending:
    """A conversion was started earlier; the ticket can only re-send the invitation (R4)."""

    ticket: str
    expires_at: datetime
    sent_to: str = strawberry.field(description="Where the last invitation went, masked (j***@example.com).")


LoginResult = Annotated[
    LoginSuccess
    | SecondFactorRequired
    | ConversionRequired
    | ConversionPending
    | InvalidCredentials
    | InvalidCode
    | ChallengeExpired
    | TooManyAttempts
    | MethodNotAvailable,
    strawberry.union("LoginResult"),
]
