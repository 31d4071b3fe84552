"""Continuing from the invitation (R5): choose a method, prove it with a code, become TWO_FACTOR.

S13 (invitation tokens), S14 (a factor is active only after a valid code; the user is told),
S15 (an enrollment's code is checked only against that enrollment's own state, bound to its user),
S34 (an invitation nobody asked for with the account's password, an operator reset's, needs the
password to finish: the mailbox alone never gets a two-factor session), R13 (a completed change of
address is announced to the previous one, and audited with both addresses).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from gql_server.audit import AuditKind, Auditor
from gql_server.auth import account_state
from gql_server.auth.account_state import IllegalTransition, StateChanged, is_two_factor
from gql_server.auth.factors import FactorCore
from gql_server.auth.login import LoginService
from gql_server.auth.new_factor import NewFactors, Proven, find_enrollment
from gql_server.auth.notices import ChangeNotices
from gql_server.auth.results import (
    BeginEnrollmentResult,
    ChallengeExpired,
    ConfirmEnrollmentResult,
    EmailInUse,
    EnrollmentCompleted,
    InvalidCredentials,
    InvalidInput,
    Invitation,
    TooManyAttempts,
)
from gql_server.auth.second_factor import password_proven
from gql_server.clock import utcnow
from gql_server.enums import Assurance, InvitationPassword, TokenPurpose
from gql_server.method_names import method_name
from gql_server.models import EnrolledFactor, Token, User
from gql_server.outbox import Outbox, Queued
from gql_server.passwords import PasswordRejected, PasswordService, check_new_password
from gql_server.policy import Policy
from gql_server.sessions import SessionPolicy, create_session, end_user_sessions
from gql_server.tokens import find_token, use_token

log = logging.getLogger(__name__)


def password_needed(invitation: Token, user: User) -> InvitationPassword:
    """What finishing this invitation needs besides the code."""
    if user.password_hash is None:
        return InvitationPassword.NEW
    # Invitations written before S34 carry no mark: only an operator reset made one for a two-factor user.
    proven = invitation.data.get("password_proven", not is_two_factor(user))
    return InvitationPassword.NONE if proven else InvitationPassword.CURRENT


@dataclass(frozen=True)
class EnrollmentSettings:
    """What enrollment needs from the configuration."""

    sessions: SessionPolicy


class EnrollmentService:
    """Invitation -> beginEnrollment -> confirmEnrollment."""

    def __init__(
        self,
        policy: Policy,
        core: FactorCore,
        new_factors: NewFactors,
        passwords: PasswordService,
        auditor: Auditor,
        outbox: Outbox,
        notices: ChangeNotices,
        login: LoginService,
        settings: EnrollmentSettings,
    ) -> None:
        self._policy = policy
        self._core = core
        self._new = new_factors
        self._passwords = passwords
        self._audit = auditor
        self._outbox = outbox
        self._notices = notices
        self._login = login
        self._settings = settings

    async def invitation(self, raw: str) -> Invitation | None:
        """What an invitation link allows; None when unknown, used or expired."""
        invitation = await find_token(raw, TokenPurpose.INVITATION)
        if invitation is None:
            return None
        user = invitation.user
        return Invitation(
            email=_invited_address(invitation),
            expires_at=invitation.expires_at,
            methods=await self._policy.enrollable_methods(user),
            password=password_needed(invitation, user),
            locale=user.locale,
        )

    async def begin(
        self,
        raw_invitation: str,
        method_id: str,
        phone_number: str | None = None,
        given: Mapping[str, object] | None = None,
    ) -> BeginEnrollmentResult:
        """Start enrolling one of the methods allowed for this user (R5), with the method's `input`."""
        invitation = await find_token(raw_invitation, TokenPurpose.INVITATION)
        if invitation is None:
            return ChallengeExpired()
        data: dict[str, object] = {"invitation": str(invitation.id)}
        address = _invited_address(invitation)
        return await self._new.begin(invitation.user, method_id, address, phone_number, data, given)

    async def confirm(
        self,
        raw_enrollment: str,
        code: str,
        password: str | None,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> ConfirmEnrollmentResult:
        """S14: the factor becomes active only with a valid code from it; then the user is TWO_FACTOR."""
        # S15: an enrollment that adds a factor to a signed-in account (R15) is not an invitation's.
        enrollment = await find_enrollment(raw_enrollment, add_factor=False)
        if enrollment is None:
            return ChallengeExpired()
        user = enrollment.user
        invitation = await Token.get_or_none(
            id=enrollment.data.get("invitation"), used_at=None, expires_at__gt=utcnow()
        )
        if invitation is None or self._new.method_of(enrollment) is None:
            return ChallengeExpired()
        problem = await self._password_proof(invitation, user, password, ip)
        if problem is not None:
            return problem
        proven = await self._new.prove(enrollment, code)
        if not isinstance(proven, Proven):
            return proven
        new_hash = await self._passwords.hash(password) if user.password_hash is None and password else None
        return await self._complete(user, enrollment, invitation, proven, new_hash, ip, user_agent)

    async def _password_proof(
        self, invitation: Token, user: User, password: str | None, ip: str | None
    ) -> InvalidInput | InvalidCredentials | TooManyAttempts | None:
        """What the invitation needs besides the code (R5, S34); None when it is there."""
        needed = password_needed(invitation, user)
        if needed is InvitationPassword.NEW:
            return _password_problem(password)
        if needed is InvitationPassword.CURRENT:
            if not password:
                return InvalidInput(
                    "Type your account's password: the invitation alone does not sign you in.", "password"
                )
            # Under the login's own limits: the mailbox alone must not become a way to guess the password.
            return await self._login.confirm_password(user, password, ip=ip)
        return None

    async def _complete(
        self,
        user: User,
        enrollment: Token,
        invitation: Token,
        proven: Proven,
        new_hash: str | None,
        ip: str | None,
        user_agent: str | None,
    ) -> ConfirmEnrollmentResult:
        address = _invited_address(invitation)
        previous_address = user.email
        try:
            async with in_transaction():
                # Both tokens are used exactly once, even when two confirmations race.
                if not await use_token(enrollment) or not await use_token(invitation):
                    raise _Raced
                factor = await self._new.create(user, proven)
                changes: dict[str, object] = {"email": address, "pending_email": None}
                if new_hash:
                    changes["password_hash"] = new_hash
                # R5: the user is TWO_FACTOR from now on (R9: for good); `left` says whether this converted them.
                left = await _become_two_factor(user, changes)
                # Sessions from before the conversion were one-factor; none of them outlives it.
                await end_user_sessions(user)
                user = await User.get(id=user.id)
                codes = await self._core.replace_recovery_codes(user)
                # The factors start afresh (a conversion, or R9's reset-factors, which S34 lets a reset by link
                # precede): no earlier reset keeps the mailbox's methods out of the user's logins.
                await password_proven(user)
                new_session = await create_session(
                    user,
                    Assurance.TWO_FACTOR,
                    self._settings.sessions,
                    ip=ip,
                    user_agent=user_agent,
                    factor_verified=True,
                )
                # The notices are written with the change (S14, R13): no change without its notice.
                notices = [await self._factor_added_notice(user, proven.method_id)]
                if address != previous_address:
                    notices.append(await self._notices.address_changed(user, previous_address, address))
        except _Raced:
            return ChallengeExpired()
        except IntegrityError:
            # The address was taken by another account after the invitation was sent.
            return EmailInUse()
        self._outbox.deliver_later(notices)
        await self._audit_completion(user, factor, left != account_state.TWO_FACTOR, previous_address, ip)
        return EnrollmentCompleted(user=user, session=new_session, recovery_codes=codes, factor=factor)

    async def _factor_added_notice(self, user: User, method_id: str) -> Queued:
        name = method_name(self._core.methods.get(method_id), user.locale, method_id)
        return await self._outbox.put("factor_added", to=user.email, locale=user.locale, method_name=name)

    async def _audit_completion(
        self, user: User, factor: EnrolledFactor, converting: bool, previous_address: str, ip: str | None
    ) -> None:
        if user.email != previous_address:
            # History keeps both addresses (R13): the events before this one name the old one.
            await self._audit.record(
                AuditKind.EMAIL_CHANGED, subject=user, data={"old": previous_address, "new": user.email, "ip": ip}
            )
        if converting:
            await self._audit.record(AuditKind.CONVERSION_COMPLETED, subject=user, data={"ip": ip})
        await self._audit.record(AuditKind.FACTOR_ADDED, subject=user, data={"method": factor.method, "ip": ip})


class _Raced(Exception):
    """Another request used the enrollment or the invitation first (or moved the account's state)."""


async def _become_two_factor(user: User, changes: dict[str, object]) -> account_state.AccountState:
    """Move the account to TWO_FACTOR with `changes`; the state it left. A completed conversion or a
    two-factor account enrolling again after a reset qualify; any other state is refused (R9)."""
    try:
        return await account_state.move(user, account_state.TWO_FACTOR, **changes)
    except StateChanged:
        raise _Raced from None
    except IllegalTransition:
        # No invitation is ever issued to an account in another state: a bug, not a user's doing.
        log.exception("an enrollment was confirmed for user %s in an unexpected state", user.id)
        raise _Raced from None


def _invited_address(invitation: Token) -> str:
    # The conversion service records where each invitation was sent.
    return str(invitation.data["email"])


def _password_problem(password: str | None) -> InvalidInput | None:
    if not password:
        return InvalidInput("Choose a password: this account does not have one yet.", "password")
    try:
        check_new_password(password)
    except PasswordRejected as exc:
        return InvalidInput(str(exc), "password")
    return None
