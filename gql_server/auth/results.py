"""What the auth services answer: plain data, one class per outcome. The API maps each to a union member."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gql_server.enums import InvitationPassword
from gql_server.factors import SecondFactorMethod
from gql_server.models import Customer, EnrolledFactor, User
from gql_server.outbox import Delivery
from gql_server.sessions import NewSession
from gql_server.tokens import IssuedToken


@dataclass(frozen=True)
class LoggedIn:
    """A session was created."""

    user: User
    session: NewSession


@dataclass(frozen=True)
class ConversionNeeded:
    """R3: the password was right, but the user must convert first; the ticket only allows that."""

    ticket: IssuedToken
    email: str


@dataclass(frozen=True)
class ConversionStillPending:
    """R4: a conversion was started earlier; the ticket can only re-send the invitation."""

    ticket: IssuedToken
    sent_to: str


@dataclass(frozen=True)
class SecondFactorNeeded:
    """R6: the password was right; a second factor must follow within this challenge."""

    challenge: IssuedToken
    methods: list[SecondFactorMethod]


@dataclass(frozen=True)
class CredentialsRejected:
    """Wrong password, unknown email, or a locked password step: deliberately one outcome (S3)."""


@dataclass(frozen=True)
class WrongCode:
    """A second-factor code was wrong; `attempts_left` on this challenge or enrollment (S5)."""

    attempts_left: int


@dataclass(frozen=True)
class TokenInvalid:
    """The ticket, challenge, invitation or enrollment is unknown, used, expired or out of attempts."""


@dataclass(frozen=True)
class Throttled:
    """A limit was reached (S6 lockout, re-send limits); try again after this many seconds."""

    retry_after_seconds: int


@dataclass(frozen=True)
class Busy:
    """Too many logins wait for password hashing: nothing was checked, retry after this many seconds (P4)."""

    retry_after_seconds: int


@dataclass(frozen=True)
class MethodUnavailable:
    """The method is not installed, not allowed for this user, or not enrolled; `recovery_only` when
    the user's wrong codes reached the S41 cap and only a recovery code signs in."""

    recovery_only: bool = False


@dataclass(frozen=True)
class EmailTaken:
    """The address belongs to another account (R4)."""


LoginOutcome = (
    LoggedIn
    | ConversionNeeded
    | ConversionStillPending
    | SecondFactorNeeded
    | CredentialsRejected
    | WrongCode
    | TokenInvalid
    | Throttled
    | MethodUnavailable
    | Busy
)


@dataclass(frozen=True)
class NotAuthenticated:
    """The operation needs a session that satisfies the policy."""


@dataclass(frozen=True)
class NotPermitted:
    """The caller is signed in but may not do this."""


@dataclass(frozen=True)
class BadInput:
    """The input was refused; nothing changed."""

    message: str
    field: str | None = None


@dataclass(frozen=True)
class SettingsUpdated:
    """The customer's settings after a successful update."""

    customer: Customer


SettingsOutcome = SettingsUpdated | NotAuthenticated | NotPermitted | BadInput


@dataclass(frozen=True)
class InvitationSent:
    """R4: the conversion is PENDING and the invitation is on its way to `sent_to` (masked); `delivery` says
    whether the mail server took it already (SENT) or the outbox is still trying (QUEUED, S36)."""

    sent_to: str
    expires_at: datetime
    delivery: Delivery


@dataclass(frozen=True)
class InvitationView:
    """What an invitation link allows (R5)."""

    email: str
    expires_at: datetime
    methods: list[SecondFactorMethod]
    password: InvitationPassword


@dataclass(frozen=True)
class EnrollmentBegun:
    """An enrollment token and what the user needs to set the factor up."""

    enrollment: str
    expires_at: datetime
    method: SecondFactorMethod
    secret: str | None = None
    provisioning_uri: str | None = None
    qr_code_svg: str | None = None
    sent_to: str | None = None


@dataclass(frozen=True)
class EnrollmentDone:
    """R5: the factor is active, the user is TWO_FACTOR, with a new session and recovery codes (shown once)."""

    user: User
    session: NewSession
    recovery_codes: list[str]
    factor: EnrolledFactor


@dataclass(frozen=True)
class CodeDispatched:
    """A login code was sent for a challenge."""

    sent_to: str
    expires_at: datetime


ConversionOutcome = InvitationSent | TokenInvalid | EmailTaken | BadInput | NotAuthenticated | Throttled
BeginOutcome = EnrollmentBegun | TokenInvalid | MethodUnavailable | Throttled | BadInput
ConfirmOutcome = EnrollmentDone | WrongCode | TokenInvalid | BadInput | Throttled | EmailTaken | CredentialsRejected
SendCodeOutcome = CodeDispatched | TokenInvalid | MethodUnavailable | Throttled
