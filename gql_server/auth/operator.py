"""Operator actions shared by the CLI and the demo: customers, users, memberships, the last-resort reset
of factors (R9). Audited.

"Operator" is whoever runs the service (the `gql-server` command); a customer's administrator is
someone else: a CUSTOMER-level member, who acts through the API (R1, R19)."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from gql_server.audit import AuditKind, Auditor
from gql_server.auth import account_state, lockout
from gql_server.auth.account_state import IllegalTransition, StateChanged, is_two_factor
from gql_server.auth.conversion import ConversionService
from gql_server.auth.customers import parse_id
from gql_server.auth.devices import forget_every_device
from gql_server.clock import utcnow
from gql_server.emails import looks_like_email, normalize_email
from gql_server.enums import MembershipLevel
from gql_server.mail import ALL_SECOND_FACTORS
from gql_server.models import Customer, EnrolledFactor, Membership, RecoveryCode, Session, User
from gql_server.outbox import Delivery, Outbox
from gql_server.passwords import PasswordRejected, PasswordService, check_new_password
from gql_server.policy import Policy
from gql_server.sessions import end_user_sessions


class OperatorError(Exception):
    """An operator's request was refused; the message says why and what to do."""


@dataclass(frozen=True)
class Created:
    """A new user; `delivery` says what became of the invitation of a two-factor account (None: no invitation)."""

    user: User
    delivery: Delivery | None


@dataclass(frozen=True)
class Reset:
    """A user whose factors were reset; `delivery`: what became of the new invitation."""

    user: User
    delivery: Delivery


@dataclass(frozen=True)
class Operator:
    """Operator actions, with the same validation and audit whatever calls them."""

    passwords: PasswordService
    auditor: Auditor
    conversion: ConversionService
    outbox: Outbox
    policy: Policy

    async def create_customer(self, name: str) -> Customer:
        """A new customer with default settings (enforcement off)."""
        name = name.strip()
        if not name or len(name) > 200:
            raise OperatorError("A customer name needs 1 to 200 characters.")
        customer = await Customer.create(name=name)
        await self.auditor.record(AuditKind.CUSTOMER_CREATED, customer=customer, data={"name": name})
        return customer

    async def create_user(
        self, *, customer_id: str, email: str, level: MembershipLevel, password: str | None, locale: str = "en"
    ) -> Created:
        """A member of one customer: a password user, or, without a password, a two-factor user who is
        sent an invitation to choose a password and enroll a factor (new accounts default to two factors).

        The invitation goes through the outbox (S36). If the mail server refuses the address for good, the
        account is removed again, since nobody could ever use it (OperatorError); if the server cannot be
        reached, the invitation stays queued and a serving process keeps trying (`Created.delivery`).
        """
        customer = await self._customer(customer_id)
        address = normalize_email(email)
        if not looks_like_email(address):
            raise OperatorError(f"Not an email address: {email!r}.")
        password_hash = None
        if password is not None:
            try:
                check_new_password(password)
            except PasswordRejected as exc:
                raise OperatorError(f"Password refused: {exc}") from None
            password_hash = await self.passwords.hash(password)
        # Without a password: two-factor from the start; the invitation enrolls the first factor.
        state = account_state.initial_state(has_password=password_hash is not None)
        queued = None
        async with in_transaction():
            try:
                user = await account_state.create_account(
                    state, email=address, password_hash=password_hash, locale=locale
                )
                await Membership.create(user=user, customer=customer, level=level)
            except IntegrityError:
                raise OperatorError(f"A user with the email {address} exists already.") from None
            if password is None:
                queued, _ = await self.conversion.invite_in_transaction(user, proven=True)
        await self.auditor.record(
            AuditKind.USER_CREATED,
            subject=user,
            customer=customer,
            data={"level": level.value, "login_method": user.login_method.value},
        )
        if queued is None:
            return Created(user, None)
        delivery = await self.outbox.deliver(queued, wait=self.outbox.attempt_seconds)
        if delivery in (Delivery.REFUSED, Delivery.DROPPED):
            await user.delete()
            await self.auditor.record(
                AuditKind.USER_REMOVED, customer=customer, data={"reason": "invitation refused by the mail server"}
            )
            raise OperatorError(
                f"The mail server refused {address}, so nobody could ever accept the invitation; nothing was kept."
            )
        return Created(user, delivery)

    async def reset_factors(self, email: str) -> Reset:
        """R9, the operator's last resort: remove a user's factors and recovery codes, end every session,
        and send a fresh invitation. The user stays two-factor: nothing here returns anyone to PASSWORD.

        S34: finishing that invitation needs the account's password too, never the mailbox alone. The
        invitation and the notice are written with the change and delivered after it (S36).
        """
        user = await User.get_or_none(email=normalize_email(email))
        if user is None:
            raise OperatorError(f"No user with the email {normalize_email(email)}.")
        if not is_two_factor(user):
            raise OperatorError(f"{user.email} does not sign in with two factors: there is nothing to reset.")
        try:
            async with in_transaction():
                removed = await self._reset_in_transaction(user)
                notice = await self.outbox.put(
                    "factor_removed", to=user.email, locale=user.locale, method_name=ALL_SECOND_FACTORS
                )
                invitation, _ = await self.conversion.invite_in_transaction(user, proven=False)
        except StateChanged:
            raise OperatorError(
                f"The account {user.email} changed meanwhile; nothing was reset. Run it again."
            ) from None
        except IllegalTransition as exc:
            raise OperatorError(f"{user.email}: {exc}; nothing was reset.") from None
        await self.auditor.record(AuditKind.FACTORS_RESET, subject=user, data={"factors_removed": removed})
        self.outbox.deliver_later([notice])
        delivery = await self.outbox.deliver(invitation, wait=self.outbox.attempt_seconds)
        if delivery in (Delivery.REFUSED, Delivery.DROPPED):
            raise OperatorError(
                f"The factors of {user.email} were removed and every session ended, but the mail server refused "
                "the invitation. Fix the mail problem and run reset-factors again."
            )
        return Reset(user, delivery)

    async def _reset_in_transaction(self, user: User) -> int:
        """Remove the factors, recovery codes and sessions; returns how many factors were removed."""
        # R9: the account stays in its two-factor state; held, so that a move meanwhile undoes the reset.
        await account_state.hold(user)
        removed = await EnrolledFactor.filter(user_id=user.id).delete()
        await RecoveryCode.filter(user_id=user.id).delete()
        # S41: the new factor starts with a clean slate of wrong codes.
        await lockout.reset_streak(user.id)
        await end_user_sessions(user)
        # R18: no browser stays remembered past a reset of the factors.
        await forget_every_device(user)
        return removed

    async def end_all_sessions(self) -> int:
        """End every live session (audited); everyone signs in again. Returns how many were ended.

        For after a database restore: sessions that were ended after the backup was taken come back
        with it, and this is the one way to be sure that none of them is live.
        """
        ended = await Session.filter(ended_at=None).update(ended_at=utcnow())
        await self.auditor.record(AuditKind.SESSIONS_ENDED, data={"sessions": ended})
        return ended

    async def add_membership(self, *, user_id: str, customer_id: str, level: MembershipLevel) -> Membership:
        """Make an existing user a member of another customer, unless that would leave them no method to
        enroll (S32: the customers' allowed methods, and policy plugins, would have nothing in common)."""
        customer = await self._customer(customer_id)
        uid = parse_id(user_id)
        user = await User.get_or_none(id=uid) if uid else None
        if user is None:
            raise OperatorError(f"No user with id {user_id}.")
        async with in_transaction():
            conflict = await self.policy.method_conflict(customer.id, newcomer=(user, level))
            if conflict is not None:
                usable = ", ".join(sorted(conflict.would_help)) or "none"
                raise OperatorError(
                    f"{user.email} would have no second-factor method left to enroll: {customer.name} allows "
                    f"none of the methods their other customers (and policy plugins) allow them ({usable}). "
                    f"Change the allowed methods of {customer.name} or of their other customers first."
                )
            if await self.policy.joining_gap(user, customer, level):
                raise OperatorError(
                    f"{customer.name} requires a phishing-resistant method (such as a passkey) of its "
                    f"administrators, and {user.email} has none: they add one first, or join at COMPANY level."
                )
            try:
                membership = await Membership.create(user=user, customer=customer, level=level)
            except IntegrityError:
                raise OperatorError(f"{user.email} is a member of {customer.name} already.") from None
        await self.auditor.record(
            AuditKind.MEMBERSHIP_ADDED, subject=user, customer=customer, data={"level": level.value}
        )
        return membership

    async def _customer(self, customer_id: str) -> Customer:
        cid = parse_id(customer_id)
        customer = await Customer.get_or_none(id=cid) if cid else None
        if customer is None:
            raise OperatorError(f"No customer with id {customer_id}.")
        return customer
