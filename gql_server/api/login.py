"""The login step and logout: LoginResult and its members."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from gql_server.api.context import Info
from gql_server.api.errors import (
    ChallengeExpired,
    InvalidCode,
    InvalidCredentials,
    MethodNotAvailable,
    TooManyAttempts,
    error_for,
)
from gql_server.api.methods import SecondFactorMethodType
from gql_server.api.users import SessionType, UserType
from gql_server.auth.results import (
    ConversionNeeded,
    ConversionStillPending,
    LoggedIn,
    LoginOutcome,
    SecondFactorNeeded,
)


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


def login_result(outcome: LoginOutcome, info: Info) -> LoginResult:
    """Translate a login outcome into its union member; a new session also sets the cookie."""
    match outcome:
        case LoggedIn(user=user, session=new):
            info.context.sign_in(new)
            return LoginSuccess(
                token=new.token,
                session=SessionType.from_model(new.session, info),
                user=UserType.from_model(user),
            )
        case ConversionNeeded(ticket=ticket, email=email):
            return ConversionRequired(ticket=ticket.token, expires_at=ticket.expires_at, email=email)
        case ConversionStillPending(ticket=ticket, sent_to=sent_to):
            return ConversionPending(ticket=ticket.token, expires_at=ticket.expires_at, sent_to=sent_to)
        case SecondFactorNeeded(challenge=challenge, methods=methods):
            return SecondFactorRequired(
                challenge=challenge.token,
                expires_at=challenge.expires_at,
                methods=[SecondFactorMethodType.from_method(m) for m in methods],
            )
    error = error_for(outcome)
    assert isinstance(error, InvalidCredentials | InvalidCode | ChallengeExpired | TooManyAttempts | MethodNotAvailable)
    return error


async def login(info: Info, email: str, password: str) -> LoginResult:
    """Step one of every login."""
    services = info.context.services
    outcome = await services.login.login(email, password, ip=info.context.client_ip)
    return login_result(outcome, info)


async def verify_second_factor(info: Info, challenge: str, method: str, code: str) -> LoginResult:
    """Step two of a two-factor login: one code for the challenge (each call is one attempt, S7)."""
    services = info.context.services
    outcome = await services.second_factor.verify(challenge, method, code, ip=info.context.client_ip)
    return login_result(outcome, info)


async def logout(info: Info) -> bool:
    """Ends the current session. True when a session was ended."""
    session = await info.context.session()
    info.context.clear_session_cookie()
    info.context.forget_session()
    if session is None:
        return False
    return await info.context.services.login.logout(session, ip=info.context.client_ip)
