"""Viewer, User, Membership and Session types."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from gql_server import enums
from gql_server.api.context import Info
from gql_server.api.methods import SecondFactorMethodType
from gql_server.auth.access import may_see_factors, visible_memberships
from gql_server.auth.factors import recovery_codes_left
from gql_server.models import EnrolledFactor, Membership, RememberedDevice, Session, User
from gql_server.plugin_api import SecondFactorMethod
from gql_server.sessions import effective_expiry

if TYPE_CHECKING:
    from gql_server.api.customers import CustomerType

strawberry.enum(enums.LoginMethod)
strawberry.enum(enums.ConversionState)
strawberry.enum(enums.MembershipLevel)
strawberry.enum(enums.Assurance)
strawberry.enum(enums.Requirement, description="What the policy requires of a user right now.")


@strawberry.type(name="User")
class UserType:
    """An account."""

    id: strawberry.ID
    email: str
    login_method: enums.LoginMethod
    conversion: enums.ConversionState
    last_login_at: datetime | None
    locale: str = strawberry.field(description='Language of the user\'s emails and of the web client: "fi" or "en".')
    model: strawberry.Private[User]

    @classmethod
    def from_model(cls, user: User) -> UserType:
        """Wrap a User row."""
        return cls(
            id=strawberry.ID(str(user.id)),
            email=user.email,
            login_method=user.login_method,
            conversion=user.conversion,
            last_login_at=user.last_login_at,
            locale=user.locale,
            model=user,
        )

    @strawberry.field
    async def second_factors(self, info: Info) -> list[EnrolledFactorType]:
        """The user's active second factors (never their secrets)."""
        services = info.context.services
        if not await may_see_factors(await info.context.session(), services.policy, self.model):
            return []
        rows = await EnrolledFactor.filter(user_id=self.model.id).order_by("created_at")
        methods, unready = services.methods, services.unready_methods
        return [EnrolledFactorType.from_model(row, methods.get(row.method), unready.get(row.method)) for row in rows]

    @strawberry.field
    async def memberships(self, info: Info) -> list[MembershipType]:
        """The customers this user belongs to, with the level in each (of other users: shared customers only)."""
        rows = await visible_memberships(await info.context.session(), info.context.services.policy, self.model)
        return [MembershipType(level=row.level, model=row) for row in rows]


@strawberry.type(name="EnrolledFactor")
class EnrolledFactorType:
    """An active second factor."""

    id: strawberry.ID
    method: SecondFactorMethodType
    label: str | None = strawberry.field(description='A name the user chose, e.g. "work phone" (R15).')
    created_at: datetime
    last_used_at: datetime | None
    usable: bool = strawberry.field(
        default=True,
        description=(
            "False when the service cannot use the factor's method now: its plugin is not installed, or is but "
            "cannot work (e.g. SMS without a gateway). Such a factor is kept, not offered at login or step-up; "
            "the user's other factors and recovery codes sign in, and it works again once the method does."
        ),
    )

    @classmethod
    def from_model(
        cls,
        factor: EnrolledFactor,
        method: SecondFactorMethod | None,
        unready: tuple[SecondFactorMethod, str] | None = None,
    ) -> EnrolledFactorType:
        """Wrap a factor row. A factor whose plugin is no longer installed still shows, as such; one whose
        method cannot work now (`unready`: the method and why) shows with its method's name, not usable."""
        if method is not None:
            shown = SecondFactorMethodType.from_method(method)
        elif unready is not None:
            shown = SecondFactorMethodType.from_method(unready[0])
        else:
            shown = SecondFactorMethodType.not_installed(factor.method)
        return cls(
            id=strawberry.ID(str(factor.id)),
            method=shown,
            label=factor.label,
            created_at=factor.created_at,
            last_used_at=factor.last_used_at,
            usable=method is not None,
        )


@strawberry.type(name="Membership")
class MembershipType:
    """A user's place in a customer."""

    level: enums.MembershipLevel
    model: strawberry.Private[Membership]

    @strawberry.field
    def customer(self) -> Annotated[CustomerType, strawberry.lazy("gql_server.api.customers")]:
        """The customer."""
        from gql_server.api.customers import CustomerType

        return CustomerType.from_model(self.model.customer)


@strawberry.type(name="Session")
class SessionType:
    """A signed-in session."""

    assurance: enums.Assurance
    expires_at: datetime
    verified_at: datetime | None = strawberry.field(
        description="When a second factor was last verified in this session; step-up needs it recent (R14)."
    )

    @classmethod
    def from_model(cls, session: Session, info: Info) -> SessionType:
        """Wrap a Session row; `expiresAt` is the earlier of its idle and absolute limits."""
        policy = info.context.services.sessions
        return cls(
            assurance=session.assurance, expires_at=effective_expiry(session, policy), verified_at=session.verified_at
        )


@strawberry.type(name="SessionInfo")
class SessionInfoType:
    """One of the viewer's live sessions (R17)."""

    id: strawberry.ID
    current: bool
    assurance: enums.Assurance
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip_address: str | None
    user_agent: str | None

    @classmethod
    def from_model(cls, session: Session, current: Session, info: Info) -> SessionInfoType:
        """Wrap a Session row; `expiresAt` is the earlier of its idle and absolute limits, as for `session`."""
        return cls(
            id=strawberry.ID(str(session.id)),
            current=session.id == current.id,
            assurance=session.assurance,
            created_at=session.created_at,
            last_seen_at=session.last_seen_at,
            expires_at=effective_expiry(session, info.context.services.sessions),
            ip_address=session.ip_address,
            user_agent=session.user_agent,
        )


@strawberry.type(name="RememberedDevice")
class RememberedDeviceType:
    """A browser that skips the second factor at login with the right password (R18)."""

    id: strawberry.ID
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    user_agent: str | None

    @classmethod
    def from_model(cls, device: RememberedDevice) -> RememberedDeviceType:
        """Wrap a RememberedDevice row (never its token's hash or fingerprint)."""
        return cls(
            id=strawberry.ID(str(device.id)),
            created_at=device.created_at,
            expires_at=device.expires_at,
            last_used_at=device.last_used_at,
            user_agent=device.user_agent,
        )


@strawberry.type
class Viewer:
    """The signed-in user and their session."""

    user: UserType
    session: SessionType
    model: strawberry.Private[Session]

    @strawberry.field(description="CONVERSION when the user must convert before using anything else (rules R2, R10).")
    async def requirement(self, info: Info) -> enums.Requirement:
        """Asked of the policy only when selected: it can cost queries that `viewer { user }` does not need."""
        return await info.context.services.policy.requirement_for(self.model)

    @strawberry.field(description="Recovery codes not used yet.")
    async def recovery_codes_left(self, info: Info) -> int:
        """R15; 0 for a session that does not satisfy the policy (S20, S30: it sees nothing of the factors)."""
        services = info.context.services
        if not await may_see_factors(self.model, services.policy, self.user.model):
            return 0
        return await recovery_codes_left(self.user.model)

    @strawberry.field(description="Every live session of the viewer, this one included (R17).")
    async def sessions(self, info: Info) -> list[SessionInfoType]:
        """Empty for a session that does not satisfy the policy (R10, S30), like other reads beyond `viewer`."""
        rows = await info.context.services.my_sessions.live(self.model)
        return [SessionInfoType.from_model(row, self.model, info) for row in rows]

    @strawberry.field(description="Browsers where the second factor is remembered (R18).")
    async def remembered_devices(self, info: Info) -> list[RememberedDeviceType]:
        """Those still valid; empty for a session that does not satisfy the policy (R10, S30)."""
        rows = await info.context.services.devices.live(self.model)
        return [RememberedDeviceType.from_model(row) for row in rows]
