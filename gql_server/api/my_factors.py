"""The user's own factors (R15): the unions and members of the factor operations."""

from __future__ import annotations

from typing import Annotated

import strawberry

from gql_server.api.errors import AuthenticationRequired, ReauthenticationRequired


@strawberry.type
class RecoveryCodesReplaced:
    """R15, S11: the new recovery codes, shown this once; the old ones no longer work."""

    recovery_codes: list[str]


RegenerateRecoveryCodesResult = Annotated[
    RecoveryCodesReplaced | ReauthenticationRequired | AuthenticationRequired,
    strawberry.union("RegenerateRecoveryCodesResult"),
]
