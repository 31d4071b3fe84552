"""The pieces behind the kit's fixtures, for suites that arrange their own (gql_server's own tests do):
settings for a test, the app with its lifespan running, an ASGI client, customer and user factories."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher, Type

from gql_server.auth.operator import Operator
from gql_server.db import migrate
from gql_server.enums import MembershipLevel
from gql_server.models import Customer, User
from gql_server.settings import Settings

from .client import GraphQLClient
from .flows import PASSWORD

if TYPE_CHECKING:
    from starlette.applications import Starlette

# A fixed key: tests are reproducible and no ./var/secret.key is written.
SECRET = "test-secret-key-that-is-long-enough-0123456789"
# The cheapest argon2id (8 KiB, one pass): the same library, hash format and code paths as S1's parameters
# (verification reads the cost from the stored hash, rehash-on-login compares it), for well under a millisecond.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
# The address tests' requests come from (TEST-NET-3), and the service's public address in links.
CLIENT_ADDRESS = ("203.0.113.7", 50000)
PUBLIC_URL = "http://testserver"

CustomerFactory = Callable[..., Awaitable[Customer]]
UserFactory = Callable[..., Awaitable[User]]


def migrated_sqlite(path: Path) -> str:
    """Migrate a new SQLite database at `path` with the real migrations; its URL."""
    asyncio.run(migrate(f"sqlite://{path}"))
    return f"sqlite://{path}"


def sqlite_copy(template: Path, path: Path) -> str:
    """A copy of a migrated SQLite database at `path` (much faster than migrating again); its URL."""
    shutil.copy(template, path)
    return f"sqlite://{path}"


def settings_for_test(database_url: str, smtp_url: str, overrides: dict[str, Any] | None = None) -> Settings:
    """Settings for a test: its own database, a fixed secret, real SMTP, no .env file, per-address limits high
    enough for the many logins of one test, and no pause before a busy refusal (tests of those set their own)."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "smtp_url": smtp_url,
        "secret_key": SECRET,
        "public_url": PUBLIC_URL,
        "rate_limit_login": "10000/minute",
        "rate_limit_verify_second_factor": "10000/minute",
        "rate_limit_send_login_code": "10000/minute",
        "rate_limit_request_conversion": "10000/minute",
        "rate_limit_invite_user": "10000/minute",
        "rate_limit_resend_invitation": "10000/minute",
        "rate_limit_send_password_reset": "10000/minute",
        # A busy refusal is answered at once (its pause is the tests' own, tests/test_shedding.py).
        "password_busy_pause_seconds": 0,
        **(overrides or {}),
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def running_app(settings: Settings, password_hasher: PasswordHasher | None = None) -> AsyncIterator[Starlette]:
    """The real ASGI app with its lifespan running (Tortoise connected, plugins loaded) for the block.
    `password_hasher` None is S1's argon2id parameters."""
    from gql_server.app import create_app

    application = create_app(settings, password_hasher=password_hasher)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def asgi_client(app: Starlette) -> AsyncIterator[GraphQLClient]:
    """A GraphQL client of `app` over ASGI (no server, no sockets), keeping cookies like a browser."""
    import httpx

    transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as http:
        yield GraphQLClient(http)


def customer_factory(operator: Operator) -> CustomerFactory:
    """`await make("Acme Oy", enforce=True)`: a customer, made as the operator CLI makes one, optionally
    already enforcing two-factor authentication."""

    async def make(name: str = "Acme Oy", *, enforce: bool = False) -> Customer:
        customer = await operator.create_customer(name)
        if enforce:
            customer.enforce_two_factor = True
            await customer.save()
        return customer

    return make


def user_factory(operator: Operator) -> UserFactory:
    """`await make(customer, "anna@example.com")`: a password user who is a member of `customer` at
    `level`, made as the operator CLI makes one."""

    async def make(
        customer: Customer,
        email: str = "user@example.com",
        password: str = PASSWORD,
        level: MembershipLevel = MembershipLevel.COMPANY,
    ) -> User:
        created = await operator.create_user(customer_id=str(customer.id), email=email, level=level, password=password)
        return created.user

    return make
