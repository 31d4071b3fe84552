"""Enrolling a second factor from an invitation (R5, S14, S15)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from gql_server.api.context import Info
from gql_server.api.errors import (
    ChallengeExpired,
    EmailInUse,
    InvalidCode,
    InvalidCredentials,
    InvalidInput,
    MethodNotAvailable,
    TooManyAttempts,
    error_for,
)
from gql_server.api.methods import SecondFactorMethodType
from gql_server.api.users import SessionType, UserType
from gql_server.auth.results import EnrollmentBegun, EnrollmentDone


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


BeginEnrollmentResult = Annotated[
    EnrollmentStarted | ChallengeExpired | MethodNotAvailable | TooManyAttempts | InvalidInput,
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


async def begin_enrollment(
    info: Info,
    invitation: str,
    method: str,
    phone_number: Annotated[
        str | None, strawberry.argument(description="For methods that text a code (sms): where to send it.")
    ] = None,
) -> BeginEnrollmentResult:
    """Choose a method from the invitation and start enrolling it."""
    outcome = await info.context.services.enrollment.begin(invitation, method, phone_number)
    if isinstance(outcome, EnrollmentBegun):
        return EnrollmentStarted(
            enrollment=outcome.enrollment,
            method=SecondFactorMethodType.from_method(outcome.method),
            expires_at=outcome.expires_at,
            secret=outcome.secret,
            provisioning_uri=outcome.provisioning_uri,
            qr_code_svg=outcome.qr_code_svg,
            sent_to=outcome.sent_to,
        )
    error = error_for(outcome)
    assert isinstance(error, ChallengeExpired | MethodNotAvailable | TooManyAttempts | InvalidInput)
    return error


async def confirm_enrollment(
    info: Info, enrollment: str, code: str, password: str | None = None
) -> ConfirmEnrollmentResult:
    """Prove the factor with a code; the session token is also set as the cookie."""
    services = info.context.services
    outcome = await services.enrollment.confirm(enrollment, code, password, ip=info.context.client_ip)
    if isinstance(outcome, EnrollmentDone):
        info.context.sign_in(outcome.session)
        return EnrollmentCompleted(
            token=outcome.session.token,
            session=SessionType.from_model(outcome.session.session, info),
            user=UserType.from_model(outcome.user),
            recovery_codes=outcome.recovery_codes,
        )
    error = error_for(outcome)
    assert isinstance(
        error, InvalidCode | ChallengeExpired | InvalidInput | TooManyAttempts | EmailInUse | InvalidCredentials
    )
    return error
