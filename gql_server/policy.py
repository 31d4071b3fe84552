"""The core policy: what a user, or a session, must do next (R2, R3, R4, R6, R7, R10), and which
methods a user may enroll (R5). Every rule lives here once; plugins may only tighten it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from enum import StrEnum

import pluggy

from gql_server.enums import Assurance, ConversionState, LoginMethod, Requirement
from gql_server.factors import PolicyRequirement, SecondFactorMethod
from gql_server.models import Customer, EnrolledFactor, Membership, Session, User
from gql_server.plugins import call_each

log = logging.getLogger(__name__)


class NextStep(StrEnum):
    """What follows a correct password."""

    SESSION = "session"  # R7: one factor is enough
    CONVERSION_REQUIRED = "conversion_required"  # R3
    CONVERSION_PENDING = "conversion_pending"  # R4, and two-factor users left without a factor (R9)
    SECOND_FACTOR = "second_factor"  # R6


def is_two_factor(user: User) -> bool:
    """True once the account has converted (or was created two-factor); there is no way back (R9)."""
    return user.login_method is LoginMethod.TWO_FACTOR or user.conversion is ConversionState.COMPLETED


class Policy:
    """Answers the policy questions for users and sessions, combining the core rules with plugins'."""

    def __init__(self, pm: pluggy.PluginManager, methods: Mapping[str, SecondFactorMethod]) -> None:
        self._pm = pm
        self._methods = methods

    async def customers_of(self, user: User) -> list[Customer]:
        """Every customer the user belongs to."""
        return await Customer.filter(memberships__user_id=user.id).order_by("name")

    async def plugin_requirements(self, user: User, customers: Sequence[Customer]) -> list[PolicyRequirement]:
        """What plugins add (`policy_requirements`); anything that is not a PolicyRequirement is ignored."""
        hook = self._pm.hook.policy_requirements
        if not hook.get_hookimpls():
            return []
        memberships = await Membership.filter(user_id=user.id)
        answers = call_each(hook, user=user, customers=customers, memberships=memberships, methods=self._methods)
        valid = [a for a in answers if isinstance(a, PolicyRequirement)]
        if len(valid) != len(answers):
            log.error("ignored policy_requirements answers that are not PolicyRequirement objects")
        return valid

    async def must_use_two_factors(self, user: User) -> bool:
        """R2: conversion started or completed, any customer enforcing, or a plugin requiring it."""
        if is_two_factor(user) or user.conversion is not ConversionState.NOT_STARTED:
            return True
        customers = await self.customers_of(user)
        if any(c.enforce_two_factor for c in customers):
            return True
        return any(r.two_factor for r in await self.plugin_requirements(user, customers))

    async def next_step_after_password(self, user: User) -> NextStep:
        """What a correct password leads to. Conversion state wins over the customer policy (R4, R6, R7)."""
        if is_two_factor(user):
            has_factor = await EnrolledFactor.filter(user_id=user.id).exists()
            # A two-factor user without a factor (after an operator reset) finishes through an invitation.
            return NextStep.SECOND_FACTOR if has_factor else NextStep.CONVERSION_PENDING
        if user.conversion is ConversionState.PENDING:
            return NextStep.CONVERSION_PENDING
        if await self.must_use_two_factors(user):
            return NextStep.CONVERSION_REQUIRED
        return NextStep.SESSION

    async def requirement_for(self, session: Session) -> Requirement:
        """R10: a one-factor session of a user who now needs two factors may do nothing but convert."""
        if session.assurance is Assurance.TWO_FACTOR:
            return Requirement.NONE
        if await self.must_use_two_factors(session.user):
            return Requirement.CONVERSION
        return Requirement.NONE

    async def enrollable_methods(self, user: User) -> list[SecondFactorMethod]:
        """R5: the installed, enrollable methods that every customer of the user (and every plugin) allows."""
        allowed = {m.id for m in self._methods.values() if m.enrollable}
        customers = await self.customers_of(user)
        for customer in customers:
            if customer.allowed_methods is not None:
                allowed &= set(customer.allowed_methods)
        for requirement in await self.plugin_requirements(user, customers):
            if requirement.allowed_methods is not None:
                allowed &= requirement.allowed_methods
        return [self._methods[m] for m in sorted(allowed)]
