"""Forward auth (issue 18): whether a request's session passes a reverse proxy's check, and whom it names.

A reverse proxy in front of the SaaS's other services (nginx `auth_request`, Traefik `ForwardAuth`, Caddy
`forward_auth`) asks `/auth/check` before each request; `gql_server/forward_auth_route.py` turns the
outcome decided here into a status and headers. What counts as authorised is what the GraphQL API allows:

- a live session (S16-S18), found by the caller with the same lookup as every GraphQL request;
- that satisfies the policy: a restricted one-factor session (R10) may only convert, so it passes nothing
  (`access.acting_user`, the one definition);
- and, per route, what the proxy's configuration asks: two-factor assurance, membership of a customer,
  and a level in it (CUSTOMER-level members administer it, R1). An invited account that has not accepted
  is no member (R19: it is in `PendingMembership`, never read here).

A requirement the check does not know, or cannot read, is refused rather than ignored: ignoring a
misspelled `asurance=TWO_FACTOR` would open the route to every signed-in user.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from gql_server.auth.access import acting_user
from gql_server.enums import Assurance, MembershipLevel
from gql_server.models import Membership, Session
from gql_server.policy import Policy

# The query parameters a proxy's configuration may set, each at most once.
ASSURANCE = "assurance"
CUSTOMER = "customer"
LEVEL = "level"

# Stronger is higher: a requirement is met by its own value or any above it.
_ASSURANCE_RANK = {Assurance.PASSWORD: 0, Assurance.TWO_FACTOR: 1}
_LEVEL_RANK = {MembershipLevel.COMPANY: 0, MembershipLevel.CUSTOMER: 1}

E = TypeVar("E", bound=StrEnum)


class Verdict(StrEnum):
    """The check's answer; every value but AUTHORIZED says why the request is refused."""

    AUTHORIZED = "authorized"
    # No token, or one of no live session: unknown, ended, expired (idle or absolute).
    UNAUTHENTICATED = "unauthenticated"
    # R10: a one-factor session of a user who must convert first.
    CONVERSION_REQUIRED = "conversion_required"
    # The route asks for two factors; the session was made with a password alone.
    TWO_FACTOR_REQUIRED = "two_factor_required"
    # The route asks for a customer the user is no member of.
    NOT_A_MEMBER = "not_a_member"
    # The user is a member, at a lower level than the route asks.
    LEVEL_TOO_LOW = "level_too_low"


@dataclass(frozen=True)
class Requirements:
    """What a route asks of a session beyond being usable: the least assurance, and optionally membership of
    `customer_id` at `level` or above (None: any level)."""

    assurance: Assurance = Assurance.PASSWORD
    customer_id: uuid.UUID | None = None
    level: MembershipLevel | None = None


@dataclass(frozen=True)
class InvalidRequirement:
    """A requirement the proxy's configuration got wrong: the parameter, and what is wrong with it."""

    parameter: str
    message: str


@dataclass(frozen=True)
class Identity:
    """Who an authorised session belongs to, as the proxy passes it on: memberships sorted by customer id."""

    user_id: uuid.UUID
    email: str
    assurance: Assurance
    memberships: tuple[tuple[uuid.UUID, MembershipLevel], ...]


@dataclass(frozen=True)
class CheckOutcome:
    """The verdict, and for AUTHORIZED the identity to pass on."""

    verdict: Verdict
    identity: Identity | None = None


def parse_requirements(parameters: Iterable[tuple[str, str]]) -> Requirements | InvalidRequirement:
    """A route's requirements from the check's query parameters (name, value pairs as sent)."""
    given: dict[str, str] = {}
    for name, value in parameters:
        if name not in (ASSURANCE, CUSTOMER, LEVEL):
            return InvalidRequirement(name, f"unknown parameter; the check reads {ASSURANCE}, {CUSTOMER} and {LEVEL}")
        if name in given:
            return InvalidRequirement(name, "given more than once")
        given[name] = value
    assurance = _member(Assurance, given.get(ASSURANCE, Assurance.PASSWORD.value))
    if assurance is None:
        return InvalidRequirement(ASSURANCE, _one_of(Assurance))
    customer_id = _customer_id(given[CUSTOMER]) if CUSTOMER in given else None
    if CUSTOMER in given and customer_id is None:
        return InvalidRequirement(CUSTOMER, "must be a customer id (a UUID)")
    level = _member(MembershipLevel, given[LEVEL]) if LEVEL in given else None
    if LEVEL in given and level is None:
        return InvalidRequirement(LEVEL, _one_of(MembershipLevel))
    if level is not None and customer_id is None:
        return InvalidRequirement(LEVEL, f"a level is in a customer: give {CUSTOMER} too")
    return Requirements(assurance=assurance, customer_id=customer_id, level=level)


async def check(session: Session | None, policy: Policy, required: Requirements) -> CheckOutcome:
    """Whether `session` (the caller's live session, None when there is none) meets `required`.

    One query for a two-factor session (its memberships), two for a password session (R10's question
    first), after the session's own lookup.
    """
    if session is None:
        return CheckOutcome(Verdict.UNAUTHENTICATED)
    user = await acting_user(session, policy)
    if user is None:
        return CheckOutcome(Verdict.CONVERSION_REQUIRED)
    if _ASSURANCE_RANK[session.assurance] < _ASSURANCE_RANK[required.assurance]:
        return CheckOutcome(Verdict.TWO_FACTOR_REQUIRED)
    rows = await Membership.filter(user_id=user.id).values_list("customer_id", "level")
    memberships = tuple(sorted(((_uuid(c), MembershipLevel(level)) for c, level in rows), key=lambda m: str(m[0])))
    if required.customer_id is not None:
        level = dict(memberships).get(required.customer_id)
        if level is None:
            return CheckOutcome(Verdict.NOT_A_MEMBER)
        if required.level is not None and _LEVEL_RANK[level] < _LEVEL_RANK[required.level]:
            return CheckOutcome(Verdict.LEVEL_TOO_LOW)
    identity = Identity(user_id=user.id, email=user.email, assurance=session.assurance, memberships=memberships)
    return CheckOutcome(Verdict.AUTHORIZED, identity)


def _member(enum: type[E], value: str) -> E | None:
    # Exactly as the GraphQL enums spell them: a proxy's configuration is written once and should be exact.
    try:
        return enum(value)
    except ValueError:
        return None


def _one_of(enum: type[StrEnum]) -> str:
    return "must be one of " + ", ".join(member.value for member in enum)


def _customer_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _uuid(value: object) -> uuid.UUID:
    # PostgreSQL's driver hands back UUIDs, SQLite's text.
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
