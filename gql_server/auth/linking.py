"""R20 One person, one account: the LINK_ACCOUNT invitation, and moving one account into another.

A conversion may type an address that belongs to another account. The answer is the same as for any
address (no `EmailInUse`: no enumeration), and that address receives a LINK_ACCOUNT invitation instead of
an enrollment. Signed in to the account that owns the address (its own second factor, R14), its owner may
accept: the converting account's memberships move to it, and the converting account is deleted, so it can
never sign in again (its sessions, factors, tokens and remembered browsers go with it). The history keeps
its address (AuditEvent stores addresses as text).
"""

from __future__ import annotations

from dataclasses import dataclass

from gql_server.emails import mask_email
from gql_server.enums import MembershipLevel, TokenPurpose
from gql_server.limits import INVITATION_LIFETIME
from gql_server.links import Links
from gql_server.models import Customer, Membership, PendingMembership, Token, User
from gql_server.outbox import Outbox, Queued
from gql_server.policy import MethodConflict, Policy
from gql_server.tokens import issue_token, revoke_tokens


@dataclass(frozen=True)
class NoPhishingResistantFactor:
    """A move would make `into` an administrator of `customer`, which requires phishing-resistant methods of
    its administrators, while `into` has no such factor (issue 16)."""

    customer: Customer


@dataclass(frozen=True)
class Linked:
    """What a link moved: the customers involved (the old account's and the remaining one's)."""

    customers: list[Customer]


@dataclass(frozen=True)
class Stranded:
    """S32: moving the memberships would leave the remaining account no method to enroll in `customer`."""

    customer: Customer
    conflict: MethodConflict


def link_target(token: Token) -> str | None:
    """The id of the account a LINK_ACCOUNT token names (the one that must accept it)."""
    value = token.data.get("account")
    return value if isinstance(value, str) else None


async def customer_names(user: User, policy: Policy) -> str:
    """The names of the user's customers, for the invitation's text ("Acme Oy, Beta Ab")."""
    return ", ".join(c.name for c in await policy.customers_of(user))


async def invite_in_transaction(
    converting: User, owner: User, address: str, *, outbox: Outbox, links: Links, policy: Policy
) -> Queued:
    """Within the conversion's transaction: a LINK_ACCOUNT invitation to `address`, which `owner` owns. The
    token belongs to the converting account, so that its next invitation, and anything that ends its tokens
    in flight (R13), end this one too."""
    await revoke_tokens(converting, TokenPurpose.LINK_ACCOUNT)
    link = await issue_token(
        converting,
        TokenPurpose.LINK_ACCOUNT,
        INVITATION_LIFETIME,
        {"account": str(owner.id), "email": address},
    )
    return await outbox.put(
        "link_account",
        to=address,
        locale=owner.locale,
        token=link.record,
        link=links.invitation(link.token),
        expires_at=link.expires_at,
        email=address,
        link_from=mask_email(converting.email),
        customers=await customer_names(converting, policy) or "-",
    )


async def move_memberships(old: User, into: User, policy: Policy) -> Linked | Stranded | NoPhishingResistantFactor:
    """Within the caller's transaction (both users' rows and all their customers' rows held, so that no
    admin removes or demotes anyone of them meanwhile): every membership of `old` becomes `into`'s
    (where `into` is a member already, the higher level stays), and so do its pending invitations to join.
    Each move is checked first (S32), with the moves before it counted: Stranded, and the caller rolls
    back, when one would leave `into` no method to enroll; NoPhishingResistantFactor when one would make
    `into` an administrator whose login must be phishing-resistant without a factor for it."""
    involved: dict[str, Customer] = {str(c.id): c for c in await policy.customers_of(into)}
    for membership in await Membership.filter(user_id=old.id).prefetch_related("customer"):
        customer = membership.customer
        involved[str(customer.id)] = customer
        existing = await Membership.get_or_none(user_id=into.id, customer_id=customer.id)
        if existing is not None:
            if membership.level is MembershipLevel.CUSTOMER and existing.level is not MembershipLevel.CUSTOMER:
                if await policy.joining_gap(into, customer, MembershipLevel.CUSTOMER):
                    return NoPhishingResistantFactor(customer)
                await Membership.filter(id=existing.id).update(level=MembershipLevel.CUSTOMER)
            await membership.delete()
            continue
        conflict = await policy.method_conflict(customer.id, newcomer=(into, membership.level))
        if conflict is not None:
            return Stranded(customer, conflict)
        if await policy.joining_gap(into, customer, membership.level):
            return NoPhishingResistantFactor(customer)
        await Membership.filter(id=membership.id).update(user_id=into.id)
    # Where `into` is a member or invited already, the old account's invitation is no longer needed.
    taken = set(await Membership.filter(user_id=into.id).values_list("customer_id", flat=True))
    taken |= set(await PendingMembership.filter(user_id=into.id).values_list("customer_id", flat=True))
    await PendingMembership.filter(user_id=old.id, customer_id__in=list(taken)).delete()
    await PendingMembership.filter(user_id=old.id).update(user_id=into.id)
    return Linked(sorted(involved.values(), key=lambda c: c.name))
