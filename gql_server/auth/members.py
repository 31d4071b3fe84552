"""R19: a customer's admins list its members (level, login method, conversion, the masked address of a
pending invitation, last login), filtered and paginated, with the existing accounts invited to join that
have not accepted yet (PendingMembership, `acceptedAt` null).

Only CUSTOMER-level members of the customer see the list (R1, R19); everyone else, a company-level member
included, sees none. Pages are keyset pages in the order rows were made (`created_at`, then `id`), so that
a page costs the same at the 10,000th member as at the first (indexes on (customer_id, created_at) of both
tables, migrations 0007 and 0008): each table gives at most one page after the cursor, and the two are
merged.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from gql_server.auth.access import acting_user, is_customer_admin
from gql_server.emails import mask_email
from gql_server.enums import ConversionState, LoginMethod, MembershipLevel
from gql_server.models import Customer, Membership, PendingMembership, Session
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


# A row of the list: a membership, or an invitation to join that the account has not accepted yet.
Listed = Membership | PendingMembership


@dataclass(frozen=True)
class MemberPage:
    """One page of members (with their users), whether more follow, and how many match in all."""

    members: list[Listed]
    has_next: bool
    total: int


def added_at(row: Listed) -> datetime:
    """When the member was added: invited, for an account that joined by accepting (R19)."""
    if isinstance(row, Membership):
        return row.invited_at or row.created_at
    return row.created_at


def accepted_at(row: Listed) -> datetime | None:
    """When the account became a member; None while an invited existing account has not accepted (R19)."""
    return row.created_at if isinstance(row, Membership) else None


def pending_invitation_sent_to(row: Listed) -> str | None:
    """Where a PENDING conversion's last invitation went, masked (R4, R19); None otherwise (an invitation
    to join went to the account's own address, shown beside it)."""
    user = row.user
    if not isinstance(row, Membership) or user.conversion is not ConversionState.PENDING:
        return None
    return mask_email(user.pending_email or user.email)


def _position(row: Listed) -> tuple[datetime, str]:
    # UUIDs order as their lower-case text in both databases (PostgreSQL's uuid compares bytes).
    return row.created_at, str(row.id)


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
        found: list[Listed] = []
        total = 0
        for model in (Membership, PendingMembership):
            rows = _matching(model, customer, wanted)
            matching = await rows.count()
            total += matching
            if not matching:
                continue  # most customers have no invitation waiting: no second page query
            if after is not None:
                rows = rows.filter(Q(created_at__gt=after.added_at) | Q(created_at=after.added_at, id__gt=after.id))
            found.extend(await rows.order_by("created_at", "id").limit(first + 1).prefetch_related("user"))
        found.sort(key=_position)
        return MemberPage(members=found[:first], has_next=len(found) > first, total=total)


def _matching(model: type[Membership] | type[PendingMembership], customer: Customer, wanted: MemberFilter) -> QuerySet:  # type: ignore[type-arg]
    rows = model.filter(customer_id=customer.id)
    if wanted.conversion is not None:
        rows = rows.filter(user__conversion=wanted.conversion)
    if wanted.login_method is not None:
        rows = rows.filter(user__login_method=wanted.login_method)
    if wanted.level is not None:
        rows = rows.filter(level=wanted.level)
    if wanted.email_contains:
        # Addresses are stored in lower case (emails.normalize_email).
        rows = rows.filter(user__email__contains=wanted.email_contains.strip().lower())
    return rows
