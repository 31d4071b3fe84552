"""R19: what a customer's admins do to its members: invite people, re-send a pending member's invitation,
change levels, remove members, and send a password member a reset link.

Only CUSTOMER-level members of the customer, in a session that satisfies the policy (R10), act; an unknown
customer answers like a foreign one. A customer always keeps a CUSTOMER-level member (LastAdministrator),
checked with the customer's row held, so that two admins demoting each other at once cannot both pass.
Nothing here touches a two-factor user's password or factors (R9). An existing account is never made a
member by an admin: it gets a JOIN_CUSTOMER invitation and joins when it accepts (auth/accept_invitation.py),
so no admin can put another customer's user under their enforcement. Every action is audited in the
customer's log, with the admin as the actor, and counted against the admin's own budget (RATE_LIMIT_*).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from gql_server.audit import AuditKind, Auditor
from gql_server.auth import account_state
from gql_server.auth.access import acting_user, is_customer_admin
from gql_server.auth.account_state import is_two_factor
from gql_server.auth.conversion import ConversionService
from gql_server.auth.customers import parse_id
from gql_server.auth.hourly import hourly_limit_reached
from gql_server.auth.password_reset import PasswordResets
from gql_server.auth.results import (
    AuthenticationRequired,
    InvalidInput,
    InvitationResent,
    InviteUserResult,
    LastAdministrator,
    MemberResult,
    MemberUpdated,
    PasswordResetSent,
    PermissionDenied,
    ResendInvitationResult,
    SendPasswordResetResult,
    TooManyAttempts,
    UserInvited,
)
from gql_server.clock import utcnow
from gql_server.emails import MAX_EMAIL_LENGTH, looks_like_email, mask_email, normalize_email
from gql_server.enums import ConversionState, LoginMethod, MembershipLevel, TokenPurpose
from gql_server.limits import INVITATION_LIFETIME, INVITATIONS_PER_HOUR, PASSWORD_RESETS_PER_HOUR, PER_HOUR_WINDOW
from gql_server.links import Links
from gql_server.mail import LOCALES
from gql_server.models import Customer, Membership, PendingMembership, Session, Token, User
from gql_server.outbox import Delivery, Outbox, Queued
from gql_server.policy import Policy
from gql_server.ratelimit import Action, ClientRateLimiter, admin_key
from gql_server.tokens import issue_token

REFUSED = "The mail server refused this address, so the invitation cannot reach it."
NOT_A_MEMBER = "This user is not a member of this customer."
NO_PASSWORD_ACCOUNTS = (
    "This customer requires two-factor login: new accounts sign in with two factors (loginMethod TWO_FACTOR)."  # noqa: S105
)

# Issue 16: while the customer requires phishing-resistant methods of its administrators.
NO_PASSWORD_ADMINS = (
    "This customer requires phishing-resistant methods (such as a passkey) of its administrators: a new "  # noqa: S105
    "administrator signs in with two factors (loginMethod TWO_FACTOR)."
)
NO_PHISHING_RESISTANT_FACTOR = (
    "This customer requires a phishing-resistant method (such as a passkey) of its administrators, and this "
    "member has none: they add one on their account page first."
)


@dataclass(frozen=True)
class _Acting:
    """The admin and the customer an action is for."""

    admin: User
    customer: Customer


@dataclass(frozen=True)
class _Mail:
    """What a transaction wrote for delivery after its commit, and how to undo it if the server refuses."""

    queued: Queued
    sent_to: str
    expires_at: datetime
    new_account: User | None = None
    new_pending: PendingMembership | None = None
    token: Token | None = None


class MemberAdmin:
    """The R19 actions of a customer's admins."""

    def __init__(
        self,
        auditor: Auditor,
        outbox: Outbox,
        links: Links,
        conversion: ConversionService,
        resets: PasswordResets,
        rate_limiter: ClientRateLimiter,
        policy: Policy,
    ) -> None:
        self._audit = auditor
        self._outbox = outbox
        self._links = links
        self._conversion = conversion
        self._resets = resets
        self._rate = rate_limiter
        self._policy = policy

    async def _acting(
        self, session: Session | None, customer_id: str
    ) -> _Acting | AuthenticationRequired | PermissionDenied:
        user = await acting_user(session, self._policy)
        if session is None or user is None:
            return AuthenticationRequired()
        cid = parse_id(customer_id)
        customer = await Customer.get_or_none(id=cid) if cid else None
        # Unknown customers answer like foreign ones: ids are not a way to learn what exists.
        if customer is None or not await is_customer_admin(user, customer.id):
            return PermissionDenied()
        return _Acting(user, customer)

    # --- inviteUser ---------------------------------------------------------------------------------

    async def invite(
        self,
        session: Session | None,
        customer_id: str,
        email: str,
        level: MembershipLevel,
        locale: str | None,
        login_method: LoginMethod,
        *,
        ip: str | None = None,
    ) -> InviteUserResult:
        """A new address gets an account of the admin's chosen login method and its invitation; an existing
        account a JOIN_CUSTOMER invitation (the same answer either way)."""
        acting = await self._acting(session, customer_id)
        if not isinstance(acting, _Acting):
            return acting
        retry_after = await self._rate.hit(Action.INVITE_USER, admin_key(acting.admin.id))
        if retry_after is not None:
            return TooManyAttempts(retry_after_seconds=retry_after)
        address = normalize_email(email[: MAX_EMAIL_LENGTH + 1])
        if len(address) > MAX_EMAIL_LENGTH or not looks_like_email(address):
            return InvalidInput("Enter a valid email address.", "email")
        language = acting.admin.locale if locale is None else locale
        if language not in LOCALES:
            return InvalidInput(f"The language must be one of: {', '.join(LOCALES)}.", "locale")
        if login_method is LoginMethod.PASSWORD and acting.customer.enforce_two_factor:
            return InvalidInput(NO_PASSWORD_ACCOUNTS, "loginMethod")
        if (
            login_method is LoginMethod.PASSWORD
            and level is MembershipLevel.CUSTOMER
            and acting.customer.require_phishing_resistant_admins
        ):
            # Answered from the input alone, before the address is looked up: the same for every address.
            return InvalidInput(NO_PASSWORD_ADMINS, "loginMethod")
        existing = await User.get_or_none(email=address)
        written: _Mail | InvalidInput | TooManyAttempts
        if existing is None:
            written = await self._new_account(acting, address, level, language, login_method)
        else:
            written = await self._join_invitation(acting, existing, level)
        if not isinstance(written, _Mail):
            return written
        user = written.new_account or existing
        assert user is not None
        await self._audit.record(
            AuditKind.USER_INVITED,
            actor=acting.admin,
            subject=user,
            customer=acting.customer,
            # An existing account's login method is another customer's business until it accepts.
            data={"level": level.value, "existing": True, "ip": ip}
            if existing is not None
            else {"level": level.value, "login_method": user.login_method.value, "existing": False, "ip": ip},
        )
        refused = await self._deliver(written, acting.customer)
        if refused is not None:
            return refused
        return UserInvited(sent_to=written.sent_to)

    async def _new_account(
        self, acting: _Acting, address: str, level: MembershipLevel, locale: str, login_method: LoginMethod
    ) -> _Mail | InvalidInput:
        """A new account, a member from the start (it is nobody else's), and its invitation: for TWO_FACTOR
        one that chooses a password and enrolls a factor (as the operator's `user create`), for PASSWORD a
        link that chooses the first password."""
        two_factor = login_method is LoginMethod.TWO_FACTOR
        state = account_state.initial_state(has_password=False) if two_factor else account_state.PASSWORD_ONLY
        try:
            async with in_transaction():
                user = await account_state.create_account(state, email=address, password_hash=None, locale=locale)
                await Membership.create(user=user, customer=acting.customer, level=level)
                if two_factor:
                    queued, token = await self._conversion.invite_in_transaction(user, proven=True)
                    expires_at = token.expires_at
                else:
                    queued = await self._first_password_link(acting, user)
                    expires_at = utcnow() + INVITATION_LIFETIME
        except IntegrityError:
            # The address was taken meanwhile (another admin, an address change): ask again, it is an
            # existing account's now.
            return InvalidInput("This address was just taken by another account; invite it again.", "email")
        return _Mail(queued, mask_email(address), expires_at, new_account=user)

    async def _join_invitation(
        self, acting: _Acting, user: User, level: MembershipLevel | None
    ) -> _Mail | InvalidInput | TooManyAttempts:
        """A JOIN_CUSTOMER invitation to an existing account's own address (a new one replaces the last);
        `level` None is a re-send, of an invitation this customer made."""
        async with in_transaction():
            await User.select_for_update().filter(id=user.id).first()
            pending = await PendingMembership.get_or_none(user_id=user.id, customer_id=acting.customer.id)
            if level is None and pending is None:
                # Answered before anything is counted: what other customers sent this account is not this
                # admin's to learn.
                return InvalidInput(NOT_A_MEMBER, "userId")
            if await Membership.exists(user_id=user.id, customer_id=acting.customer.id):
                return InvalidInput("This person is a member of this customer already.", "email")
            refused = await _join_limit_reached(user.id, acting.customer.id)
            if refused is not None:
                return refused
            created = pending is None
            if pending is None:
                assert level is not None
                pending = await PendingMembership.create(
                    user=user, customer=acting.customer, level=level, email=user.email, invited_by=acting.admin
                )
            elif level is not None:
                pending.level = level
            await _end_link(pending)
            token = await issue_token(
                user, TokenPurpose.JOIN_CUSTOMER, INVITATION_LIFETIME, {"customer": str(acting.customer.id)}
            )
            pending.token = token.record
            await pending.save()
            queued = await self._outbox.put(
                "join_customer",
                to=user.email,
                locale=user.locale,
                token=token.record,
                link=self._links.invitation(token.token),
                expires_at=token.expires_at,
                email=user.email,
                inviter=acting.admin.email,
                customer=acting.customer.name,
            )
        return _Mail(
            queued,
            mask_email(user.email),
            token.expires_at,
            new_pending=pending if created else None,
            token=token.record,
        )

    async def _deliver(self, written: _Mail, customer: Customer) -> InvalidInput | None:
        """Deliver after the commit; when the server refuses the address for good, undo what only that
        mail could have completed (a new account, a new invitation to join), under the customer's row lock
        and never the customer's last administrator (who may be the new account by now)."""
        if await self._outbox.deliver(written.queued) is not Delivery.REFUSED:
            # DROPPED: a later invitation replaced this one; its own answer tells what became of it.
            return None
        async with in_transaction():
            await Customer.select_for_update().get(id=customer.id)
            new = written.new_account
            if new is not None:
                membership = await Membership.get_or_none(user_id=new.id, customer_id=customer.id)
                if membership is None or not await _last_administrator(customer, membership):
                    await User.filter(id=new.id).delete()
            if written.new_pending is not None and written.token is not None:
                # Only the invitation this mail carried: a re-sent one has an answer of its own.
                await PendingMembership.filter(id=written.new_pending.id, token_id=written.token.id).delete()
        return InvalidInput(REFUSED, "email")

    # --- resendInvitation ---------------------------------------------------------------------------

    async def resend(
        self, session: Session | None, customer_id: str, user_id: str, *, ip: str | None = None
    ) -> ResendInvitationResult:
        """Send a pending member's invitation again: a PENDING conversion's to the address it started with,
        a new password account's first-password link, or an invited account's JOIN_CUSTOMER invitation."""
        acting = await self._acting(session, customer_id)
        if not isinstance(acting, _Acting):
            return acting
        retry_after = await self._rate.hit(Action.RESEND_INVITATION, admin_key(acting.admin.id))
        if retry_after is not None:
            return TooManyAttempts(retry_after_seconds=retry_after)
        uid = parse_id(user_id)
        user = await User.get_or_none(id=uid) if uid else None
        if user is None:
            return InvalidInput(NOT_A_MEMBER, "userId")
        member = await Membership.exists(user_id=user.id, customer_id=acting.customer.id)
        written: _Mail | InvalidInput | TooManyAttempts
        if not member:
            written = await self._join_invitation(acting, user, None)
            kind = "join_customer"
        elif user.conversion is ConversionState.PENDING:
            resent = await self._conversion.resend_for_admin(user)
            if resent is None:
                return InvalidInput(NOT_PENDING, "userId")
            if isinstance(resent, TooManyAttempts):
                return resent
            queued, sent_to, expires_at = resent
            written = _Mail(queued, sent_to, expires_at)
            kind = "conversion"
        elif user.login_method is LoginMethod.PASSWORD and user.password_hash is None:
            written = await self._first_password_again(acting, user)
            kind = "first_password"
        else:
            return InvalidInput(NOT_PENDING, "userId")
        if not isinstance(written, _Mail):
            return written
        await self._audit.record(
            AuditKind.INVITATION_RESENT,
            actor=acting.admin,
            subject=user,
            customer=acting.customer,
            data={"sent_to": written.sent_to, "kind": kind, "ip": ip},
        )
        delivery = await self._outbox.deliver(written.queued)
        if delivery is Delivery.REFUSED:
            return InvalidInput("The mail server refused the address; the invitation cannot reach it.", "userId")
        return InvitationResent(sent_to=written.sent_to, expires_at=written.expires_at)

    async def _first_password_again(self, acting: _Acting, user: User) -> _Mail | TooManyAttempts:
        async with in_transaction():
            held = await User.select_for_update().get(id=user.id)
            refused = await hourly_limit_reached(user.id, TokenPurpose.PASSWORD_RESET, PASSWORD_RESETS_PER_HOUR)
            if refused is not None:
                return refused
            queued = await self._first_password_link(acting, held)
        return _Mail(queued, mask_email(held.email), utcnow() + INVITATION_LIFETIME)

    async def _first_password_link(self, acting: _Acting, user: User) -> Queued:
        """Within the caller's transaction: a new password account's link to choose its first password
        (the invitation's lifetime, from the admin who invited it)."""
        return await self._resets.link_in_transaction(
            user,
            template="account_invitation_password",
            lifetime=INVITATION_LIFETIME,
            email=user.email,
            inviter=acting.admin.email,
            customer=acting.customer.name,
        )

    # --- removeMember, setMemberLevel ---------------------------------------------------------------

    async def remove(
        self, session: Session | None, customer_id: str, user_id: str, *, ip: str | None = None
    ) -> MemberResult:
        """Remove a member, or withdraw an invitation to join; never the last CUSTOMER-level member."""
        acting = await self._acting(session, customer_id)
        if not isinstance(acting, _Acting):
            return acting
        uid = parse_id(user_id)
        if uid is None:
            return InvalidInput(NOT_A_MEMBER, "userId")
        async with in_transaction():
            row = await _held_row(acting, uid)
            if not isinstance(row, Membership | PendingMembership):
                return row
            if isinstance(row, PendingMembership):
                await _end_link(row)
            elif await _last_administrator(acting.customer, row):
                return LastAdministrator()
            await row.delete()
            level, invited = row.level, isinstance(row, PendingMembership)
        subject = await User.get_or_none(id=uid)
        await self._audit.record(
            AuditKind.MEMBER_REMOVED,
            actor=acting.admin,
            subject=subject,
            customer=acting.customer,
            data={"level": level.value, "invited": invited, "ip": ip},
        )
        return MemberUpdated(customer=acting.customer)

    async def set_level(
        self, session: Session | None, customer_id: str, user_id: str, level: MembershipLevel, *, ip: str | None = None
    ) -> MemberResult:
        """Change a member's (or an invitation's) level; never demote the last CUSTOMER-level member."""
        acting = await self._acting(session, customer_id)
        if not isinstance(acting, _Acting):
            return acting
        uid = parse_id(user_id)
        if uid is None:
            return InvalidInput(NOT_A_MEMBER, "userId")
        async with in_transaction():
            row = await _held_row(acting, uid)
            if not isinstance(row, Membership | PendingMembership):
                return row
            previous = row.level
            if previous is level:
                return MemberUpdated(customer=acting.customer)
            if isinstance(row, Membership) and await _last_administrator(acting.customer, row):
                return LastAdministrator()
            if level is MembershipLevel.CUSTOMER and isinstance(row, Membership):
                # The customer as it is now (its row is held): its settings may have changed since the request began.
                customer = await Customer.get(id=acting.customer.id)
                subject = await User.get(id=uid)
                if await self._policy.joining_gap(subject, customer, level):
                    return InvalidInput(NO_PHISHING_RESISTANT_FACTOR, "level")
            row.level = level
            await row.save(update_fields=["level"])
        await self._audit.record(
            AuditKind.MEMBER_LEVEL_CHANGED,
            actor=acting.admin,
            subject=await User.get_or_none(id=uid),
            customer=acting.customer,
            data={"from": previous.value, "to": level.value, "invited": isinstance(row, PendingMembership), "ip": ip},
        )
        return MemberUpdated(customer=acting.customer)

    # --- sendPasswordReset --------------------------------------------------------------------------

    async def send_password_reset(
        self, session: Session | None, customer_id: str, user_id: str, *, ip: str | None = None
    ) -> SendPasswordResetResult:
        """A reset link to a PASSWORD member's own address, when the member belongs to no other customer
        (whose admins would otherwise have a say in it); never for a two-factor user (R9)."""
        acting = await self._acting(session, customer_id)
        if not isinstance(acting, _Acting):
            return acting
        retry_after = await self._rate.hit(Action.SEND_PASSWORD_RESET, admin_key(acting.admin.id))
        if retry_after is not None:
            return TooManyAttempts(retry_after_seconds=retry_after)
        uid = parse_id(user_id)
        user = await User.get_or_none(id=uid) if uid else None
        if user is None or not await Membership.exists(user_id=user.id, customer_id=acting.customer.id):
            return InvalidInput(NOT_A_MEMBER, "userId")
        problem = await _not_resettable(user, acting.customer)
        if problem is not None:
            return problem
        async with in_transaction():
            held = await User.select_for_update().get(id=user.id)
            # Again with the row held: a conversion finished, or another customer joined, meanwhile.
            problem = await _not_resettable(held, acting.customer)
            if problem is not None:
                return problem
            refused = await hourly_limit_reached(user.id, TokenPurpose.PASSWORD_RESET, PASSWORD_RESETS_PER_HOUR)
            if refused is not None:
                return refused
            queued = await self._resets.link_in_transaction(
                held,
                template="password_reset_by_admin",
                email=held.email,
                inviter=acting.admin.email,
                customer=acting.customer.name,
            )
        sent_to = mask_email(held.email)
        await self._audit.record(
            AuditKind.PASSWORD_RESET_SENT,
            actor=acting.admin,
            subject=held,
            customer=acting.customer,
            data={"sent_to": sent_to, "ip": ip},
        )
        if await self._outbox.deliver(queued) is Delivery.REFUSED:
            return InvalidInput("The mail server refused the member's address; the link cannot reach it.", "userId")
        return PasswordResetSent(sent_to=sent_to)


NOT_PENDING = (
    "Only members whose conversion is pending, new accounts that have not signed in yet, and invited "
    "accounts that have not accepted get their invitation again."
)


async def _last_administrator(customer: Customer, membership: Membership) -> bool:
    """Whether `membership` is the customer's only CUSTOMER-level one (the caller holds the customer row)."""
    if membership.level is not MembershipLevel.CUSTOMER:
        return False
    admins = await Membership.filter(customer_id=customer.id, level=MembershipLevel.CUSTOMER).count()
    return admins <= 1


async def _held_row(acting: _Acting, uid: object) -> Membership | PendingMembership | PermissionDenied | InvalidInput:
    """Within the caller's transaction: hold the customer's row (so that two admins' changes count one after
    the other), check that the admin still is one, and find the member or the invitation to join."""
    await Customer.select_for_update().get(id=acting.customer.id)
    if not await is_customer_admin(acting.admin, acting.customer.id):
        # Demoted or removed by another admin since the request began (their change came first).
        return PermissionDenied()
    row: Membership | PendingMembership | None = await Membership.get_or_none(
        user_id=uid, customer_id=acting.customer.id
    )
    row = row or await PendingMembership.get_or_none(user_id=uid, customer_id=acting.customer.id)
    return row if row is not None else InvalidInput(NOT_A_MEMBER, "userId")


async def _end_link(pending: PendingMembership) -> None:
    """The JOIN_CUSTOMER link an invitation to join last mailed stops working (replaced or withdrawn)."""
    if pending.token_id is not None:  # type: ignore[attr-defined]
        await Token.filter(id=pending.token_id, used_at=None).update(used_at=utcnow())  # type: ignore[attr-defined]


async def _not_resettable(user: User, customer: Customer) -> InvalidInput | None:
    """Why an admin of `customer` may not send `user` a reset link (R9, R19); None when they may."""
    if is_two_factor(user):
        return InvalidInput(
            "This member signs in with two factors: their password is theirs alone. They can use "
            "'Forgot your password?' on the sign-in page.",
            "userId",
        )
    if await Membership.filter(user_id=user.id).exclude(customer_id=customer.id).exists():
        return InvalidInput(
            "This member belongs to other customers too, so only they can reset their password "
            "('Forgot your password?' on the sign-in page).",
            "userId",
        )
    return None


async def _join_limit_reached(user_id: object, customer_id: object) -> TooManyAttempts | None:
    """INVITATIONS_PER_HOUR invitations to join one customer per account (S13): counted per customer, so
    that no customer's invitations use up another's, or tell it of them. The caller holds the user's row."""
    since = utcnow() - PER_HOUR_WINDOW
    recent = await Token.filter(user_id=user_id, purpose=TokenPurpose.JOIN_CUSTOMER, created_at__gt=since).values_list(
        "data", flat=True
    )
    if (
        sum(1 for data in recent if isinstance(data, dict) and data.get("customer") == str(customer_id))
        >= INVITATIONS_PER_HOUR
    ):
        return TooManyAttempts(retry_after_seconds=int(PER_HOUR_WINDOW.total_seconds()))
    return None
