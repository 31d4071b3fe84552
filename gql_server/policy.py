"""The core policy: what a user, or a session, must do next (R2, R3, R4, R6, R7, R10), which
methods a user may enroll (R5) and which changes would leave members none (S32), whose policy
caused a user's conversion requirement (S33), and which factors finish a login or a step-up when a
policy narrows them (PolicyRequirement.login_methods: a customer's requirePhishingResistantAdmins).
Every rule lives here once; plugins may only tighten it.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum

import pluggy
from tortoise.expressions import Q, Subquery

from gql_server import lookups
from gql_server.auth.account_state import AccountState, is_two_factor
from gql_server.enums import Assurance, ConversionState, MembershipLevel, Requirement
from gql_server.models import Customer, EnrolledFactor, Membership, Session, User
from gql_server.plugin_api import PolicyRequirement, SecondFactorMethod, capabilities_of
from gql_server.plugins import CORE_POLICY, call_each
from gql_server.views import customer_view, membership_view, user_view

log = logging.getLogger(__name__)


class NextStep(StrEnum):
    """What follows a correct password."""

    SESSION = "session"  # R7: one factor is enough
    CONVERSION_REQUIRED = "conversion_required"  # R3
    CONVERSION_PENDING = "conversion_pending"  # R4, and two-factor users left without a factor (R9)
    SECOND_FACTOR = "second_factor"  # R6


class _Unchanged(Enum):
    UNCHANGED = "unchanged"


# A setting a change leaves as it is (None is a value of allowedMethods: every installed method).
UNCHANGED = _Unchanged.UNCHANGED


@dataclass(frozen=True)
class MethodConflict:
    """S32: a change would leave `members` members with no method they may enroll. `would_help` are the
    methods that would leave each of them at least one if this customer allowed them too (the other
    customers involved are not named: an admin learns nothing about other tenants but this)."""

    members: int
    would_help: frozenset[str]


class Policy:
    """Answers the policy questions for users and sessions, combining the core rules with plugins'."""

    def __init__(self, pm: pluggy.PluginManager, methods: Mapping[str, SecondFactorMethod]) -> None:
        self._pm = pm
        self._methods = methods

    async def customers_of(self, user: User) -> list[Customer]:
        """Every customer the user belongs to, by name."""
        return await lookups.customers_of(user.id)

    async def enforcing_customers(self, user: User) -> list[Customer]:
        """S33: the customers whose enforcement requires this user to convert (R2(b)), by name; empty when
        nothing but the user's own choice (R8) or a plugin's policy does. Events this requirement causes
        (`conversion_required`, `conversion_started`) are recorded once per customer named here
        (`Auditor.record_caused_by`), so that no other customer's admins see them.
        """
        return [c for c in await self.customers_of(user) if c.enforce_two_factor]

    async def plugin_requirements(self, user: User, customers: Sequence[Customer]) -> list[PolicyRequirement]:
        """What plugins add (`policy_requirements`); anything that is not a PolicyRequirement is ignored."""
        if not self._consults_hook(customers):
            return []
        return self._plugin_answers(user, customers, await Membership.filter(user_id=user.id))

    def _other_policies(self) -> bool:
        """Whether a plugin other than the core's own implements `policy_requirements`."""
        return any(impl.plugin_name != CORE_POLICY for impl in self._pm.hook.policy_requirements.get_hookimpls())

    def _consults_hook(self, customers: Iterable[Customer]) -> bool:
        """Whether `policy_requirements` can answer anything for members of `customers`: some plugin other
        than the core's own implements it, or one of them has requirePhishingResistantAdmins on (the core's
        implementation answers nothing otherwise). Without either the memberships are not even loaded, so
        that logins and viewer queries of everyone else cost what they did (P1, P2)."""
        if any(c.require_phishing_resistant_admins for c in customers):
            return True
        return self._other_policies()

    def _plugin_answers(
        self, user: User, customers: Sequence[Customer], memberships: Sequence[Membership]
    ) -> list[PolicyRequirement]:
        hook = self._pm.hook.policy_requirements
        answers = call_each(
            hook,
            user=user_view(user),
            customers=[customer_view(c) for c in customers],
            memberships=[membership_view(m) for m in memberships],
            methods=self._methods,
        )
        valid = [a for a in answers if isinstance(a, PolicyRequirement)]
        if len(valid) != len(answers):
            log.error("ignored policy_requirements answers that are not PolicyRequirement objects")
        return valid

    async def must_use_two_factors(self, user: User) -> bool:
        """R2: conversion started or completed, any customer enforcing, or a plugin requiring it."""
        if AccountState.of(user).conversion_started:
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

    def installed_method_ids(self) -> list[str]:
        """Ids of the installed methods a user can enroll on their own, sorted: what R5 chooses among, and
        what a customer may allow (a recovery-code method is installed but never enrolled)."""
        return sorted(m.id for m in self._methods.values() if m.enrollable)

    def phishing_resistant_method_ids(self) -> list[str]:
        """The installed, enrollable methods whose capabilities say they resist phishing, sorted."""
        return sorted(m.id for m in self._methods.values() if m.enrollable and capabilities_of(m).phishing_resistant)

    async def enrollable_methods(self, user: User) -> list[SecondFactorMethod]:
        """R5: the installed, enrollable methods that every customer of the user (and every plugin) allows."""
        customers = await self.customers_of(user)
        allowed = self._allowed(customers, await self.plugin_requirements(user, customers))
        return [self._methods[m] for m in sorted(allowed)]

    def _allowed(self, customers: Collection[Customer], requirements: Sequence[PolicyRequirement]) -> set[str]:
        """R5's intersection, for customers and plugin answers already loaded."""
        allowed = set(self.installed_method_ids())
        for customer in customers:
            if customer.allowed_methods is not None:
                allowed &= set(customer.allowed_methods)
        for requirement in requirements:
            if requirement.allowed_methods is not None:
                allowed &= requirement.allowed_methods
        return allowed

    async def method_conflict(
        self,
        customer_id: uuid.UUID,
        *,
        allowed_methods: list[str] | _Unchanged | None = UNCHANGED,
        require_phishing_resistant_admins: bool | None = None,
        newcomer: tuple[User, MembershipLevel] | None = None,
    ) -> MethodConflict | None:
        """S32: whether members would be left with no method to enroll (R5 empty) if the customer allowed
        `allowed_methods` and had `require_phishing_resistant_admins` (a settings change; None: as it is),
        or if `newcomer` joined it at that level (only the newcomer is checked then). None when everyone
        keeps a method.

        Two queries however many members (three with policy plugins, which are asked per member). Called
        in a transaction, it locks the customers involved (FOR UPDATE, in id order, so that two admins
        changing customers with shared members at once neither both pass nor deadlock).
        """
        if newcomer is None:
            members: Subquery | list[uuid.UUID] = Subquery(Membership.filter(customer_id=customer_id).values("user_id"))
        else:
            members = [newcomer[0].id]
        involved = Subquery(Membership.filter(user_id__in=members).values("customer_id"))
        locked = Customer.filter(Q(id__in=involved) | Q(id=customer_id)).select_for_update().order_by("id")
        customers = {str(c.id): c for c in await locked}
        target = customers[str(customer_id)]
        if newcomer is None:
            # This copy only: the caller saves the change.
            if allowed_methods is not UNCHANGED:
                target.allowed_methods = allowed_methods
            if require_phishing_resistant_admins is not None:
                target.require_phishing_resistant_admins = require_phishing_resistant_admins
        if self._consults_hook(customers.values()):
            return await self._conflict_with_plugins(target, customers, members, newcomer)
        combinations = await self._customer_sets(members, target, newcomer)
        await _load_missing(customers, set().union(*combinations))
        return self._conflict(target, customers, combinations)

    async def _customer_sets(
        self, members: Subquery | list[uuid.UUID], target: Customer, newcomer: tuple[User, MembershipLevel] | None
    ) -> Counter[frozenset[str]]:
        """How many members belong to each combination of customers (R5 depends on nothing else)."""
        by_user: dict[str, set[str]] = defaultdict(set)
        for user_id, cid in await Membership.filter(user_id__in=members).values_list("user_id", "customer_id"):
            by_user[str(user_id)].add(str(cid))
        if newcomer is not None:
            by_user[str(newcomer[0].id)].add(str(target.id))
        return Counter(frozenset(ids) for ids in by_user.values())

    def _conflict(
        self, target: Customer, customers: Mapping[str, Customer], combinations: Counter[frozenset[str]]
    ) -> MethodConflict | None:
        stranded = 0
        would_help: set[str] = set()
        for ids, count in combinations.items():
            if not self._allowed([customers[i] for i in ids], []):
                stranded += count
                would_help |= self._allowed([customers[i] for i in ids if i != str(target.id)], [])
        return MethodConflict(stranded, frozenset(would_help)) if stranded else None

    async def _conflict_with_plugins(
        self,
        target: Customer,
        customers: dict[str, Customer],
        members: Subquery | list[uuid.UUID],
        newcomer: tuple[User, MembershipLevel] | None,
    ) -> MethodConflict | None:
        users = [newcomer[0]] if newcomer else await User.filter(id__in=members)
        memberships: dict[str, list[Membership]] = defaultdict(list)
        for row in await Membership.filter(user_id__in=members):
            memberships[_ids(row)[0]].append(row)
        if newcomer is not None:
            joining = Membership(user_id=newcomer[0].id, customer_id=target.id, level=newcomer[1])
            memberships[str(newcomer[0].id)].append(joining)
        await _load_missing(customers, {_ids(m)[1] for rows in memberships.values() for m in rows})
        stranded = 0
        would_help: set[str] = set()
        for user in users:
            rows = memberships[str(user.id)]
            theirs = sorted((customers[_ids(m)[1]] for m in rows), key=lambda c: c.name)
            requirements = self._plugin_answers(user, theirs, rows)
            if not self._allowed(theirs, requirements):
                stranded += 1
                would_help |= self._allowed([c for c in theirs if c is not target], requirements)
        return MethodConflict(stranded, frozenset(would_help)) if stranded else None

    # --- Which factors finish a login or a step-up (PolicyRequirement.login_methods) ---------------------

    async def login_methods(self, user: User, enrolled: Collection[str]) -> frozenset[str] | None:
        """The methods whose factors alone finish this user's login and step-up (R6, R14), when a policy
        narrows them (e.g. requirePhishingResistantAdmins) and the user has an `enrolled` factor of one of
        them; None otherwise: every enrolled method and recovery codes. Never a lockout: a user with no
        such factor (the narrowing is theirs since their last factor was reset, or the method was
        uninstalled) signs in as before; the promotions, joins and removals that would make one refuse."""
        if not self._other_policies() and not any(
            capabilities_of(self._methods[m]).phishing_resistant for m in enrolled if m in self._methods
        ):
            # Only the core's own policy narrows, and to phishing-resistant methods: without such a factor
            # nothing can be narrowed to, and the second step (P3) asks the database nothing for it.
            return None
        narrowed = await self.narrowed_login(user)
        if narrowed is None or not narrowed & set(enrolled):
            return None
        return narrowed

    async def narrowed_login(self, user: User) -> frozenset[str] | None:
        """Every policy's `login_methods` for this user, intersected; None when no policy narrows them."""
        customers = await self.customers_of(user)
        return _narrowed(await self.plugin_requirements(user, customers))

    async def login_gaps(
        self, customer_id: uuid.UUID, *, require_phishing_resistant_admins: bool, at: MembershipLevel
    ) -> int:
        """How many `at`-level members of the customer would have their login narrowed to methods they have
        no factor of, were its setting `require_phishing_resistant_admins` (a settings change: what the
        caller refuses with the count, so that no administrator is left signing in with a phishable code).
        The caller holds the customer's row."""
        members = await User.filter(memberships__customer_id=customer_id, memberships__level=at)
        target = await Customer.get(id=customer_id)
        target.require_phishing_resistant_admins = require_phishing_resistant_admins  # this copy only
        return sum([await self._gap(user, target, None) for user in members])

    async def joining_gap(self, user: User, customer: Customer, level: MembershipLevel) -> bool:
        """Whether `user`, a member of `customer` at `level` (joining, linked into it or promoted), would have
        their login narrowed to methods they have no factor of: refused while a brand-new account, which
        enrolls through the narrowed R5 list, is not."""
        return await self._gap(user, customer, level)

    async def _gap(self, user: User, target: Customer, level: MembershipLevel | None) -> bool:
        rows = [m for m in await Membership.filter(user_id=user.id) if _ids(m)[1] != str(target.id)]
        if level is not None:
            rows.append(Membership(user_id=user.id, customer_id=target.id, level=level))
        else:
            rows += await Membership.filter(user_id=user.id, customer_id=target.id)
        others = [_ids(m)[1] for m in rows if _ids(m)[1] != str(target.id)]
        theirs = [*await Customer.filter(id__in=others), target]
        if not self._consults_hook(theirs):
            return False
        narrowed = _narrowed(self._plugin_answers(user, sorted(theirs, key=lambda c: c.name), rows))
        if narrowed is None:
            return False
        return not await EnrolledFactor.filter(user_id=user.id, method__in=sorted(narrowed)).exists()


def _narrowed(requirements: Iterable[PolicyRequirement]) -> frozenset[str] | None:
    """The intersection of the requirements' `login_methods`; None when none of them narrows."""
    narrowed: frozenset[str] | None = None
    for requirement in requirements:
        if requirement.login_methods is not None:
            narrowed = requirement.login_methods if narrowed is None else narrowed & requirement.login_methods
    return narrowed


async def _load_missing(customers: dict[str, Customer], ids: set[str]) -> None:
    """Customers a member joined after the lock was taken (a concurrent operator action): read, not locked."""
    missing = ids - customers.keys()
    if missing:
        customers.update((str(c.id), c) for c in await Customer.filter(id__in=list(missing)))


def _ids(membership: Membership) -> tuple[str, str]:
    """(user id, customer id) of a membership row, without loading either."""
    # Tortoise sets the foreign-key columns as attributes; its types do not declare them.
    return str(membership.user_id), str(membership.customer_id)  # type: ignore[attr-defined]
