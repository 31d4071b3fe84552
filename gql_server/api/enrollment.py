"""Enrolling a second factor from an invitation (R5, S14, S15): the two mutations' unions and their members."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from gql_server.api.errors import (
    ChallengeExpired,
    EmailInUse,
    InvalidCode,
    InvalidCredentials,
    InvalidInput,
    MethodNotAvailable,
    ReauthenticationRequired,
    TooManyAttempts,
)
from gql_server.api.methods import SecondFactorMethodType
from gql_server.api.users import SessionType, UserType


@strawberry.type(description="Method-specific fields are null where they do not apply.")
class EnrollmentStarted:
    """An enrollment is under way: prove the factor with a code from it."""

    enrollment: str
    method: SecondFactorMethodType
    expires_at: datetime
    secret: str | None
    provisioning_uri: str | None
    qr_code_svg: str | None
    sent_to: str | None
    code_expires_at: datetime | None = strawberry.field(
        description=(
            "For methods that send a code (email, SMS): when the code just sent expires (10 minutes), sooner "
            "than the enrollment itself (`expiresAt`). Null for other methods."
        )
    )
    options: JSON | None = strawberry.field(
        description=(
            "For challenge-response methods (passkeys): what the client answers; send its response as JSON "
            "text in confirmEnrollment's (or confirmFactor's) `code`."
        )
    )


# ReauthenticationRequired is addFactor's (R14): an invitation's beginEnrollment never answers it.
BeginEnrollmentResult = Annotated[
    EnrollmentStarted
    | ChallengeExpired
    | MethodNotAvailable
    | TooManyAttempts
    | InvalidInput
    | ReauthenticationRequired,
    strawberry.union("BeginEnrollmentResult"),
]


@strawberry.type
class EnrollmentCompleted:
    """The factor is active and the user signs in with two factors from now on."""

    token: str
    session: SessionType
    user: UserType
    recovery_codes: list[str] = strawberry.field(description="Shown once; each works once.")


ConfirmEnrollmentResult = Annotated[
    EnrollmentCompleted
    | InvalidCode
    | ChallengeExpired
    | InvalidInput
    | TooManyAttempts
    | EmailInUse
    | InvalidCredentials,
    strawberry.union("ConfirmEnrollmentResult"),
]
