"""Customer, its settings, the enforcement impact preview (R11) and its audit trail."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import datetime
from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON

from gql_server import enums
from gql_server.api.context import Info
from gql_server.api.errors import NOT_PERMITTED, InvalidInput, PermissionDenied, PublicError
from gql_server.api.users import UserType
from gql_server.auth import members, results
from gql_server.auth.customers import AuditFilter, allowed_method_ids
from gql_server.auth.members import Position
from gql_server.limits import AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX, MEMBERS_PAGE_DEFAULT, MEMBERS_PAGE_MAX
from gql_server.models import AuditEvent, Customer

# Audit event ids are BIGINT: a cursor naming a larger one is no cursor of ours (issue 12, item 12).
MAX_AUDIT_EVENT_ID = 2**63 - 1
_CURSOR = re.compile(r"audit:([0-9]{1,19})")
BAD_CURSOR = "Not a cursor of this audit log: pass pageInfo.endCursor of the page before."
BAD_MEMBER_CURSOR = "Not a cursor of this member list: pass pageInfo.endCursor of the page before."


@strawberry.type(name="CustomerSettings")
class CustomerSettingsType:
    """A customer's two-factor settings."""

    enforce_two_factor: bool
    allowed_methods: list[str] = strawberry.field(
        description="Method ids users of this customer may enroll; all installed methods when never set."
    )
    updated_at: datetime | None
    remember_device_days: int = strawberry.field(description="0 = never remember; at most 30 (R18).")
    require_phishing_resistant_admins: bool = strawberry.field(
        default=False,
        description=(
            "CUSTOMER-level members enroll, sign in and step up with phishing-resistant methods only (passkeys)."
        ),
    )


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
    actor_email: str | None = strawberry.field(description="Who acted (an admin changing settings), if anyone.")
    subject_email: str | None = strawberry.field(
        description="Whose account it concerns (a login, a lockout): the address it had at the time (R13)."
    )
    details: JSON

    @classmethod
    def from_model(cls, event: AuditEvent) -> AuditEventType:
        """Wrap an AuditEvent row; the addresses are those stored with the event, not today's."""
        return cls(
            id=strawberry.ID(str(event.id)),
            at=event.at,
            kind=event.kind,
            actor_email=event.actor_email,
            subject_email=event.subject_email,
            details=cast(JSON, event.data),
        )


@strawberry.type
class PageInfo:
    """Where a page ends, and whether another follows."""

    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class AuditLogEdge:
    """One event and the cursor just after it."""

    cursor: str
    node: AuditEventType


@strawberry.type
class AuditLogConnection:
    """A page of the audit log, oldest first or (newestFirst) newest first."""

    edges: list[AuditLogEdge]
    page_info: PageInfo


AuditLogResult = Annotated[AuditLogConnection | InvalidInput | PermissionDenied, strawberry.union("AuditLogResult")]


def _cursor(event_id: int) -> str:
    return base64.urlsafe_b64encode(f"audit:{event_id}".encode()).decode("ascii")


def _after(cursor: str | None) -> int | InvalidInput | None:
    """The event id a cursor of ours names; InvalidInput for anything else (never an exception)."""
    if cursor is None:
        return None
    try:
        decoded = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except ValueError:  # not base64, or not ASCII (binascii.Error and UnicodeError are ValueErrors)
        decoded = ""
    match = _CURSOR.fullmatch(decoded)
    if match is None or int(match.group(1)) > MAX_AUDIT_EVENT_ID:
        return InvalidInput(message=BAD_CURSOR, field="after")
    return int(match.group(1))


@strawberry.input
class MemberFilter:
    """What an admin narrows the member list to (R19); every field left out matches any."""

    conversion: enums.ConversionState | None = None
    login_method: enums.LoginMethod | None = None
    level: enums.MembershipLevel | None = None
    email_contains: str | None = strawberry.field(
        default=None, description="Part of the email address, case-insensitive."
    )


@strawberry.type
class Member:
    """A user's place in the customer (R19)."""

    user: UserType
    level: enums.MembershipLevel
    added_at: datetime
    accepted_at: datetime | None = strawberry.field(
        description="Null while an invited existing account has not accepted (R19)."
    )
    pending_invitation_sent_to: str | None = strawberry.field(
        description="Where a PENDING conversion's last invitation went, masked; null otherwise (R4, R19)."
    )


@strawberry.type
class MemberEdge:
    """One member and the cursor just after it."""

    cursor: str
    node: Member


@strawberry.type
class MemberConnection:
    """A page of the customer's members, in the order they were added."""

    edges: list[MemberEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="How many members match the filter, on every page.")


def _member(row: members.Listed) -> Member:
    accepted = members.accepted_at(row)
    user = UserType.from_model(row.user)
    if accepted is None:
        # An account invited from another customer is not this customer's yet: its activity and its later
        # addresses are not shown (how it signs in is, as the product accepts: R19 lists it as invited).
        user.last_login_at = None
        user.email = members.listed_email(row)
    return Member(
        user=user,
        level=row.level,
        added_at=members.added_at(row),
        accepted_at=accepted,
        pending_invitation_sent_to=members.pending_invitation_sent_to(row),
    )


def _member_cursor(membership: members.Listed) -> str:
    text = f"member:{membership.created_at.isoformat()}|{membership.id}"
    return base64.urlsafe_b64encode(text.encode()).decode("ascii")


def _member_after(cursor: str | None) -> Position | None:
    """The position a cursor of ours names; PublicError for anything else (never a 500)."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
        prefix, _, rest = text.partition(":")
        added, _, member_id = rest.partition("|")
        if prefix != "member":
            raise ValueError(prefix)
        position = Position(added_at=datetime.fromisoformat(added), id=uuid.UUID(member_id))
    except ValueError:  # base64, ASCII, the time and the id all fail as ValueErrors
        raise PublicError(BAD_MEMBER_CURSOR, "INVALID_CURSOR") from None
    if position.added_at.tzinfo is None:
        raise PublicError(BAD_MEMBER_CURSOR, "INVALID_CURSOR")
    return position


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
        installed = info.context.services.policy.installed_method_ids()
        return CustomerSettingsType(
            enforce_two_factor=self.model.enforce_two_factor,
            allowed_methods=allowed_method_ids(self.model, installed),
            updated_at=self.model.settings_updated_at,
            remember_device_days=self.model.remember_device_days,
            require_phishing_resistant_admins=self.model.require_phishing_resistant_admins,
        )

    @strawberry.field(description="Customer-level members only (R19); everyone else gets null.")
    async def members(
        self,
        info: Info,
        first: int | None = MEMBERS_PAGE_DEFAULT,
        after: str | None = None,
        filter: MemberFilter | None = None,
    ) -> MemberConnection | None:
        """One page of at most `first` (capped) members after the cursor `after`, matching `filter`."""
        start = _member_after(after)
        wanted = filter or MemberFilter()
        page = await info.context.services.members.page(
            await info.context.session(),
            self.model,
            max(1, min(MEMBERS_PAGE_DEFAULT if first is None else first, MEMBERS_PAGE_MAX)),
            start,
            members.MemberFilter(wanted.conversion, wanted.login_method, wanted.level, wanted.email_contains),
        )
        if page is None:
            return None
        edges = [MemberEdge(cursor=_member_cursor(m), node=_member(m)) for m in page.members]
        return MemberConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None),
            total_count=page.total,
        )

    @strawberry.field(
        description="Customer-level members only (rule R11): who would have to convert if enforcement were on."
    )
    async def enforcement_impact(self, info: Info) -> EnforcementImpact:
        """R11, answered by the customers service."""
        impact = await info.context.services.customers.impact(await info.context.session(), self.model)
        if isinstance(impact, results.PermissionDenied):
            raise PublicError(NOT_PERMITTED, "PERMISSION_DENIED")
        return EnforcementImpact(
            total_users=impact.total_users,
            converted=impact.converted,
            pending=impact.pending,
            not_started=impact.not_started,
            users_to_convert=[UserType.from_model(u) for u in impact.users_to_convert],
        )

    @strawberry.field(
        description=(
            "Customer-level members only (PermissionDenied otherwise): this customer's doings and what its "
            "policy caused (settings changes, conversions it required), and its members' own logins and "
            "failures, lockouts, conversions and factor changes, oldest first (newest first with "
            "`newestFirst`); narrowed to one `kind` (one of auditEventKinds) and to events whose actor's or "
            "subject's address, as recorded with the event, contains `email` (case-insensitive, R13, R19); "
            "page with `first` and `after` (InvalidInput for a cursor that is not pageInfo.endCursor of this "
            "log, for an unknown kind, or for an `email` longer than an address)."
        )
    )
    async def audit_log(
        self,
        info: Info,
        first: int = AUDIT_PAGE_DEFAULT,
        after: str | None = None,
        newest_first: bool | None = False,
        kind: str | None = None,
        email: str | None = None,
    ) -> AuditLogResult:
        """One page of the audit log, at most `first` (capped) matching events after the cursor `after`."""
        limit = max(1, min(first, AUDIT_PAGE_MAX))
        start = _after(after)
        if isinstance(start, InvalidInput):
            return start
        session = await info.context.session()
        wanted = AuditFilter(newest_first=bool(newest_first), kind=kind, email=email)
        events = await info.context.services.customers.audit_log(session, self.model, limit + 1, start, wanted)
        if isinstance(events, results.PermissionDenied):
            return PermissionDenied(message=NOT_PERMITTED)
        if isinstance(events, results.InvalidInput):
            return InvalidInput(message=events.message, field=events.field)
        page = events[:limit]
        edges = [AuditLogEdge(cursor=_cursor(e.id), node=AuditEventType.from_model(e)) for e in page]
        return AuditLogConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=len(events) > limit, end_cursor=edges[-1].cursor if edges else None),
        )

    @strawberry.field(
        description=(
            "Customer-level members only: the kinds of audit event, sorted (every kind the service records, "
            "whether or not this log holds one yet); auditLog's `kind` takes one of them (R19)."
        )
    )
    async def audit_event_kinds(self, info: Info) -> list[str]:
        """R19: what the audit log can be narrowed to."""
        kinds = await info.context.services.customers.audit_event_kinds(await info.context.session(), self.model)
        if isinstance(kinds, results.PermissionDenied):
            raise PublicError(NOT_PERMITTED, "PERMISSION_DENIED")
        return kinds
