"""Who may act and see: sessions that satisfy the policy, and membership levels (R1, R10, S20, S30)."""

from __future__ import annotations

from gql_server.enums import MembershipLevel, Requirement
from gql_server.models import Membership, Session, User
from gql_server.policy import Policy


async def acting_user(session: Session | None, policy: Policy) -> User | None:
    """The session's user when the session may be used for more than `viewer` (R10), else None."""
    if session is None:
        return None
    if await policy.requirement_for(session) is not Requirement.NONE:
        return None
    return session.user


async def level_in(user: User, customer_id: object) -> MembershipLevel | None:
    """The user's level in a customer, or None when not a member."""
    membership = await Membership.get_or_none(user_id=user.id, customer_id=customer_id)
    return membership.level if membership else None


async def is_customer_admin(user: User, customer_id: object) -> bool:
    """R1: only CUSTOMER-level members administer a customer."""
    return await level_in(user, customer_id) is MembershipLevel.CUSTOMER


async def visible_memberships(session: Session | None, policy: Policy, user: User) -> list[Membership]:
    """A user's memberships as the caller may see them: none for a session that does not satisfy the
    policy (S30: through them a restricted session would read customer data, settings included); all of
    the caller's own; of someone else (an admin reading the impact preview), only those in customers the
    caller belongs to, so that no tenant learns of another.
    """
    caller = await acting_user(session, policy)
    if caller is None:
        return []
    rows = Membership.filter(user_id=user.id).prefetch_related("customer").order_by("created_at")
    if caller.id != user.id:
        shared = Membership.filter(user_id=caller.id).values_list("customer_id", flat=True)
        rows = rows.filter(customer_id__in=list(await shared))
    return await rows


async def may_see_factors(session: Session | None, policy: Policy, user: User) -> bool:
    """Only the user sees which second factors they have, and only from a session that satisfies the
    policy (S20: a restricted session reads nothing but `viewer` itself)."""
    caller = await acting_user(session, policy)
    return caller is not None and caller.id == user.id
