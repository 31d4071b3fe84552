"""What the auth services answer: plain data, one class per outcome, each named like the GraphQL type that
shows it (`ChallengeExpired` here is `ChallengeExpired` in the schema), and one union per operation, named
like the operation's GraphQL union. `api/outcomes.py` translates each class, once, for every resolver."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING

from gql_server.enums import InvitationKind, InvitationPassword
from gql_server.models import Customer, EnrolledFactor, Session, User
from gql_server.outbox import Delivery
from gql_server.plugin_api import SecondFactorMethod
from gql_server.sessions import NewSession
from gql_server.tokens import IssuedToken

if TYPE_CHECKING:
    # Only a type here (every dataclass of this module is an outcome, and auth/devices.py imports these).
    from gql_server.auth.devices import NewDevice


@dataclass(frozen=True)
class LoginSuccess:
    """A session was created; `device` when the browser is to be remembered as well (R18)."""

    user: User
    session: NewSession
    device: NewDevice | None = None


@dataclass(frozen=True)
class ConversionRequired:
    """R3: the password was right, but the user must convert first; the ticket only allows that."""

    ticket: IssuedToken
    email: str


@dataclass(frozen=True)
class ConversionPending:
    """R4: a conversion was started earlier; the ticket can only re-send the invitation."""

    ticket: IssuedToken
    sent_to: str


@dataclass(frozen=True)
class SecondFactorRequired:
    """R6: the password was right; a second factor must follow within this challenge."""

    challenge: IssuedToken
    methods: list[SecondFactorMethod]
    # R18: how many days `rememberDevice` would keep this browser (0: the user's customers do not allow it).
    remember_device_days: int = 0


@dataclass(frozen=True)
class InvalidCredentials:
    """Wrong password, unknown email, or a locked password step: deliberately one outcome (S3)."""


@dataclass(frozen=True)
class InvalidCode:
    """A second-factor code was wrong; `attempts_left` on this challenge or enrollment (S5). `reused_code`: it
    was right, but already used (S8's replay guard: e.g. the TOTP code that just proved an enrollment), so
    the user waits for the next one rather than doubting their device."""

    attempts_left: int
    reused_code: bool = False


@dataclass(frozen=True)
class ChallengeExpired:
    """The ticket, challenge, invitation or enrollment is unknown, used, expired or out of attempts."""


class Wait(Enum):
    """Why a caller must wait: the answer is the same union member, the message differs."""

    LIMIT = "limit"  # a limit was reached (S6 lockout, re-send limits)
    BUSY = "busy"  # too many logins wait for password hashing: nothing was checked (P4)


@dataclass(frozen=True)
class TooManyAttempts:
    """Try again after this many seconds, for the `reason` given."""

    retry_after_seconds: int
    reason: Wait = Wait.LIMIT


@dataclass(frozen=True)
class MethodNotAvailable:
    """The method is not installed, not allowed for this user, or not enrolled; `recovery_only` when
    the user's wrong codes reached the S41 cap and only a recovery code signs in; `phishing_resistant_only`
    when the user has a factor of it but a policy's `login_methods` refuses it (requirePhishingResistantAdmins)."""

    recovery_only: bool = False
    phishing_resistant_only: bool = False


@dataclass(frozen=True)
class EmailInUse:
    """The address belongs to another account (R4)."""


# What a correct password leads to (R3, R4, R6): the same after a login and after a reset by link (R16).
PasswordAccepted = LoginSuccess | ConversionRequired | ConversionPending | SecondFactorRequired

LoginResult = (
    PasswordAccepted | InvalidCredentials | InvalidCode | ChallengeExpired | TooManyAttempts | MethodNotAvailable
)


@dataclass(frozen=True)
class AuthenticationRequired:
    """The operation needs a session that satisfies the policy."""


@dataclass(frozen=True)
class PermissionDenied:
    """The caller is signed in but may not do this."""


@dataclass(frozen=True)
class InvalidInput:
    """The input was refused; nothing changed."""

    message: str
    field: str | None = None


@dataclass(frozen=True)
class CustomerSettingsUpdated:
    """The customer's settings after a successful update."""

    customer: Customer


UpdateCustomerSettingsResult = CustomerSettingsUpdated | AuthenticationRequired | PermissionDenied | InvalidInput


@dataclass(frozen=True)
class EnforcementImpact:
    """R11: how the customer's members stand, before enforcement is switched on."""

    total_users: int
    converted: int
    pending: int
    not_started: int
    users_to_convert: list[User]


@dataclass(frozen=True)
class ConversionRequested:
    """R4: the conversion is PENDING and the invitation is on its way to `sent_to` (masked); `delivery` says
    whether the mail server took it already (SENT) or the outbox is still trying (QUEUED, S36)."""

    sent_to: str
    expires_at: datetime
    delivery: Delivery


@dataclass(frozen=True)
class Invitation:
    """What an invitation link allows (R5)."""

    email: str
    expires_at: datetime
    methods: list[SecondFactorMethod]
    password: InvitationPassword
    # The account's language (R13): the page opens in it, as the invitation email was written in it.
    locale: str
    # R19, R20: ENROLL (choose a factor), or sign in to the named account and accept (no methods then).
    kind: InvitationKind = InvitationKind.ENROLL
    # JOIN_CUSTOMER: the customer's name; LINK_ACCOUNT: the customers whose memberships would move.
    customer_name: str | None = None
    # LINK_ACCOUNT: the masked address of the account whose memberships would move (R20).
    link_from: str | None = None


@dataclass(frozen=True)
class EnrollmentStarted:
    """An enrollment token and what the user needs to set the factor up."""

    enrollment: str
    expires_at: datetime
    method: SecondFactorMethod
    secret: str | None = None
    provisioning_uri: str | None = None
    qr_code_svg: str | None = None
    sent_to: str | None = None
    # When the code that was sent expires (delivering methods): before the enrollment does.
    code_expires_at: datetime | None = None
    # A challenge-response method's options for the client (JSON), answered as confirm's `code`.
    options: dict[str, object] | None = None


@dataclass(frozen=True)
class EnrollmentCompleted:
    """R5: the factor is active, the user is TWO_FACTOR, with a new session and recovery codes (shown once)."""

    user: User
    session: NewSession
    recovery_codes: list[str]
    factor: EnrolledFactor


@dataclass(frozen=True)
class CodeSent:
    """A login code was sent for a challenge."""

    sent_to: str
    expires_at: datetime


@dataclass(frozen=True)
class PasswordResetRequested:
    """R16: the same answer for any address; a link went out only if it is an account's."""


@dataclass(frozen=True)
class ProfileUpdated:
    """R13: the user's own settings (their language) were saved."""

    user: User


@dataclass(frozen=True)
class ChangeReported:
    """R13: the change was stopped (or could not be undone), every session ended, a reset link sent."""

    cancelled: bool


@dataclass(frozen=True)
class ReauthenticationRequired:
    """R14: the session's second factor is older than the step-up window; `methods` can verify it again
    (none for a password user, who has no factor)."""

    methods: list[str]


@dataclass(frozen=True)
class Reauthenticated:
    """R14: a second factor was verified again; the session's `verified_at` is now."""

    session: Session


@dataclass(frozen=True)
class RecoveryCodesReplaced:
    """R15, S11: a new set of recovery codes replaced the old one; shown once."""

    recovery_codes: list[str]


@dataclass(frozen=True)
class PasswordChanged:
    """R16: the password was changed; `session` is the caller's, which stays (the others ended, S18)."""

    session: Session


@dataclass(frozen=True)
class EmailChangeRequested:
    """R13: a link to confirm the new address is on its way to `sent_to` (masked), whether or not the
    address has an account (then that account's owner gets a notice instead, and nothing else happens)."""

    sent_to: str
    expires_at: datetime


@dataclass(frozen=True)
class EmailChanged:
    """R13: the new address was proven by its link and is the account's address now."""

    user: User


@dataclass(frozen=True)
class FactorAdded:
    """R15, S14: a signed-in user's new factor is active (proved with a code from it)."""

    factor: EnrolledFactor


@dataclass(frozen=True)
class FactorUpdated:
    """R15: one of the user's factors was renamed or removed; the user as they are now."""

    user: User


@dataclass(frozen=True)
class LastFactor:
    """R9: the user's last second factor stays (recovery codes are not a factor); `phishing_resistant`: the
    last one of the methods a policy's `login_methods` narrows the user's login to stays too."""

    phishing_resistant: bool = False


@dataclass(frozen=True)
class SecondFactorChallenge:
    """A challenge-response method's options for the client (JSON), answered as `code` (JSON text)."""

    options: dict[str, object]
    expires_at: datetime


@dataclass(frozen=True)
class LastAdministrator:
    """R19: the change would leave the customer without a CUSTOMER-level member."""


@dataclass(frozen=True)
class UserInvited:
    """R19: an invitation is on its way (a new account's, or a JOIN_CUSTOMER one: the answer is the same)."""

    sent_to: str


@dataclass(frozen=True)
class InvitationResent:
    """R19: a pending member's invitation was sent again."""

    sent_to: str
    expires_at: datetime


@dataclass(frozen=True)
class MemberUpdated:
    """R19: a member's level was changed, or the member removed; the customer as it is now."""

    customer: Customer


@dataclass(frozen=True)
class PasswordResetSent:
    """R19: a reset link went to a password member's own address."""

    sent_to: str


@dataclass(frozen=True)
class InvitationAccepted:
    """R19, R20: the signed-in account joined the customer, or took over the linked account's memberships."""

    user: User


RequestConversionResult = (
    ConversionRequested | ChallengeExpired | EmailInUse | InvalidInput | AuthenticationRequired | TooManyAttempts
)
# ReauthenticationRequired: only addFactor's (R14); an invitation's beginEnrollment never answers it.
BeginEnrollmentResult = (
    EnrollmentStarted
    | ChallengeExpired
    | MethodNotAvailable
    | TooManyAttempts
    | InvalidInput
    | ReauthenticationRequired
)
ConfirmEnrollmentResult = (
    EnrollmentCompleted
    | InvalidCode
    | ChallengeExpired
    | InvalidInput
    | TooManyAttempts
    | EmailInUse
    | InvalidCredentials
)
SendLoginCodeResult = CodeSent | ChallengeExpired | MethodNotAvailable | TooManyAttempts
BeginSecondFactorResult = SecondFactorChallenge | ChallengeExpired | MethodNotAvailable | TooManyAttempts
ReportUnrecognizedChangeResult = ChangeReported | ChallengeExpired
UpdateProfileResult = ProfileUpdated | InvalidInput | AuthenticationRequired
RequestPasswordResetResult = PasswordResetRequested | InvalidInput | TooManyAttempts
ReauthenticateResult = Reauthenticated | InvalidCode | MethodNotAvailable | TooManyAttempts | AuthenticationRequired
RegenerateRecoveryCodesResult = RecoveryCodesReplaced | ReauthenticationRequired | AuthenticationRequired
ResetPasswordResult = PasswordAccepted | ChallengeExpired | InvalidInput | TooManyAttempts
ChangePasswordResult = (
    PasswordChanged
    | InvalidCredentials
    | InvalidInput
    | ReauthenticationRequired
    | AuthenticationRequired
    | TooManyAttempts
)
RequestEmailChangeResult = (
    EmailChangeRequested | InvalidInput | ReauthenticationRequired | AuthenticationRequired | TooManyAttempts
)
ConfirmEmailChangeResult = EmailChanged | ChallengeExpired | EmailInUse
ConfirmFactorResult = (
    FactorAdded | InvalidCode | ChallengeExpired | ReauthenticationRequired | TooManyAttempts | InvalidInput
)
FactorResult = FactorUpdated | LastFactor | ReauthenticationRequired | AuthenticationRequired | InvalidInput
InviteUserResult = UserInvited | InvalidInput | PermissionDenied | AuthenticationRequired | TooManyAttempts
ResendInvitationResult = InvitationResent | InvalidInput | PermissionDenied | AuthenticationRequired | TooManyAttempts
MemberResult = MemberUpdated | LastAdministrator | InvalidInput | PermissionDenied | AuthenticationRequired
SendPasswordResetResult = PasswordResetSent | InvalidInput | PermissionDenied | AuthenticationRequired | TooManyAttempts
# InvalidInput: accepting would leave the account no method it may enroll (S32).
AcceptInvitationResult = (
    InvitationAccepted | ChallengeExpired | AuthenticationRequired | ReauthenticationRequired | InvalidInput
)
