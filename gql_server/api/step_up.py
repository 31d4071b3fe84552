"""Step-up (R14): the union and member of `reauthenticate` (`sendReauthenticationCode` answers
SendLoginCodeResult, as `sendLoginCode` does)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from gql_server.api.errors import AuthenticationRequired, InvalidCode, MethodNotAvailable, TooManyAttempts
from gql_server.api.users import SessionType


@strawberry.type
class Reauthenticated:
    """A second factor was verified again: `session.verifiedAt` is now, sensitive operations may follow."""

    session: SessionType


ReauthenticateResult = Annotated[
    Reauthenticated | InvalidCode | MethodNotAvailable | TooManyAttempts | AuthenticationRequired,
    strawberry.union("ReauthenticateResult"),
]
