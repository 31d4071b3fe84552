"""Fixtures: a migrated database per test (SQLite always, PostgreSQL too), the app, an HTTP client.

Every test that takes `client` runs once per backend. PostgreSQL comes from
GQL_SERVER_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/gql_server_test); when it
cannot be reached the PostgreSQL half is skipped with the reason, except under CI=true where
that is a failure, so CI can never pass without having run it. Redis tests flush
GQL_SERVER_TEST_REDIS (default redis://127.0.0.1:6379/15).

Password hashing: `--password-hashing=cheap` (make test, make test-fast) gives the app an argon2id with
the lowest cost there is, except in the tests marked `real_hash` (S1's parameters, S3's equal cost and
time, P4's hashing queue), which always hash with S1's parameters. The default, `real` (a bare `pytest`),
hashes with them everywhere. Markers added here, for `-m`: `postgres` (the PostgreSQL half of a test),
`browser` (tests/web).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher, Type
from hypothesis import settings as hypothesis_settings
from starlette.applications import Starlette

from gql_server.app import create_app
from gql_server.auth.operator import Operator
from gql_server.db import migrate
from gql_server.enums import Assurance, ConversionState, LoginMethod, MembershipLevel
from gql_server.models import Customer, User
from gql_server.services import Services
from gql_server.sessions import create_session
from gql_server.settings import Settings

from .flows import PASSWORD
from .graphql import GraphQLClient
from .local_services import OwnRedis
from .mailbox import Mailbox, running_smtp_server

# pytest-xdist's worker (make test and make test-fast run two): each has a PostgreSQL database and a Redis database of its
# own, as a second checkout testing at the same time would, so that no worker truncates or flushes another's.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
PG_URL = os.environ.get("GQL_SERVER_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/gql_server_test")
# The Redis database the tests may flush; another checkout testing at the same time sets its own.
REDIS_TEST_URL = os.environ.get("GQL_SERVER_TEST_REDIS", "redis://127.0.0.1:6379/15")
if XDIST_WORKER:
    PG_URL = f"{PG_URL}_{XDIST_WORKER}"
    _redis_base, _, _redis_db = REDIS_TEST_URL.rpartition("/")
    # gw0 keeps the database; gw1 takes the one below it (15, 14, ...).
    REDIS_TEST_URL = f"{_redis_base}/{int(_redis_db) - int(XDIST_WORKER.removeprefix('gw'))}"
SECRET = "test-secret-key-that-is-long-enough-0123456789"
MIGRATIONS_TABLE = "tortoise_migrations"

# Hypothesis profiles. `ci` (the default here, so `make test` and CI use it): the same examples on every
# run and every machine (derandomize), so a red build is the code's doing and reproduces anywhere; the
# number of examples is each test's own (200 per mutation in tests/hostile). `explore` (`make
# test-explore`): fresh randomness on every run, to find what the fixed examples never try.
hypothesis_settings.register_profile(
    "ci", hypothesis_settings.get_profile("ci"), derandomize=True, database=None, print_blob=True
)
hypothesis_settings.register_profile("explore", hypothesis_settings.get_profile("ci"), derandomize=False)
# `--hypothesis-profile NAME` (pytest_configure, after this module is imported) overrides it.
hypothesis_settings.load_profile("ci")


# The cheapest argon2id (8 KiB, one pass): the same library, hash format and code paths as S1's parameters
# (verification reads the cost from the stored hash, rehash-on-login compares it), for well under a millisecond.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
WEB_TESTS = Path(__file__).resolve().parent / "web"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--password-hashing",
        choices=("real", "cheap"),
        default="real",
        help="cheap: a minimal-cost argon2id for every test not marked real_hash (make test-fast)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what `-m` selects on: the PostgreSQL half of every test, and the browser tests."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec is not None else ()
        if "postgres_ready" in getattr(item, "fixturenames", ()) or any(p == "postgres" for p in params):
            item.add_marker(pytest.mark.postgres)
        if item.path.is_relative_to(WEB_TESTS):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def password_hasher(request: pytest.FixtureRequest) -> PasswordHasher | None:
    """What the app hashes with: None is S1's argon2id parameters (see the module docstring)."""
    if request.config.getoption("--password-hashing") == "real" or request.node.get_closest_marker("real_hash"):
        return None
    return CHEAP_HASHER


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated with the real migrations; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    asyncio.run(migrate(f"sqlite://{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_ready() -> str:
    """A freshly migrated PostgreSQL test database (schema rebuilt once per run)."""

    async def rebuild() -> None:
        await _create_database_if_missing(PG_URL)
        conn = await asyncpg.connect(PG_URL.replace("postgres://", "postgresql://", 1))
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()
        await migrate(PG_URL)

    try:
        asyncio.run(rebuild())
    except (OSError, asyncpg.PostgresError) as exc:
        reason = f"PostgreSQL not reachable at {PG_URL}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the PostgreSQL tests)")
        pytest.skip(reason)
    return PG_URL


async def _create_database_if_missing(url: str) -> None:
    """`make test` needs no manual createdb: the test database is created on first use."""
    dsn = url.replace("postgres://", "postgresql://", 1)
    base, _, name = dsn.rpartition("/")
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(f"{base}/postgres")
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
    else:
        await conn.close()


async def _truncate_postgres(url: str) -> None:
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> $1",
            MIGRATIONS_TABLE,
        )
        names = ", ".join(f'"{row["tablename"]}"' for row in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database for one test."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite://{path}"
    else:
        url = request.getfixturevalue("postgres_ready")
        asyncio.run(_truncate_postgres(url))
        yield url


@pytest.fixture(scope="session")
def smtp_session() -> Iterator[Mailbox]:
    """One real SMTP server (aiosmtpd) for the whole run; the app mails through it."""
    with running_smtp_server() as mailbox:
        yield mailbox


@pytest.fixture
def mailbox(smtp_session: Mailbox) -> Mailbox:
    """The mail the service sent during this test, as the user would read it."""
    smtp_session.clear()
    return smtp_session


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its tests."""
    return {}


@pytest.fixture
def settings(database_url: str, settings_overrides: dict[str, Any], mailbox: Mailbox) -> Settings:
    """Settings for a test: its own database, a fixed secret, real SMTP, no .env file."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "smtp_url": mailbox.url,
        "secret_key": SECRET,
        "public_url": "http://testserver",
        # Per-address limits would stop the many logins of one test; tests of the limits set their own.
        "rate_limit_login": "10000/minute",
        "rate_limit_verify_second_factor": "10000/minute",
        "rate_limit_send_login_code": "10000/minute",
        "rate_limit_request_conversion": "10000/minute",
        "rate_limit_invite_user": "10000/minute",
        "rate_limit_resend_invitation": "10000/minute",
        "rate_limit_send_password_reset": "10000/minute",
        **settings_overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def app(settings: Settings, password_hasher: PasswordHasher | None) -> AsyncIterator[Starlette]:
    """The real ASGI app with its lifespan running (Tortoise connected)."""
    application = create_app(settings, password_hasher=password_hasher)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def services(app: Starlette) -> Services:
    """The app's own service graph."""
    services: Services = app.state.services
    return services


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[GraphQLClient]:
    """A frontend's view of the service: HTTP to /graphql, cookies kept like a browser."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield GraphQLClient(http)


@pytest.fixture
def operator(services: Services) -> Operator:
    """Operator actions, as the CLI runs them."""
    return services.operator


@pytest.fixture
def make_customer(operator: Operator) -> Callable[..., Awaitable[Customer]]:
    """Factory: a customer, optionally already enforcing two-factor authentication."""

    async def make(name: str = "Acme Oy", *, enforce: bool = False) -> Customer:
        customer = await operator.create_customer(name)
        if enforce:
            customer.enforce_two_factor = True
            await customer.save()
        return customer

    return make


@pytest.fixture
def make_user(operator: Operator) -> Callable[..., Awaitable[User]]:
    """Factory: a password user who is a member of `customer` at `level`."""

    async def make(
        customer: Customer,
        email: str = "user@example.com",
        password: str = "correct horse battery",
        level: MembershipLevel = MembershipLevel.COMPANY,
    ) -> User:
        created = await operator.create_user(customer_id=str(customer.id), email=email, level=level, password=password)
        return created.user

    return make


@pytest.fixture
def converted_session(services: Services) -> Callable[[User], Awaitable[str]]:
    """Factory: mark a user as converted and open a TWO_FACTOR session, returning its token.

    Stands for a user who finished the conversion flow; the flow itself is tested on its own.
    """

    async def make(user: User) -> str:
        await User.filter(id=user.id).update(login_method=LoginMethod.TWO_FACTOR, conversion=ConversionState.COMPLETED)
        user = await User.get(id=user.id)
        new = await create_session(user, Assurance.TWO_FACTOR, services.sessions)
        return new.token

    return make


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    """A redis-server of the test's own (started; stopped after the test), for outage tests."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    redis = OwnRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@pytest.fixture
async def acme(make_customer: Callable[..., Awaitable[Customer]]) -> Customer:
    """The usual customer of a test: Acme Oy, enforcing two factors (a test module may define its own)."""
    return await make_customer("Acme Oy", enforce=True)


@pytest.fixture
async def anna(acme: Customer, make_user: Callable[..., Awaitable[User]]) -> User:
    """The usual user: anna@example.com, a company-level member of `acme` with the flows' PASSWORD."""
    return await make_user(acme, "anna@example.com", PASSWORD)
