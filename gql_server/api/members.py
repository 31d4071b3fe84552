"""R19, R20: the unions and members of what a customer's admins do to its members (inviteUser,
resendInvitation, removeMember, setMemberLevel, sendPasswordReset) and of acceptInvitation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from gql_server.api.customers import CustomerType
from gql_server.api.errors import (
    AuthenticationRequired,
    ChallengeExpired,
    InvalidInput,
    LastAdministrator,
    PermissionDenied,
    ReauthenticationRequired,
    TooManyAttempts,
)
from gql_server.api.users import UserType


@strawberry.type
class UserInvited:
    """An invitation is on its way: a new account's, or, for an existing account, one to join (it becomes a
    member when it accepts, signed in; listed with acceptedAt null until then)."""

    sent_to: str = strawberry.field(description="The address, masked.")


@strawberry.type
class InvitationResent:
    """The pending member's invitation was sent again; the previous one no longer works."""

    sent_to: str = strawberry.field(description="Where it went, masked: the address the conversion started with.")
    expires_at: datetime


@strawberry.type
class MemberUpdated:
    """The member's level was changed, or the member removed; the customer as it is now."""

    customer: CustomerType


@strawberry.type
class PasswordResetSent:
    """A single-use link to choose a new password went to the member's own address."""

    sent_to: str = strawberry.field(description="The member's address, masked.")


@strawberry.type
class InvitationAccepted:
    """The signed-in account joined the customer, or now holds the linked account's customers (R20)."""

    user: UserType


InviteUserResult = Annotated[
    UserInvited | InvalidInput | PermissionDenied | AuthenticationRequired | TooManyAttempts,
    strawberry.union("InviteUserResult"),
]
ResendInvitationResult = Annotated[
    InvitationResent | InvalidInput | PermissionDenied | AuthenticationRequired | TooManyAttempts,
    strawberry.union("ResendInvitationResult"),
]
MemberResult = Annotated[
    MemberUpdated | LastAdministrator | InvalidInput | PermissionDenied | AuthenticationRequired,
    strawberry.union("MemberResult"),
]
SendPasswordResetResult = Annotated[
    PasswordResetSent | InvalidInput | PermissionDenied | AuthenticationRequired | TooManyAttempts,
    strawberry.union("SendPasswordResetResult"),
]
AcceptInvitationResult = Annotated[
    InvitationAccepted | ChallengeExpired | AuthenticationRequired | ReauthenticationRequired | InvalidInput,
    strawberry.union("AcceptInvitationResult"),
]
