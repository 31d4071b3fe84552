"""Starting the conversion (R4, R8): RequestConversionResult and its members; reading an invitation (R5)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from gql_server import enums
from gql_server.api.context import Info
from gql_server.api.errors import (
    AuthenticationRequired,
    ChallengeExpired,
    EmailInUse,
    InvalidInput,
    TooManyAttempts,
)
from gql_server.api.methods import SecondFactorMethodType


@strawberry.enum(description="What became of an email the service sent (S36).")
class MailDelivery(Enum):
    """SENT or QUEUED; an address refused for good is an InvalidInput answer instead."""

    SENT = strawberry.enum_value("SENT", description="The mail server took the message.")
    QUEUED = strawberry.enum_value(
        "QUEUED", description="Not yet: the mail server did not answer in time; the service keeps trying."
    )


@strawberry.type
class ConversionRequested:
    """The invitation is on its way; the conversion is PENDING from now on (R4)."""

    sent_to: str
    expires_at: datetime
    delivery: MailDelivery = strawberry.field(
        description="SENT when the mail server took the invitation; QUEUED while the service keeps trying."
    )


strawberry.enum(
    enums.InvitationKind,
    name="InvitationKind",
    description="What an invitation link leads to (rules R5, R19, R20).",
)

strawberry.enum(
    enums.InvitationPassword,
    name="InvitationPassword",
    description="What confirmEnrollment needs besides the code (rules R5, S34).",
)


RequestConversionResult = Annotated[
    ConversionRequested | ChallengeExpired | EmailInUse | InvalidInput | AuthenticationRequired | TooManyAttempts,
    strawberry.union("RequestConversionResult"),
]


@strawberry.type
class Invitation:
    """What an invitation link allows."""

    email: str
    expires_at: datetime
    methods: list[SecondFactorMethodType] = strawberry.field(
        description="The enrollable methods this user may choose from (rule R5)."
    )
    password_required: bool = strawberry.field(
        description=(
            "True when confirmEnrollment needs a password: a new account's first one, or the account's "
            "current one after an operator reset (see `password`)."
        )
    )
    password: enums.InvitationPassword = strawberry.field(
        description="NEW: choose the account's first password; CURRENT: type the account's password; NONE."
    )
    locale: str = strawberry.field(
        description='The account\'s language ("fi" or "en"): the invitation page opens in it, as its email did.'
    )
    kind: enums.InvitationKind = strawberry.field(
        description=(
            "ENROLL: choose and enroll a second factor. LINK_ACCOUNT and JOIN_CUSTOMER: sign in to the account "
            "at `email`, then acceptInvitation (methods is empty)."
        )
    )
    customer_name: str | None = strawberry.field(
        description=(
            "For JOIN_CUSTOMER: the customer's name. For LINK_ACCOUNT: the customers of the account whose "
            "memberships would move."
        )
    )
    link_from: str | None = strawberry.field(
        description="For LINK_ACCOUNT: the address of the account whose memberships would move, masked (R20)."
    )


async def invitation(info: Info, token: str) -> Invitation | None:
    """What an invitation link allows; null when the token is unknown, used or expired."""
    services = info.context.services
    view = await services.enrollment.invitation(token) or await services.acceptance.view(token)
    if view is None:
        return None
    return Invitation(
        email=view.email,
        expires_at=view.expires_at,
        methods=[SecondFactorMethodType.from_method(m) for m in view.methods],
        password_required=view.password is not enums.InvitationPassword.NONE,
        password=view.password,
        locale=view.locale,
        kind=view.kind,
        customer_name=view.customer_name,
        link_from=view.link_from,
    )
