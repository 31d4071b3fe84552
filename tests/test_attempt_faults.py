"""S35 under real faults: a `gql-server serve` worker SIGKILLed in the middle of a password check and of a
plugin's verification, the shutdown deadline cutting a verification off, and a PostgreSQL cluster of the
test's own stopped in the middle of a check. None of them leaves an account locked for good or refuses a
correct secret as wrong; what they leave behind holds its place for two minutes at most (the test moves
the reservation times back instead of waiting).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from tortoise import Tortoise

from gql_server.app import create_app
from gql_server.clock import utcnow
from gql_server.crypto import Keyring
from gql_server.db import migrate, tortoise_config
from gql_server.enums import ConversionState, LoginMethod, MembershipLevel
from gql_server.limits import RESERVATION_LIFETIME
from gql_server.models import AuditEvent, Customer, EnrolledFactor, Membership, User
from gql_server.passwords import PasswordService
from gql_server.settings import Settings

from .conftest import PG_URL
from .flows import PASSWORD, verify
from .graphql import GraphQLClient
from .local_services import OwnPostgres, fresh_postgres_database
from .test_attempts import slow_hash, until
from .test_serve import Served, _base_env

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# The key the served process runs with (tests/test_serve.py), so that this test can write a factor's state.
SERVE_SECRET = _base_env(Path())["SECRET_KEY"]
WRONG_ROUNDS = {"anna@example.com": ("failed_password_attempts", 2), "bea@example.com": ("failed_code_attempts", 9)}
# Long enough to be killed in the middle of (about two minutes), short enough to end on its own.
STUCK_PASSES = 5000


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database for the served process: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/faults.sqlite3"
    request.getfixturevalue("postgres_ready")
    # Named after the suite's database, so that two checkouts testing at once do not collide.
    url = PG_URL + "_faults"
    asyncio.run(fresh_postgres_database(url))
    return url


@asynccontextmanager
async def orm(url: str) -> AsyncIterator[None]:
    """Tortoise on `url`, for the test's own reads and writes while no app of the test runs."""
    await Tortoise.init(config=tortoise_config(url))
    try:
        yield
    finally:
        await Tortoise.close_connections()


async def prepare(url: str) -> str:
    """Anna (password login) one wrong password short of a lockout, and bea (two-factor with the fake
    `flaky` method) one wrong code short of one. Returns anna's real password hash."""
    await migrate(url)
    real = await PasswordService(1).hash(PASSWORD)
    async with orm(url):
        customer = await Customer.create(name="Relaxed Oy")
        anna = await User.create(email="anna@example.com", password_hash=real, failed_password_attempts=2)
        bea = await User.create(
            email="bea@example.com",
            password_hash=real,
            login_method=LoginMethod.TWO_FACTOR,
            conversion=ConversionState.COMPLETED,
            failed_code_attempts=9,
        )
        for user in (anna, bea):
            await Membership.create(user=user, customer=customer, level=MembershipLevel.COMPANY)
        await EnrolledFactor.create(
            user=bea, method="flaky", state_encrypted=Keyring(SERVE_SECRET).encrypt_state({}), created_at=utcnow()
        )
    return real


@asynccontextmanager
async def running_app(url: str, **values: Any) -> AsyncIterator[GraphQLClient]:
    """The app in this process on `url` (after the served one is gone), as a frontend reaches it."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        secret_key=SERVE_SECRET,
        gql_server_plugins="tests.plugin_fakes",
        **values,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http)


async def _post(url: str, name: str, **variables: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=600) as http:
        return await GraphQLClient(http).run(name, **variables)


async def _user(email: str) -> User:
    return await User.get(email=email)


async def _kinds() -> set[str]:
    return set(await AuditEvent.all().values_list("kind", flat=True))


def _serve_env(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    return _base_env(
        tmp_path,
        DATABASE_URL=url,
        GQL_SERVER_PLUGINS="tests.plugin_fakes",
        # The fake verification hangs until the process goes, not until a timeout.
        GQL_SERVER_PLUGIN_TIMEOUT_SECONDS="600",
        PASSWORD_HASH_CONCURRENCY="2",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **extra,
    )


async def _counted(url: str) -> dict[str, int]:
    """Attempts counted in (reserved, or failed) per user, as another process sees them while the served
    one writes: one more than prepared once a request is checking."""
    query = (
        'SELECT email, password_reserved + code_reserved + failed_password_attempts + failed_code_attempts FROM "user"'
    )
    if url.startswith("sqlite://"):
        with sqlite3.connect(url.removeprefix("sqlite://")) as db:
            return dict(db.execute(query).fetchall())
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        return {row[0]: row[1] for row in await connection.fetch(query)}
    finally:
        await connection.close()


async def test_s35_a_worker_killed_mid_check_leaves_reservations_that_expire_and_lock_nothing(database, tmp_path):
    real_hash = await prepare(database)
    async with orm(database):
        await User.filter(email="anna@example.com").update(password_hash=slow_hash(STUCK_PASSES))
    served = Served(_serve_env(tmp_path, database), tmp_path)
    in_flight: list[asyncio.Task[Any]] = []
    try:
        await served.wait_until_ready()
        bea_login = (await _post(served.url, "Login", email="bea@example.com", password=PASSWORD))["login"]
        challenge = bea_login["challenge"]
        in_flight.append(asyncio.create_task(_post(served.url, "Login", email="anna@example.com", password="x")))
        in_flight.append(
            asyncio.create_task(
                _post(served.url, "VerifySecondFactor", challenge=challenge, method="flaky", code="hang")
            )
        )

        async def both_checking() -> bool:
            return await _counted(database) == {"anna@example.com": 3, "bea@example.com": 10}

        await until(both_checking, "both checks to be in flight", seconds=30)
        served.process.send_signal(signal.SIGKILL)
        served.process.wait(timeout=30)
    finally:
        served.stop()
        await asyncio.gather(*in_flight, return_exceptions=True)

    async with orm(database):
        await User.filter(email="anna@example.com").update(password_hash=real_hash)
    async with running_app(database) as client:
        # Before they expire: every place of both rounds is taken, and the correct secrets get a retryable
        # answer, never "wrong".
        anna_held = await client.login("anna@example.com", PASSWORD)
        bea_held = await verify(client, challenge, "flaky", "100001")
        counted = {email: getattr(await _user(email), column) for email, (column, _) in WRONG_ROUNDS.items()}
        stale = utcnow() - RESERVATION_LIFETIME - timedelta(seconds=1)
        await User.filter(email="anna@example.com").update(password_reserved_at=stale)
        await User.filter(email="bea@example.com").update(code_reserved_at=stale)
        anna_later = await client.login("anna@example.com", PASSWORD)
        bea_later = await verify(client, challenge, "flaky", "100002")
        kinds = await _kinds()

    assert anna_held["__typename"] == "TooManyAttempts" and anna_held["retryAfterSeconds"] >= 1, anna_held
    assert bea_held["__typename"] == "TooManyAttempts" and bea_held["retryAfterSeconds"] >= 1, bea_held
    # The killed requests gave no verdict: nothing was counted as a failure.
    assert counted == {email: wrong for email, (_, wrong) in WRONG_ROUNDS.items()}
    assert anna_later["__typename"] == "LoginSuccess", anna_later
    assert bea_later["__typename"] == "LoginSuccess", bea_later
    assert not kinds & {"login_refused_locked", "second_factor_refused_locked", "login_failed"}


async def test_s35_the_shutdown_deadline_cutting_a_verification_off_counts_nothing(database, tmp_path):
    await prepare(database)
    served = Served(_serve_env(tmp_path, database, GRACEFUL_SHUTDOWN_SECONDS="1"), tmp_path)
    hanging: asyncio.Task[Any] | None = None
    try:
        await served.wait_until_ready()
        bea_login = (await _post(served.url, "Login", email="bea@example.com", password=PASSWORD))["login"]
        challenge = bea_login["challenge"]
        hanging = asyncio.create_task(
            _post(served.url, "VerifySecondFactor", challenge=challenge, method="flaky", code="hang")
        )

        async def checking() -> bool:
            return (await _counted(database))["bea@example.com"] == 10

        await until(checking, "the verification to be in flight", seconds=30)
        served.process.send_signal(signal.SIGTERM)
        code = served.process.wait(timeout=30)
    finally:
        served.stop()
        if hanging is not None:
            await asyncio.gather(hanging, return_exceptions=True)

    assert code == -signal.SIGTERM, served.log()
    assert "timeout graceful shutdown exceeded" in served.log()
    async with running_app(database) as client:
        bea = await _user("bea@example.com")
        right = await verify(client, challenge, "flaky", "100001")

    assert (bea.failed_code_attempts, bea.code_reserved) == (9, 0)
    assert right["__typename"] == "LoginSuccess", right


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    reason = OwnPostgres.unavailable()
    if reason:
        pytest.skip(reason)
    cluster = OwnPostgres()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


async def test_s35_a_database_outage_mid_check_locks_nothing_for_good(own_postgres):
    await own_postgres.create_database()
    real_hash = await prepare(own_postgres.url)
    async with running_app(own_postgres.url) as client:
        # About three seconds of hashing: time to stop the database while the check is in flight.
        await User.filter(email="anna@example.com").update(password_hash=slow_hash(120))
        login = asyncio.create_task(client.login("anna@example.com", "whatever-was-typed"))

        async def checking() -> bool:
            anna = await _user("anna@example.com")
            return anna.password_reserved + anna.failed_password_attempts == 3

        await until(checking, "the password check to be in flight")
        # Every connection is cut (a clean stop: PostgreSQL keeps what it committed, the reservation too).
        own_postgres.stop("fast")
        (outcome,) = await asyncio.gather(login, return_exceptions=True)
        own_postgres.start()

        async def back() -> bool:
            try:
                await User.filter(email="anna@example.com").update(password_hash=real_hash)
            except Exception:
                return False
            return True

        await until(back, "the database to answer again", seconds=30)
        anna = await _user("anna@example.com")
        held = await client.login("anna@example.com", PASSWORD)
        await User.filter(id=anna.id).update(
            password_reserved_at=utcnow() - RESERVATION_LIFETIME - timedelta(seconds=1)
        )
        later = await client.login("anna@example.com", PASSWORD)

    # The request that lost its database got no verdict: an error, no failure counted, no lock.
    assert not isinstance(outcome, dict) or outcome["__typename"] != "LoginSuccess", outcome
    assert (anna.failed_password_attempts, anna.password_reserved, anna.password_locked_until) == (2, 1, None)
    assert held["__typename"] == "TooManyAttempts", held
    assert later["__typename"] == "LoginSuccess", later
