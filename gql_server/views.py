"""The frozen views hooks receive (`gql_server.plugin_api`), made from the core's rows in one place, so
that no plugin ever holds a database row it could write through or that changes under it."""

from __future__ import annotations

from gql_server.models import AuditEvent, Customer, Membership, User
from gql_server.plugin_api import AuthEvent, CustomerView, MembershipView, UserView


def user_view(user: User) -> UserView:
    """A user as `policy_requirements` sees it."""
    return UserView(
        id=str(user.id),
        email=user.email,
        locale=user.locale,
        login_method=user.login_method,
        conversion=user.conversion,
    )


def customer_view(customer: Customer) -> CustomerView:
    """A customer as `policy_requirements` sees it."""
    allowed = customer.allowed_methods
    return CustomerView(
        id=str(customer.id),
        name=customer.name,
        enforce_two_factor=customer.enforce_two_factor,
        allowed_methods=None if allowed is None else frozenset(allowed),
        require_phishing_resistant_admins=customer.require_phishing_resistant_admins,
    )


def membership_view(membership: Membership) -> MembershipView:
    """A membership as `policy_requirements` sees it."""
    # Tortoise sets the foreign-key column as an attribute; its types do not declare it.
    return MembershipView(customer_id=str(membership.customer_id), level=membership.level)  # type: ignore[attr-defined]


def auth_event_view(event: AuditEvent) -> AuthEvent:
    """An audited event as `auth_event` observers see it."""
    # As above: the foreign-key columns, without loading the rows they point at.
    actor_id = getattr(event, "actor_id", None)
    subject_id = getattr(event, "subject_id", None)
    customer_id = getattr(event, "customer_id", None)
    return AuthEvent(
        id=int(event.id),
        kind=event.kind,
        at=event.at,
        actor_id=None if actor_id is None else str(actor_id),
        actor_email=event.actor_email,
        subject_id=None if subject_id is None else str(subject_id),
        subject_email=event.subject_email,
        customer_id=None if customer_id is None else str(customer_id),
        data=dict(event.data),
    )
