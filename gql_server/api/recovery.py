"""The "this wasn't me" link of R13 and the password reset it leads to."""

from __future__ import annotations

from typing import Annotated

import strawberry

from gql_server.api.context import Info
from gql_server.api.errors import ChallengeExpired, InvalidInput, TooManyAttempts, error_for
from gql_server.api.login import (
    ConversionPending,
    ConversionRequired,
    LoginSuccess,
    SecondFactorRequired,
    login_result,
)
from gql_server.auth.report import ChangeReported as Reported
from gql_server.auth.results import BadInput

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


async def report_unrecognized_change(info: Info, token: str) -> ReportUnrecognizedChangeResult:
    """R13: the link in a notice sent to the previous address ("this wasn't me")."""
    outcome = await info.context.services.reports.report(token, ip=info.context.client_ip)
    if isinstance(outcome, Reported):
        return ChangeReported(message=STOPPED if outcome.cancelled else NOT_UNDONE, cancelled=outcome.cancelled)
    error = error_for(outcome)
    assert isinstance(error, ChallengeExpired)
    return error


async def reset_password(info: Info, token: str, new_password: str) -> ResetPasswordResult:
    """R16: a new password with the emailed link; a two-factor user still answers the second factor."""
    services = info.context.services
    outcome = await services.password_resets.reset(
        token, new_password, services.login.after_password, ip=info.context.client_ip
    )
    if isinstance(outcome, BadInput):
        return InvalidInput(message=outcome.message, field=outcome.field)
    result = login_result(outcome, info)
    assert isinstance(
        result,
        LoginSuccess
        | SecondFactorRequired
        | ConversionRequired
        | ConversionPending
        | ChallengeExpired
        | TooManyAttempts,
    )
    return result
