"""Customer, its settings, the enforcement impact preview (R11) and its audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from gql_server.api.context import Info
from gql_server.api.errors import NOT_PERMITTED, PublicError
from gql_server.api.users import UserType
from gql_server.auth.customers import allowed_method_ids
from gql_server.auth.results import NotPermitted
from gql_server.models import AuditEvent, Customer

MAX_AUDIT_ENTRIES = 500


@strawberry.type(name="CustomerSettings")
class CustomerSettingsType:
    """A customer's two-factor settings."""

    enforce_two_factor: bool
    allowed_methods: list[str] = strawberry.field(
        description="Method ids users of this customer may enroll; all installed methods when never set."
    )
    updated_at: datetime | None


@strawberry.type
class EnforcementImpact:
    """Who would have to convert if enforcement were on (rule R11)."""

    total_users: int
    converted: int
    pending: int
    not_started: int
    users_to_convert: list[UserType] = strawberry.field(
        description="Users who would have to convert (conversion NOT_STARTED)."
    )


@strawberry.type(name="AuditEvent")
class AuditEventType:
    """One audited event: what happened, when (UTC), who did it, and the details."""

    id: strawberry.ID
    at: datetime
    kind: str
    actor_email: str | None
    details: JSON

    @classmethod
    def from_model(cls, event: AuditEvent) -> AuditEventType:
        """Wrap an AuditEvent row."""
        return cls(
            id=strawberry.ID(str(event.id)),
            at=event.at,
            kind=event.kind,
            actor_email=event.actor_email,
            details=cast(JSON, event.data),
        )


@strawberry.type(name="Customer")
class CustomerType:
    """A tenant the caller belongs to."""

    id: strawberry.ID
    name: str
    model: strawberry.Private[Customer]

    @classmethod
    def from_model(cls, customer: Customer) -> CustomerType:
        """Wrap a Customer row."""
        return cls(id=strawberry.ID(str(customer.id)), name=customer.name, model=customer)

    @strawberry.field
    def settings(self, info: Info) -> CustomerSettingsType:
        """The two-factor settings."""
        installed = info.context.services.enrollable_method_ids
        return CustomerSettingsType(
            enforce_two_factor=self.model.enforce_two_factor,
            allowed_methods=allowed_method_ids(self.model, installed),
            updated_at=self.model.settings_updated_at,
        )

    @strawberry.field(
        description="Customer-level members only (rule R11): who would have to convert if enforcement were on."
    )
    async def enforcement_impact(self, info: Info) -> EnforcementImpact:
        """R11, answered by the customers service."""
        impact = await info.context.services.customers.impact(await info.context.session(), self.model)
        if isinstance(impact, NotPermitted):
            raise PublicError(NOT_PERMITTED, "PERMISSION_DENIED")
        return EnforcementImpact(
            total_users=impact.total_users,
            converted=impact.converted,
            pending=impact.pending,
            not_started=impact.not_started,
            users_to_convert=[UserType.from_model(u) for u in impact.users_to_convert],
        )

    @strawberry.field(
        description="Customer-level members only: settings changes and other audited events, newest first."
    )
    async def audit_trail(self, info: Info, first: int = 50) -> list[AuditEventType]:
        """The customer's audit trail, newest first, at most `first` (capped) entries."""
        limit = max(1, min(first, MAX_AUDIT_ENTRIES))
        events = await info.context.services.customers.audit_trail(await info.context.session(), self.model, limit)
        if isinstance(events, NotPermitted):
            raise PublicError(NOT_PERMITTED, "PERMISSION_DENIED")
        return [AuditEventType.from_model(e) for e in events]
