"""A two-factor user's own factors (R15): what they change, each behind step-up (R14), each announced to
the account's address with a "this wasn't me" link (R13, S14), each audited.

Adding is two steps, as enrolling from the invitation is (R5, `auth/new_factor.py`): `add` begins an
enrollment for a signed-in two-factor user; `confirm` makes the factor active with a code from it (S14),
and that is where the account changes, so that is where step-up is asked. An enrollment begun here is
bound to its user and is not an invitation's (S15).

Never the last factor (R9): a removal holds the user's row while it counts the factors that remain, so
that two parallel removals of the last two leave one. Removing a factor ends the user's other sessions;
the one that removed it, just stepped up, stays (S18).

Recovery codes: `regenerate_recovery_codes` replaces the whole set (S11); the new codes are shown once.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Mapping

from tortoise.transactions import in_transaction

from gql_server.audit import AuditKind, Auditor
from gql_server.auth.accept_invitation import lock_customers
from gql_server.auth.customers import parse_id
from gql_server.auth.devices import forget_every_device
from gql_server.auth.factors import RECOVERY_METHOD, FactorCore
from gql_server.auth.new_factor import ADD_FACTOR, NewFactors, Proven, find_enrollment
from gql_server.auth.notices import ChangeNotices
from gql_server.auth.results import (
    AuthenticationRequired,
    BeginEnrollmentResult,
    ChallengeExpired,
    ConfirmFactorResult,
    FactorAdded,
    FactorResult,
    FactorUpdated,
    InvalidInput,
    LastFactor,
    ReauthenticationRequired,
    RecoveryCodesReplaced,
    RegenerateRecoveryCodesResult,
)
from gql_server.auth.step_up import StepUpService
from gql_server.limits import FACTOR_LABEL_MAX_LENGTH
from gql_server.method_names import method_name
from gql_server.models import EnrolledFactor, Session, User
from gql_server.outbox import Outbox, Queued
from gql_server.plugin_api import SecondFactorMethod
from gql_server.policy import Policy
from gql_server.sessions import end_user_sessions
from gql_server.tokens import use_token

# One answer for an id that is malformed, unknown or another user's: ids tell nothing about other accounts.
NO_SUCH_FACTOR = InvalidInput("No such factor of yours.", "id")
# Invisible characters that would make a label read differently from what it is, in the client or a mail.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Emoji sequences ("👩‍💻") join with U+200D: the one format character a name may hold.
_ZERO_WIDTH_JOINER = "\u200d"


def clean_label(raw: str | None) -> str | InvalidInput | None:
    """R15: a factor's name as stored (surrounding spaces stripped), None for no name, or why it is refused:
    empty, longer than FACTOR_LABEL_MAX_LENGTH, or holding a control or invisible character."""
    if raw is None:
        return None
    label = raw.strip()
    if not label:
        return InvalidInput("Give the factor a name, or leave the name out.", "label")
    if len(label) > FACTOR_LABEL_MAX_LENGTH:
        return InvalidInput(f"A factor's name is at most {FACTOR_LABEL_MAX_LENGTH} characters.", "label")
    if any(c != _ZERO_WIDTH_JOINER and unicodedata.category(c) in _INVISIBLE for c in label):
        return InvalidInput("A factor's name cannot hold control or invisible characters.", "label")
    return label


class MyFactors:
    """What a signed-in user does with their own second factors and recovery codes."""

    def __init__(
        self,
        core: FactorCore,
        new_factors: NewFactors,
        step_up: StepUpService,
        notices: ChangeNotices,
        outbox: Outbox,
        auditor: Auditor,
        policy: Policy,
        unready: Mapping[str, tuple[SecondFactorMethod, str]] | None = None,
    ) -> None:
        self._core = core
        # Installed methods that cannot work now (services.unready_methods): their factors are still named.
        self._unready = {method_id: method for method_id, (method, _why) in (unready or {}).items()}
        self._new = new_factors
        self._step_up = step_up
        self._notices = notices
        self._outbox = outbox
        self._audit = auditor
        self._policy = policy

    async def add(
        self,
        session: Session | None,
        method_id: str,
        phone_number: str | None = None,
        given: Mapping[str, object] | None = None,
    ) -> BeginEnrollmentResult:
        """Begin enrolling another factor for a signed-in two-factor user, under R5's rules (the methods
        every customer allows, ENROLLMENTS_PER_HOUR), after a recent second factor (R14 names adding a
        factor: without it a stolen or remembered-browser session could have codes texted or mailed to any
        number or address, and spend the hourly enrollments the user's invitation needs). `confirm` asks
        again, where the account changes."""
        user = await self._step_up.required(session)
        if isinstance(user, AuthenticationRequired):
            # This union has no AuthenticationRequired (the contract's): there is no account to add to.
            return ChallengeExpired()
        if isinstance(user, ReauthenticationRequired):
            # A password user gets it with no methods: their first factor comes from converting (R8).
            return user
        return await self._new.begin(user, method_id, user.email, phone_number, {ADD_FACTOR: True}, given)

    async def confirm(
        self, session: Session | None, raw_enrollment: str, code: str, label: str | None, *, ip: str | None = None
    ) -> ConfirmFactorResult:
        """S14: the factor becomes active with a valid code from it, after a recent second factor (R14)."""
        user = await self._step_up.required(session)
        if isinstance(user, AuthenticationRequired):
            # Not in the contract's union: without a usable session no enrollment is the caller's.
            return ChallengeExpired()
        if isinstance(user, ReauthenticationRequired):
            return user
        # The name is checked before a code attempt is spent on it.
        cleaned = clean_label(label)
        if isinstance(cleaned, InvalidInput):
            return cleaned
        enrollment = await find_enrollment(raw_enrollment, add_factor=True)
        if enrollment is None or enrollment.user.id != user.id:
            # S15: another user's enrollment is answered like an unknown one, and nothing of it is spent.
            return ChallengeExpired()
        proven = await self._new.prove(enrollment, code)
        if not isinstance(proven, Proven):
            return proven
        async with in_transaction():
            # Used exactly once, even when two confirmations race.
            if not await use_token(enrollment):
                return ChallengeExpired()
            factor = await self._new.create(user, proven, cleaned)
            # R18: a factor change forgets the remembered browsers at once (the fingerprint check at login
            # alone would let one back in if the factor were removed again before it was used).
            await forget_every_device(user)
            notice = await self._notice(user, "factor_added", factor)
        await self._changed(user, notice, AuditKind.FACTOR_ADDED, factor, ip=ip)
        return FactorAdded(factor=factor)

    async def rename(
        self, session: Session | None, factor_id: str, label: str, *, ip: str | None = None
    ) -> FactorResult:
        """R15: give one of the user's factors another name, after a recent second factor (R14)."""
        user = await self._step_up.required(session)
        if not isinstance(user, User):
            return user
        cleaned = clean_label(label)
        if isinstance(cleaned, InvalidInput):
            return cleaned
        factor = await _own_factor(user, parse_id(factor_id))
        if factor is None:
            return NO_SUCH_FACTOR
        if factor.label == cleaned:
            # Nothing changes, so nothing is announced.
            return FactorUpdated(user=user)
        async with in_transaction():
            renamed = await EnrolledFactor.filter(id=factor.id, user_id=user.id).update(label=cleaned)
            if not renamed:
                # Removed in the meantime by a parallel request.
                return NO_SUCH_FACTOR
            # The notice names the factor as the user knew it, and says its new name.
            notice = await self._notice(user, "factor_renamed", factor, label=cleaned)
        await self._changed(user, notice, AuditKind.FACTOR_RENAMED, factor, ip=ip)
        return FactorUpdated(user=user)

    async def remove(self, session: Session | None, factor_id: str, *, ip: str | None = None) -> FactorResult:
        """R15: remove one of the user's factors, never the last usable one (R9), after a recent second
        factor (R14); the user's other sessions end (S18)."""
        if session is None:
            return AuthenticationRequired()
        user = await self._step_up.required(session)
        if not isinstance(user, User):
            return user
        target = parse_id(factor_id)
        async with in_transaction():
            # The user's row is held while the factors are counted: of two parallel removals of the last
            # two factors, the second counts after the first has removed its own, and is refused.
            await User.select_for_update().filter(id=user.id).first()
            factor = await _own_factor(user, target)
            if factor is None:
                return NO_SUCH_FACTOR
            if not await self._others_usable(user, factor):
                return LastFactor()
            # The customers' rows too, as a settings change holds them while it counts who has such a factor:
            # switching requirePhishingResistantAdmins on and this removal wait for each other.
            await lock_customers([user])
            if not await self._keeps_narrowed_login(user, factor):
                return LastFactor(phishing_resistant=True)
            await EnrolledFactor.filter(id=factor.id).delete()
            ended = await end_user_sessions(user, keep=session)
            await forget_every_device(user)
            notice = await self._notice(user, "factor_removed", factor)
        await self._changed(user, notice, AuditKind.FACTOR_REMOVED, factor, ip=ip, sessions_ended=ended)
        return FactorUpdated(user=user)

    async def regenerate_recovery_codes(
        self, session: Session | None, *, ip: str | None = None
    ) -> RegenerateRecoveryCodesResult:
        """A new set of recovery codes replaces the old one (S11), after a recent second factor (R14)."""
        user = await self._step_up.required(session)
        if not isinstance(user, User):
            return user
        async with in_transaction():
            codes = await self._core.replace_recovery_codes(user)
            # R18: new recovery codes are a change of the factors (R13): the remembered browsers go.
            await forget_every_device(user)
            notice = await self._notices.account_changed(user, "recovery_codes_replaced", "recovery_codes")
        self._outbox.deliver_later([notice])
        await self._audit.record(
            AuditKind.RECOVERY_CODES_REPLACED, actor=user, subject=user, data={"count": len(codes), "ip": ip}
        )
        return RecoveryCodesReplaced(recovery_codes=codes)

    async def _others_usable(self, user: User, leaving: EnrolledFactor) -> bool:
        """Whether a factor the user can sign in with remains without `leaving` (R9): one whose method is
        installed. Recovery codes are not a factor; they are for when one is lost."""
        usable = [m for m in self._core.methods if m != RECOVERY_METHOD]
        return await EnrolledFactor.filter(user_id=user.id, method__in=usable).exclude(id=leaving.id).exists()

    async def _keeps_narrowed_login(self, user: User, leaving: EnrolledFactor) -> bool:
        """Whether a factor of the methods a policy narrows the user's login to (`login_methods`: passkeys for
        an administrator whose customer requires phishing-resistant methods) remains without `leaving`;
        True when no policy narrows it. Removing the last one would let the user sign in with anything again."""
        narrowed = await self._policy.narrowed_login(user)
        if narrowed is None or leaving.method not in narrowed:
            return True
        others = EnrolledFactor.filter(user_id=user.id, method__in=sorted(narrowed)).exclude(id=leaving.id)
        return await others.exists()

    async def _notice(self, user: User, change: str, factor: EnrolledFactor, **values: object) -> Queued:
        """The R13/S14 notice of a change to `factor` (template `notice_<change>`), written in the change's
        transaction; it names the factor by its method, and by its name when it has one."""
        # In the user's language; a factor of a method that cannot work now is still named by it.
        method = self._core.methods.get(factor.method) or self._unready.get(factor.method)
        name = method_name(method, user.locale, factor.method)
        described = f'{name} "{factor.label}"' if factor.label else name
        return await self._notices.account_changed(user, f"notice_{change}", change, factor=described, **values)

    async def _changed(
        self, user: User, notice: Queued, kind: AuditKind, factor: EnrolledFactor, *, ip: str | None, **data: object
    ) -> None:
        """After the change committed: its notice goes out, and it is audited by the factor's method and id."""
        self._outbox.deliver_later([notice])
        await self._audit.record(
            kind, actor=user, subject=user, data={"method": factor.method, "factor": str(factor.id), **data, "ip": ip}
        )


async def _own_factor(user: User, factor_id: uuid.UUID | None) -> EnrolledFactor | None:
    """The user's own factor with this id; None for no id, an unknown one, or another user's."""
    if factor_id is None:
        return None
    return await EnrolledFactor.get_or_none(id=factor_id, user_id=user.id)
