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
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from argon2 import PasswordHasher
from hypothesis import settings as hypothesis_settings
from starlette.applications import Starlette

from gql_server.auth.operator import Operator
from gql_server.db import migrate
from gql_server.enums import Assurance, ConversionState, LoginMethod
from gql_server.models import Customer, User
from gql_server.services import Services
from gql_server.sessions import create_session
from gql_server.settings import Settings
from gql_server.testing import harness
from gql_server.testing.harness import CHEAP_HASHER, CustomerFactory, UserFactory, sqlite_copy

from .flows import PASSWORD
from .graphql import GraphQLClient
from .local_services import OwnRedis
from .mailbox import Mailbox

# The kit's fixed secret key, which tests import from here.
SECRET = harness.SECRET
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
MIGRATIONS_TABLE = "tortoise_migrations"
# The SMS package is installed beside the core here, as an operator would install it; without a gateway it
# would not be offered at all (its readiness check, `problem()`). The tests that use it as an offered method
# get a configured webhook, one that refuses connections (port 9: nothing listens), so that any text actually
# sent fails as a gateway that is down does. test_sms_plugin.py runs its own gateway, and the tests of an
# unconfigured SMS method unset this. Subprocesses (the CLI, served workers) inherit it.
os.environ.setdefault("GQL_SERVER_SMS_WEBHOOK_URL", "http://127.0.0.1:9/sms")

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


# The app, its client, the mailbox and the factories are the installed test kit's (gql_server.testing, the
# fixtures named gql_*, which plugin authors use), under the names these tests have always used. The kit is
# told this suite's database (SQLite and PostgreSQL), settings and password hashing through its own
# fixtures, overridden here.


@pytest.fixture
def gql_database_url(database_url: str) -> str:
    """The kit's app runs on the database of this half of the test (SQLite or PostgreSQL)."""
    return database_url


@pytest.fixture
def gql_settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    """A test module's `settings_overrides` reach the kit's settings."""
    return settings_overrides


@pytest.fixture
def gql_password_hasher(password_hasher: PasswordHasher | None) -> PasswordHasher | None:
    """The kit's app hashes as `--password-hashing` and the `real_hash` marker say."""
    return password_hasher


@pytest.fixture(scope="session")
def sqlite_template(gql_sqlite_template: Path) -> Path:
    """One SQLite file migrated with the real migrations; each test gets a copy."""
    return gql_sqlite_template


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


# Empties every table but the migrations' in one round trip: DELETE with the foreign keys' triggers off
# (session_replication_role, a superuser's setting) and the sequences restarted, as TRUNCATE ... RESTART IDENTITY
# CASCADE would leave them. On the few rows a test writes it takes about 6 ms where TRUNCATE, which makes new
# files for each of the 15 tables, takes about 25 ms; that is 20 s of `make test` on the PostgreSQL half. The
# migrations' table (MIGRATIONS_TABLE) and its sequence are kept.
_EMPTY_POSTGRES = """
DO $$
DECLARE r record;
BEGIN
    SET LOCAL session_replication_role = replica;
    FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'tortoise_migrations' LOOP
        EXECUTE format('DELETE FROM %I', r.tablename);
    END LOOP;
    FOR r IN SELECT sequencename FROM pg_sequences
             WHERE schemaname = 'public' AND sequencename <> 'tortoise_migrations_id_seq' LOOP
        EXECUTE format('ALTER SEQUENCE %I RESTART', r.sequencename);
    END LOOP;
END $$;
"""


async def _truncate_postgres(url: str) -> None:
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        try:
            await conn.execute(_EMPTY_POSTGRES)
        except asyncpg.InsufficientPrivilegeError:
            # Not a superuser: TRUNCATE needs no such privilege.
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
        yield sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path / "test.sqlite3")
    else:
        url = request.getfixturevalue("postgres_ready")
        asyncio.run(_truncate_postgres(url))
        yield url


@pytest.fixture(scope="session")
def smtp_session(gql_smtp_session: Mailbox) -> Mailbox:
    """One real SMTP server (aiosmtpd) for the whole run; the app mails through it."""
    return gql_smtp_session


@pytest.fixture
def mailbox(gql_mailbox: Mailbox) -> Mailbox:
    """The mail the service sent during this test, as the user would read it."""
    return gql_mailbox


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its tests."""
    return {}


@pytest.fixture
def settings(gql_settings: Settings) -> Settings:
    """Settings for a test: its own database, a fixed secret, real SMTP, no .env file."""
    return gql_settings


@pytest.fixture
def app(gql_app: Starlette) -> Starlette:
    """The real ASGI app with its lifespan running (Tortoise connected)."""
    return gql_app


@pytest.fixture
def services(gql_services: Services) -> Services:
    """The app's own service graph."""
    return gql_services


@pytest.fixture
def client(gql_client: GraphQLClient) -> GraphQLClient:
    """A frontend's view of the service: HTTP to /graphql, cookies kept like a browser."""
    return gql_client


@pytest.fixture
def operator(services: Services) -> Operator:
    """Operator actions, as the CLI runs them."""
    return services.operator


@pytest.fixture
def make_customer(gql_make_customer: CustomerFactory) -> CustomerFactory:
    """Factory: a customer, optionally already enforcing two-factor authentication."""
    return gql_make_customer


@pytest.fixture
def make_user(gql_make_user: UserFactory) -> UserFactory:
    """Factory: a password user who is a member of `customer` at `level`."""
    return gql_make_user


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
