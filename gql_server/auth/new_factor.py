"""Enrolling a new factor, the part the invitation (R5) and a signed-in user adding one (R15) share: which
methods may be enrolled, the enrollment token, the code that proves the factor (S14), the new row.

S15: an enrollment token is bound to its user, and to its kind. One that adds a factor to a signed-in
account carries `add_factor` in its data and is found only by `confirmFactor` (for the same user); an
invitation's enrollment only by `confirmEnrollment`. Neither flow can finish the other's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from gql_server.auth.enrollment_input import PHONE_NUMBER, enrollment_input
from gql_server.auth.factors import FactorCore, client_options, parse_response
from gql_server.auth.hourly import hourly_limit_reached
from gql_server.auth.results import (
    BeginEnrollmentResult,
    ChallengeExpired,
    EnrollmentStarted,
    InvalidCode,
    InvalidInput,
    MethodNotAvailable,
    TooManyAttempts,
)
from gql_server.clock import utcnow
from gql_server.enums import TokenPurpose
from gql_server.limits import ENROLLMENT_ATTEMPTS, ENROLLMENT_LIFETIME, ENROLLMENTS_PER_HOUR
from gql_server.method_kinds import is_challenge_response, is_code_checking, is_code_delivering
from gql_server.models import EnrolledFactor, Token, User
from gql_server.plugin_api import (
    Account,
    SecondFactorMethod,
)
from gql_server.policy import Policy
from gql_server.tokens import find_token, issue_token, reserve_attempt

# The mark of an enrollment that adds a factor to a signed-in account (R15), in the token's data.
ADD_FACTOR = "add_factor"


@dataclass(frozen=True)
class Proven:
    """A valid code came from the factor being enrolled: what the new factor row needs."""

    method_id: str
    state: dict[str, str]
    # The code's counter (TOTP time step), stored so that the same code cannot sign in next (S8).
    counter: int | None


async def find_enrollment(raw: str, *, add_factor: bool) -> Token | None:
    """The live enrollment token of this kind (S15): an added factor's, or an invitation's."""
    enrollment = await find_token(raw, TokenPurpose.ENROLLMENT)
    if enrollment is None or bool(enrollment.data.get(ADD_FACTOR)) is not add_factor:
        return None
    return enrollment


class NewFactors:
    """Begins and proves enrollments (R5, R15); the callers decide who may, and what completing means."""

    def __init__(self, policy: Policy, core: FactorCore, issuer: str) -> None:
        self._policy = policy
        self._core = core
        self._issuer = issuer

    async def begin(
        self,
        user: User,
        method_id: str,
        address: str,
        phone_number: str | None,
        data: dict[str, object],
        given: Mapping[str, object] | None = None,
    ) -> BeginEnrollmentResult:
        """Start enrolling `method_id` for `user`, if every customer of theirs allows it (R5). `address` is
        where an email factor's code goes; `data` is stored with the token beside the method and its state;
        `given` is the caller's `input`, checked against the method's schema (`phone_number` its alias)."""
        allowed = {m.id: m for m in await self._policy.enrollable_methods(user)}
        method = allowed.get(method_id)
        if method is None:
            return MethodNotAvailable()
        checked = enrollment_input(method, given, phone_number)
        if isinstance(checked, InvalidInput | MethodNotAvailable):
            return checked
        phone = checked.get(PHONE_NUMBER)
        enrolled = await EnrolledFactor.filter(user_id=user.id, method=method.id).order_by("created_at")
        account = Account(
            str(user.id),
            address,
            self._issuer,
            user.locale,
            phone if isinstance(phone, str) else None,
            checked,
            tuple(self._core.keyring.decrypt_state(factor.state_encrypted) for factor in enrolled),
        )
        draft = await self._core.begin(method, account)
        if draft is None:
            return MethodNotAvailable()
        if isinstance(draft, InvalidInput):
            return draft
        stored = {**data, "method": method.id, "state": self._core.keyring.encrypt_state(draft.state)}
        async with in_transaction():
            # The user's row is held until the enrollment exists, so that parallel requests count one
            # after another and the hourly limit is exact across processes.
            await User.select_for_update().filter(id=user.id).first()
            refused = await hourly_limit_reached(user.id, TokenPurpose.ENROLLMENT, ENROLLMENTS_PER_HOUR)
            if refused is not None:
                return refused
            enrollment = await issue_token(user, TokenPurpose.ENROLLMENT, ENROLLMENT_LIFETIME, stored)
        sent_to, code_expires_at = draft.sent_to, None
        if is_code_delivering(method):
            sent = await self._core.send_code(enrollment.record, method, draft.state, "enrollment", user.locale)
            if sent is None:
                return MethodNotAvailable()
            if isinstance(sent, TooManyAttempts):
                return sent
            sent_to, code_expires_at = sent.sent_to, sent.expires_at
        return EnrollmentStarted(
            enrollment=enrollment.token,
            expires_at=enrollment.expires_at,
            method=method,
            secret=draft.secret,
            provisioning_uri=draft.provisioning_uri,
            qr_code_svg=draft.qr_code_svg,
            sent_to=sent_to,
            code_expires_at=code_expires_at,
            options=None if draft.options is None else client_options(draft.options),
        )

    def method_of(self, enrollment: Token) -> SecondFactorMethod | None:
        """The installed method an enrollment is for (None once its plugin is gone)."""
        return self._core.methods.get(str(enrollment.data.get("method")))

    async def prove(self, enrollment: Token, code: str) -> Proven | InvalidCode | ChallengeExpired:
        """S14: check a code against the enrollment's own state (S15), as one of ENROLLMENT_ATTEMPTS."""
        method = self.method_of(enrollment)
        if method is None:
            return ChallengeExpired()
        used = await reserve_attempt(enrollment, ENROLLMENT_ATTEMPTS)
        if used is None:
            return ChallengeExpired()
        state = self._core.keyring.decrypt_state(str(enrollment.data["state"]))
        counter: int | None = None
        # As at login (check_code): a challenge-response method first, whatever else it implements.
        if is_challenge_response(method):
            # The client's registration response, as JSON text where other methods send a code.
            response = parse_response(code)
            finished = None if response is None else await self._core.finish_enrollment(method, state, response)
            ok = finished is not None and finished.state is not None
            if finished is not None and finished.state is not None:
                counter, state = finished.counter, dict(finished.state)
        elif is_code_checking(method):
            verified = await self._core.check_with_plugin(method, state, code)
            ok = verified is not None
            if verified is not None:
                counter = verified.counter
                # A method whose state changes with each use starts the factor from the state after it.
                state = dict(verified.state) if verified.state is not None else state
        elif is_code_delivering(method):
            ok = await self._core.check_sent_code(enrollment, method.id, code)
        else:
            ok = False
        if not ok:
            # After the last wrong code `reserve_attempt` refuses this enrollment; a new one must begin.
            return InvalidCode(attempts_left=ENROLLMENT_ATTEMPTS - used)
        return Proven(method.id, state, counter)

    async def create(self, user: User, proven: Proven, label: str | None = None) -> EnrolledFactor:
        """The new active factor (inside the caller's transaction, with the token used in it)."""
        return await EnrolledFactor.create(
            user=user,
            method=proven.method_id,
            state_encrypted=self._core.keyring.encrypt_state(proven.state),
            # The code that proved the factor cannot be replayed at the next login (S8).
            last_counter=proven.counter,
            created_at=utcnow(),
            label=label,
        )
