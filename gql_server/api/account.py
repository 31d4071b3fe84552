"""The account's own credentials (R13, R16): the unions and members of changePassword, requestEmailChange
and confirmEmailChange."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from gql_server.api.errors import (
    AuthenticationRequired,
    ChallengeExpired,
    EmailInUse,
    InvalidCredentials,
    InvalidInput,
    ReauthenticationRequired,
    TooManyAttempts,
)
from gql_server.api.users import SessionType, UserType


@strawberry.type
class PasswordChanged:
    """The password was changed; this session stays, the account's other sessions were ended (R16, S18)."""

    session: SessionType


@strawberry.type
class EmailChangeRequested:
    """A link to confirm the new address is on its way there (R13); the account's address was told."""

    sent_to: str = strawberry.field(description="The new address, masked (j***@example.com).")
    expires_at: datetime = strawberry.field(description="When the link stops working.")


@strawberry.type
class EmailChanged:
    """The new address was confirmed from its mailbox and is the account's address now (R13)."""

    user: UserType


ChangePasswordResult = Annotated[
    PasswordChanged
    | InvalidCredentials
    | InvalidInput
    | ReauthenticationRequired
    | AuthenticationRequired
    | TooManyAttempts,
    strawberry.union("ChangePasswordResult"),
]

RequestEmailChangeResult = Annotated[
    EmailChangeRequested | InvalidInput | ReauthenticationRequired | AuthenticationRequired | TooManyAttempts,
    strawberry.union("RequestEmailChangeResult"),
]

ConfirmEmailChangeResult = Annotated[
    EmailChanged | ChallengeExpired | EmailInUse, strawberry.union("ConfirmEmailChangeResult")
]
