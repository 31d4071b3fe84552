"""R19, a first part: a customer's admins list its members (level, login method, conversion, the masked
address of a pending invitation, last login), filtered and paginated.

Only CUSTOMER-level members of the customer see the list (R1, R19); everyone else, a company-level member
included, sees none. Pages are keyset pages in the order members were added (`created_at`, then `id`),
so that a page costs the same at the 10,000th member as at the first (the membership index on
(customer_id, created_at), migration 0007).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import Q

from gql_server.auth.access import acting_user, is_customer_admin
from gql_server.emails import mask_email
from gql_server.enums import ConversionState, LoginMethod, MembershipLevel
from gql_server.models import Customer, Membership, Session
from gql_server.policy import Policy


@dataclass(frozen=True)
class MemberFilter:
    """What an admin narrows the list to; None means any."""

    conversion: ConversionState | None = None
    login_method: LoginMethod | None = None
    level: MembershipLevel | None = None
    # Part of the address, case-insensitive.
    email_contains: str | None = None


@dataclass(frozen=True)
class Position:
    """Where a page starts: just after the member added at `added_at` with membership id `id`."""

    added_at: datetime
    id: uuid.UUID


@dataclass(frozen=True)
class MemberPage:
    """One page of members (with their users), whether more follow, and how many match in all."""

    members: list[Membership]
    has_next: bool
    total: int


def pending_invitation_sent_to(membership: Membership) -> str | None:
    """Where a PENDING conversion's last invitation went, masked (R4, R19); None otherwise."""
    user = membership.user
    if user.conversion is not ConversionState.PENDING:
        return None
    return mask_email(user.pending_email or user.email)


class Members:
    """What a customer's admins read about its members."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    async def page(
        self,
        session: Session | None,
        customer: Customer,
        first: int,
        after: Position | None,
        wanted: MemberFilter,
    ) -> MemberPage | None:
        """Up to `first` members after `after`, matching `wanted`; None unless the caller is one of the
        customer's admins in a session that satisfies the policy."""
        user = await acting_user(session, self._policy)
        if user is None or not await is_customer_admin(user, customer.id):
            return None
        rows = Membership.filter(customer_id=customer.id)
        if wanted.conversion is not None:
            rows = rows.filter(user__conversion=wanted.conversion)
        if wanted.login_method is not None:
            rows = rows.filter(user__login_method=wanted.login_method)
        if wanted.level is not None:
            rows = rows.filter(level=wanted.level)
        if wanted.email_contains:
            # Addresses are stored in lower case (emails.normalize_email).
            rows = rows.filter(user__email__contains=wanted.email_contains.strip().lower())
        total = await rows.count()
        if after is not None:
            rows = rows.filter(Q(created_at__gt=after.added_at) | Q(created_at=after.added_at, id__gt=after.id))
        found = await rows.order_by("created_at", "id").limit(first + 1).prefetch_related("user")
        return MemberPage(members=found[:first], has_next=len(found) > first, total=total)
