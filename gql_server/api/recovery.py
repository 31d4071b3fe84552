"""The "this wasn't me" link of R13 and the password reset it leads to: their unions and members."""

from __future__ import annotations

from typing import Annotated

import strawberry

from gql_server.api.errors import ChallengeExpired, InvalidInput, TooManyAttempts
from gql_server.api.login import ConversionPending, ConversionRequired, LoginSuccess, SecondFactorRequired

STOPPED = (
    "The change was stopped and every session ended. A link to choose a new password went to your account's "
    "address; the old password no longer works."
)
NOT_UNDONE = (
    "Every session ended and the password no longer works: a link to choose a new one went to your account's "
    "address. The change itself was completed already; your administrators can see this report."
)


@strawberry.type
class ChangeReported:
    """The change was stopped or undone, every session ended, the password must be reset (R13)."""

    message: str
    cancelled: bool = strawberry.field(
        description="True when a change still pending was stopped; false when it was complete already."
    )


RESET_REQUESTED = (
    "If this address belongs to an account, a link to choose a new password is on its way; it works once, for an hour."
)


@strawberry.type
class PasswordResetRequested:
    """The same for every address (R16): whether a link went out is for the mailbox to know."""

    message: str


RequestPasswordResetResult = Annotated[
    PasswordResetRequested | InvalidInput | TooManyAttempts, strawberry.union("RequestPasswordResetResult")
]

ReportUnrecognizedChangeResult = Annotated[
    ChangeReported | ChallengeExpired, strawberry.union("ReportUnrecognizedChangeResult")
]

ResetPasswordResult = Annotated[
    LoginSuccess
    | SecondFactorRequired
    | ConversionRequired
    | ConversionPending
    | ChallengeExpired
    | InvalidInput
    | TooManyAttempts,
    strawberry.union("ResetPasswordResult"),
]
