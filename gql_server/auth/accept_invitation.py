"""R19, R20: the invitations an account accepts from its own session: JOIN_CUSTOMER (a customer's admin
invited this existing account) and LINK_ACCOUNT (a conversion typed this account's address).

Accepting needs a session of the account the invitation names, one that satisfies the policy (R10), and,
for a two-factor account, a recent second factor (R14 step-up): a stolen invitation link alone, or a
password alone, changes nothing. Both kinds are checked against the allowed methods first (S32): joining
must not leave the account without a method it may enroll, nor make it an administrator of a customer
that requires phishing-resistant methods of them while it has no such factor (issue 16).
"""

from __future__ import annotations

from collections.abc import Sequence

from tortoise.transactions import in_transaction

from gql_server.audit import AuditKind, Auditor
from gql_server.auth import linking
from gql_server.auth.access import acting_user
from gql_server.auth.customers import parse_id
from gql_server.auth.results import (
    AcceptInvitationResult,
    AuthenticationRequired,
    ChallengeExpired,
    InvalidInput,
    Invitation,
    InvitationAccepted,
)
from gql_server.auth.step_up import StepUpService
from gql_server.emails import mask_email
from gql_server.enums import InvitationKind, InvitationPassword, TokenPurpose
from gql_server.models import Customer, Membership, PendingMembership, Session, Token, User
from gql_server.policy import MethodConflict, Policy
from gql_server.tokens import find_token, use_token


class _Refused(Exception):
    """Rolls the acceptance's transaction back with the answer to give."""

    def __init__(self, answer: AcceptInvitationResult) -> None:
        super().__init__(type(answer).__name__)
        self.answer = answer


def stranded_message(customer: Customer, conflict: MethodConflict) -> str:
    """S32, said to the account that would be left without a method it may enroll."""
    usable = ", ".join(sorted(conflict.would_help)) or "none"
    return (
        f"Your account would have no second-factor method left that every customer of yours allows: "
        f"{customer.name} allows none of the methods your other customers allow ({usable}). Ask its "
        "administrators to allow one of them, then accept again."
    )


def no_phishing_resistant_message(customer: Customer) -> str:
    """Issue 16, said to the account that would become an administrator of `customer` without the
    phishing-resistant factor it requires of them."""
    return (
        f"{customer.name} requires a phishing-resistant method (such as a passkey) of its administrators, and "
        "your account has none: add one on your account page, then accept again."
    )


async def lock_customers(users: Sequence[User], *, extra: Sequence[str] = ()) -> None:
    """Hold the rows of every customer of `users` (and `extra` ids) in id order: the order every writer of
    memberships takes them in, so that an acceptance, a removal and a settings change wait for each other
    instead of deadlocking."""
    rows = await Membership.filter(user_id__in=[u.id for u in users]).values_list("customer_id", flat=True)
    ids: set[object] = {str(i) for i in rows} | {str(cid) for cid in map(parse_id, extra) if cid is not None}
    for customer_id in sorted(ids, key=str):  # UUIDs order as their text in both databases
        await Customer.select_for_update().filter(id=customer_id).first()


class InvitationAcceptance:
    """What JOIN_CUSTOMER and LINK_ACCOUNT links show, and accepting them."""

    def __init__(self, policy: Policy, step_up: StepUpService, auditor: Auditor) -> None:
        self._policy = policy
        self._step_up = step_up
        self._audit = auditor

    async def view(self, raw: str) -> Invitation | None:
        """What a JOIN_CUSTOMER or LINK_ACCOUNT link leads to; None when it is neither, or no longer live."""
        join = await find_token(raw, TokenPurpose.JOIN_CUSTOMER)
        if join is not None:
            pending = await PendingMembership.get_or_none(token_id=join.id).prefetch_related("customer")
            if pending is None:
                return None
            return Invitation(
                email=join.user.email,
                expires_at=join.expires_at,
                methods=[],
                password=InvitationPassword.NONE,
                locale=join.user.locale,
                kind=InvitationKind.JOIN_CUSTOMER,
                customer_name=pending.customer.name,
            )
        link = await find_token(raw, TokenPurpose.LINK_ACCOUNT)
        target = await User.get_or_none(id=linking.link_target(link)) if link is not None else None
        if link is None or target is None:
            return None
        return Invitation(
            email=target.email,
            expires_at=link.expires_at,
            methods=[],
            password=InvitationPassword.NONE,
            locale=target.locale,
            kind=InvitationKind.LINK_ACCOUNT,
            customer_name=await linking.customer_names(link.user, self._policy) or None,
            link_from=mask_email(link.user.email),
        )

    async def accept(self, session: Session | None, raw: str, *, ip: str | None = None) -> AcceptInvitationResult:
        """Accept a JOIN_CUSTOMER or LINK_ACCOUNT invitation from a session of the account it names."""
        if session is None:
            return AuthenticationRequired()
        token = await find_token(raw, TokenPurpose.JOIN_CUSTOMER)
        kind = InvitationKind.JOIN_CUSTOMER
        if token is None:
            token = await find_token(raw, TokenPurpose.LINK_ACCOUNT)
            kind = InvitationKind.LINK_ACCOUNT
        if token is None:
            return ChallengeExpired()
        named = str(token.user.id) if kind is InvitationKind.JOIN_CUSTOMER else linking.link_target(token)
        user = await acting_user(session, self._policy)
        if user is None or str(user.id) != named:
            # Signed in as another account (or a session that may only convert, R10): sign in as the one named.
            return AuthenticationRequired()
        if kind is InvitationKind.LINK_ACCOUNT:
            # R14: linking needs a recent second factor of this account; a password user (no factor yet)
            # gets ReauthenticationRequired with no methods, and converts first (R8). Joining a customer
            # needs only the session.
            stepped = await self._step_up.required(session)
            if not isinstance(stepped, User):
                return stepped
        try:
            if kind is InvitationKind.JOIN_CUSTOMER:
                await self._join(user, token, ip)
            else:
                await self._link(user, token, ip)
        except _Refused as refused:
            return refused.answer
        return InvitationAccepted(user=await User.get(id=user.id))

    async def _join(self, user: User, token: Token, ip: str | None) -> None:
        """The invited account becomes a member at the invited level (R19)."""
        async with in_transaction():
            # The user's row first (as removeFactor and linking take it), so that joining as an administrator
            # and removing the account's last phishing-resistant factor wait for each other: the joining is
            # not yet a membership the removal could see. Then the customers, in id order (as removeMember
            # and the S32 check take them), then the invitation's row.
            await User.select_for_update().filter(id=user.id).first()
            await lock_customers([user], extra=[str(token.data.get("customer"))])
            pending = await PendingMembership.select_for_update().get_or_none(token_id=token.id)
            if pending is None or not await use_token(token):
                raise _Refused(ChallengeExpired())
            customer = await Customer.get(id=pending.customer_id)  # type: ignore[attr-defined]
            conflict = await self._policy.method_conflict(customer.id, newcomer=(user, pending.level))
            if conflict is not None:
                raise _Refused(InvalidInput(stranded_message(customer, conflict), "invitation"))
            if await self._policy.joining_gap(user, customer, pending.level):
                raise _Refused(InvalidInput(no_phishing_resistant_message(customer), "invitation"))
            # A member already (an operator added them meanwhile): the invitation is simply done with.
            if not await Membership.exists(user_id=user.id, customer_id=customer.id):
                await Membership.create(
                    user=user, customer=customer, level=pending.level, invited_at=pending.created_at
                )
            await pending.delete()
        await self._audit.record(
            AuditKind.INVITATION_ACCEPTED,
            actor=user,
            subject=user,
            customer=customer,
            data={"level": pending.level.value, "ip": ip},
        )

    async def _link(self, into: User, token: Token, ip: str | None) -> None:
        """R20: the converting account's memberships move to `into`, and the converting account is deleted."""
        old = token.user
        async with in_transaction():
            # Both rows held, in id order, so that two links between the same accounts cannot deadlock.
            for uid in sorted((str(old.id), str(into.id))):
                await User.select_for_update().filter(id=uid).first()
            await lock_customers([old, into])
            if not await use_token(token):
                raise _Refused(ChallengeExpired())
            moved = await linking.move_memberships(old, into, self._policy)
            if isinstance(moved, linking.Stranded):
                raise _Refused(InvalidInput(stranded_message(moved.customer, moved.conflict), "invitation"))
            if isinstance(moved, linking.NoPhishingResistantFactor):
                raise _Refused(InvalidInput(no_phishing_resistant_message(moved.customer), "invitation"))
            old_email = old.email
            # R13: the owner of the old account keeps their "this wasn't me" links; used now, they end the
            # sessions of the account that holds the memberships and lock its password.
            await Token.filter(user_id=old.id, purpose=TokenPurpose.REPORT_CHANGE, used_at=None).update(user_id=into.id)
            # Its sessions, factors, codes, tokens and remembered browsers go with it (ON DELETE CASCADE):
            # nothing of it can sign in again, and its address is free.
            await User.filter(id=old.id).delete()
        data = {"linked": old_email, "into": into.email, "ip": ip}
        for customer in moved.customers:
            await self._audit.record(AuditKind.ACCOUNTS_LINKED, actor=into, subject=into, customer=customer, data=data)
        if not moved.customers:
            await self._audit.record(AuditKind.ACCOUNTS_LINKED, actor=into, subject=into, data=data)
