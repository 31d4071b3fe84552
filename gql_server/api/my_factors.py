"""The user's own factors (R15): the unions and members of the factor operations.

`addFactor` answers `BeginEnrollmentResult` (`api/enrollment.py`), as beginning an enrollment from the
invitation does.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from gql_server.api.errors import (
    AuthenticationRequired,
    ChallengeExpired,
    InvalidCode,
    InvalidInput,
    LastFactor,
    ReauthenticationRequired,
    TooManyAttempts,
)
from gql_server.api.users import EnrolledFactorType, UserType


@strawberry.type
class RecoveryCodesReplaced:
    """R15, S11: the new recovery codes, shown this once; the old ones no longer work."""

    recovery_codes: list[str]


RegenerateRecoveryCodesResult = Annotated[
    RecoveryCodesReplaced | ReauthenticationRequired | AuthenticationRequired,
    strawberry.union("RegenerateRecoveryCodesResult"),
]


@strawberry.type
class FactorAdded:
    """R15, S14: the new factor is active; it signs in from now on."""

    factor: EnrolledFactorType


ConfirmFactorResult = Annotated[
    # InvalidInput (an unusable label) is ours, beyond the contract's members.
    FactorAdded | InvalidCode | ChallengeExpired | ReauthenticationRequired | TooManyAttempts | InvalidInput,
    strawberry.union("ConfirmFactorResult"),
]


@strawberry.type
class FactorUpdated:
    """R15: a factor was renamed or removed; the user's factors as they are now."""

    user: UserType


FactorResult = Annotated[
    FactorUpdated | LastFactor | ReauthenticationRequired | AuthenticationRequired | InvalidInput,
    strawberry.union("FactorResult"),
]
