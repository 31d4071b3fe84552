"""The core policy: what a user, or a session, must do next (R2, R3, R6, R7, R10). Rules live here once."""

from __future__ import annotations

from enum import StrEnum

from gql_server.enums import Assurance, ConversionState, LoginMethod, Requirement
from gql_server.models import Customer, Session, User


class NextStep(StrEnum):
    """What follows a correct password."""

    SESSION = "session"  # R7: one factor is enough
    CONVERSION_REQUIRED = "conversion_required"  # R3
    CONVERSION_PENDING = "conversion_pending"  # R4
    SECOND_FACTOR = "second_factor"  # R6


def is_two_factor(user: User) -> bool:
    """True once the account has converted (or was created two-factor); there is no way back (R9)."""
    return user.login_method is LoginMethod.TWO_FACTOR or (user.conversion is ConversionState.COMPLETED)


async def enforced_for(user: User) -> bool:
    """R2(b): does any customer the user belongs to enforce two-factor authentication?"""
    return await Customer.filter(memberships__user_id=user.id, enforce_two_factor=True).exists()


async def next_step_after_password(user: User) -> NextStep:
    """What a correct password leads to. Conversion state wins over the customer policy (R4, R6, R7)."""
    if is_two_factor(user):
        return NextStep.SECOND_FACTOR
    if user.conversion is ConversionState.PENDING:
        return NextStep.CONVERSION_PENDING
    if await enforced_for(user):
        return NextStep.CONVERSION_REQUIRED
    return NextStep.SESSION


async def requirement_for(session: Session) -> Requirement:
    """R10: a one-factor session of a user who now needs two factors may do nothing but convert."""
    if session.assurance is Assurance.TWO_FACTOR:
        return Requirement.NONE
    user = session.user
    if is_two_factor(user) or user.conversion is not ConversionState.NOT_STARTED:
        return Requirement.CONVERSION
    if await enforced_for(user):
        return Requirement.CONVERSION
    return Requirement.NONE
