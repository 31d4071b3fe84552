"""The world the examples aim at: its accounts and live tokens, built through the real flows, how a request
reaches the app, and the snapshot of every table that "changes nothing" is checked against."""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from hypothesis import assume, note
from hypothesis.control import currently_in_test_context
from starlette.applications import Starlette

from gql_server.clock import utcnow
from gql_server.emails import normalize_email
from gql_server.enums import Assurance, MembershipLevel
from gql_server.models import (
    Customer,
    DevelopmentMailbox,
    EnrolledFactor,
    MailOutbox,
    Membership,
    OneTimeCode,
    RecoveryCode,
    RememberedDevice,
    Session,
    Token,
    User,
)
from gql_server.services import Services
from gql_server.sessions import create_session
from gql_server.tokens import hash_token, new_token

from ..flows import PASSWORD, convert, request_invitation, totp_code
from ..graphql import GraphQLClient
from ..mailbox import Mailbox, invitation_token_in
from .strategies import ADMIN, FIXTURE_EMAILS, NEW, OTHER, PENDING, Live, Mangled, mangle

# Every request comes from an address of its own (TEST-NET and documentation ranges, IPv4 and IPv6).
_addresses = itertools.count(1)


def _next_address() -> str:
    n = next(_addresses)
    if n % 2:
        return f"198.18.{(n >> 8) & 255}.{n & 255}"
    return f"2001:db8::{n:x}"


async def post(app: Any, body: str | bytes, headers: dict[str, Any] | None = None) -> httpx.Response:
    """POST a raw JSON body to /graphql from a fresh client address. An exception in the app is the
    500 a client would get (not raised into the test), so that the assertions say what was answered."""
    transport = httpx.ASGITransport(app=app, client=(_next_address(), 50000), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.post(
            "/graphql", content=body, headers={"content-type": "application/json", **(headers or {})}
        )


@dataclass(repr=False)
class World:
    """The accounts and live tokens the examples aim at, and the state they must leave alone."""

    app: Any
    services: Services
    mailbox: Mailbox
    postgres: bool
    acme_id: str
    other_id: str
    admin_id: str
    admin_factor_id: str
    pending_id: str
    other_user_id: str
    admin_device_id: str
    totp_secrets: dict[str, str]
    live: dict[str, str]
    before: dict[str, Any]

    def __repr__(self) -> str:
        return "World(...)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # How Hypothesis prints a failing example's arguments; the whole world would be pages long.
        printer.text("World(...)")

    def token(self, value: str | Live | Mangled, *, header: bool = False) -> str:
        """A generated token argument, with the world's tokens filled in."""
        if isinstance(value, Live):
            return self.live[value.name]
        if isinstance(value, Mangled):
            damaged = mangle(self.live[value.name], value.how, value.at, value.char)
            # Never the token itself; in the Authorization header surrounding spaces do not count.
            assume((damaged.strip() if header else damaged) != self.live[value.name])
            return damaged
        return value

    async def post(self, body: str | bytes, headers: dict[str, Any] | None = None) -> httpx.Response:
        """POST a raw JSON body to /graphql."""
        return await post(self.app, body, headers)

    async def send(self, query: str, variables: dict[str, Any], *, bearer: str | None = None) -> httpx.Response:
        """A GraphQL request as JSON; `json.dumps` also carries what httpx's `json=` would refuse."""
        headers = {"authorization": f"Bearer {bearer}".encode()} if bearer else {}
        # U+0000 is refused at the JSON boundary with a 400 (tests at the end); the properties reach
        # the services with every other character.
        variables = _without_nul(variables)
        if currently_in_test_context():
            note(f"variables: {variables!r}")
        return await self.post(json.dumps({"query": query, "variables": variables}), headers)

    async def unchanged(self) -> None:
        """Every table but the audit trail, and the mail sent, are as the world was built."""
        after = await snapshot(self.mailbox, self.postgres)
        for table, rows in self.before.items():
            assert after[table] == rows, f"{table} changed: {after[table]!r} != {rows!r}"


# Columns a request may touch without changing anything: a session's last use is written at most once
# a minute (sessions.TOUCH_INTERVAL), whenever the session is used.
IGNORED_COLUMNS = {"session": frozenset({"last_seen_at"})}
TABLES = (
    Customer,
    User,
    Membership,
    Session,
    Token,
    EnrolledFactor,
    OneTimeCode,
    RecoveryCode,
    RememberedDevice,
    DevelopmentMailbox,
    MailOutbox,
)


def _snapshot_query(postgres: bool) -> str:
    """One query for every row of every table but the audit trail, each row as one JSON array."""
    parts = []
    for model in TABLES:
        table = model._meta.db_table
        columns = [c for c in model._meta.fields_db_projection.values() if c not in IGNORED_COLUMNS.get(table, ())]
        row = ", ".join(f'"{c}"' for c in columns)
        as_json = f"json_build_array({row})::text" if postgres else f"json_array({row})"
        # Table and column names come from the models' metadata, not from any input.
        parts.append(f"SELECT '{table}' AS t, {as_json} AS r FROM \"{table}\"")  # noqa: S608
    return " UNION ALL ".join(parts) + " ORDER BY t, r"


async def snapshot(mailbox: Mailbox, postgres: bool) -> dict[str, Any]:
    """Every table's rows (one round trip: this runs after every example), and how many emails were sent."""
    _, rows = await User._meta.db.execute_query(_snapshot_query(postgres))
    state: dict[str, Any] = {model._meta.db_table: [] for model in TABLES}
    for row in rows:
        state[row["t"]].append(row["r"])
    state["mail"] = len(mailbox.messages)
    return state


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\x01")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def not_an_alias(email: str) -> None:
    """Skip addresses that normalise onto a world account (" KIM.ADMIN@acme.example" is Kim): a wrong
    password for them counts a failed attempt on that account, by design."""
    assume(normalize_email(email) not in FIXTURE_EMAILS)


# argon2 is slow on purpose; the world's password users share one hash of PASSWORD, made once.
_password_hash: dict[str, str] = {}


async def _password_user(services: Services, customer: Customer, email: str, level: MembershipLevel) -> User:
    """What `make_user` makes, without hashing the same password again for every test."""
    if not _password_hash:
        _password_hash[PASSWORD] = await services.passwords.hash(PASSWORD)
    user = await User.create(email=email, password_hash=_password_hash[PASSWORD])
    await Membership.create(user=user, customer=customer, level=level)
    return user


async def build_world(
    app: Starlette,
    services: Services,
    client: GraphQLClient,
    mailbox: Mailbox,
    postgres: bool,
    make_customer: Callable[..., Awaitable[Customer]],
) -> World:
    """The accounts and live tokens of the package docstring (tests/hostile/__init__.py), built through the real flows where they
    matter (conversion, invitations, enrollments) and directly where they do not (users, sessions)."""
    acme = await make_customer("Acme Oy", enforce=True)
    other = await make_customer("Other Oy")

    admin = await _password_user(services, acme, ADMIN, MembershipLevel.CUSTOMER)
    converted = await convert(client, mailbox, ADMIN)
    login_challenge = await services.second_factor.challenge_for(await User.get(id=admin.id))
    # R15: Kim is adding a second authenticator app (no mail: an app shows its codes itself).
    adding = (await client.run("AddFactor", bearer=converted.token, method="totp"))["addFactor"]
    assert adding["__typename"] == "EnrollmentStarted", adding

    pending = await _password_user(services, acme, PENDING, MembershipLevel.COMPANY)
    invitation = await request_invitation(client, mailbox, PENDING)
    begun = (await client.run("BeginEnrollment", invitation=invitation, method="totp"))["beginEnrollment"]
    assert begun["__typename"] == "EnrollmentStarted", begun
    pending_session = await create_session(await User.get(id=pending.id), Assurance.PASSWORD, services.sessions)

    await services.operator.create_user(
        customer_id=str(acme.id), email=NEW, level=MembershipLevel.COMPANY, password=None
    )
    new_invitation = invitation_token_in(await mailbox.next_to(NEW, "invitation"))
    new_begun = (await client.run("BeginEnrollment", invitation=new_invitation, method="totp"))["beginEnrollment"]
    assert new_begun["__typename"] == "EnrollmentStarted", new_begun

    other_user = await _password_user(services, other, OTHER, MembershipLevel.COMPANY)
    other_session = await create_session(other_user, Assurance.PASSWORD, services.sessions)

    # What the examples' clean-up restores: nothing has been counted against these yet.
    kim = await User.get(id=admin.id)
    assert (kim.failed_code_attempts, kim.code_lockouts, kim.code_locked_until) == (0, 0, None)
    # A browser Kim had remembered (R18), for forgetDevice to aim at from other sessions.
    now = utcnow()
    kim_device = await RememberedDevice.create(
        user=kim,
        token_hash=hash_token(new_token()),
        credentials_fingerprint=await services.devices.fingerprint(kim),
        created_at=now,
        expires_at=now + timedelta(days=1),
    )

    return World(
        app=app,
        services=services,
        mailbox=mailbox,
        postgres=postgres,
        acme_id=str(acme.id),
        other_id=str(other.id),
        admin_id=str(admin.id),
        admin_factor_id=str((await EnrolledFactor.get(user_id=admin.id)).id),
        pending_id=str(pending.id),
        other_user_id=str(other_user.id),
        admin_device_id=str(kim_device.id),
        # Kim's factor, and the secrets of the three enrollments under way.
        totp_secrets={
            "challenge": converted.secret or "",
            "added_enrollment": adding["secret"],
            "enrollment": begun["secret"],
            "new_enrollment": new_begun["secret"],
        },
        live={
            "admin_session": converted.token,
            "challenge": login_challenge.challenge.token,
            "added_enrollment": adding["enrollment"],
            "invitation": invitation,
            "enrollment": begun["enrollment"],
            "new_invitation": new_invitation,
            "new_enrollment": new_begun["enrollment"],
            "pending_session": pending_session.token,
            "other_session": other_session.token,
        },
        before=await snapshot(mailbox, postgres),
    )


SESSIONS = ("admin_session", "pending_session", "other_session")
ALL_TOKENS = (
    *SESSIONS,
    "challenge",
    "added_enrollment",
    "invitation",
    "enrollment",
    "new_invitation",
    "new_enrollment",
)


def not_a_right_code(world: World, code: str) -> None:
    """Skip the one-in-a-million code that is right now for a world's TOTP secret (as the plugin reads it)."""
    typed_code = "".join(code.split())
    for secret in world.totp_secrets.values():
        assume(typed_code not in {totp_code(secret, step) for step in (-1, 0, 1)})


async def reset_code_attempts(world: World, token_name: str) -> None:
    """Put back what a wrong code counts by design (S5, S6, S41), so the next example reaches the check too."""
    await Token.filter(token_hash=hash_token(world.live[token_name])).update(attempts=0)
    await User.filter(id=world.admin_id).update(
        failed_code_attempts=0, code_lockouts=0, code_locked_until=None, code_failure_streak=0
    )
