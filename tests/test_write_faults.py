"""S39: a database that answers reads but cannot take a write (disk full, read-only file, read-only
PostgreSQL) makes /readyz fail, and requests that write answer the retryable SERVICE_UNAVAILABLE; both
recover once the fault is gone, without a restart. Every fault here is real: a small tmpfs that fills up,
an immutable file (`chattr +i`, which binds root too), a PostgreSQL database set read-only."""

from __future__ import annotations

import errno
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
from tortoise import connections

from gql_server.api.schema import DATABASE_UNAVAILABLE

from .flows import PASSWORD

EMAIL = "anna@example.com"


def tool(name: str) -> str:
    """The full path of a system command, or the test is skipped without it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


async def readiness(client) -> tuple[int, dict]:
    response = await client.http.get("/readyz")
    return response.status_code, response.json()


async def assert_login_is_retryable_unavailable(client) -> None:
    response = await client.post(
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { __typename } }",
        {"e": EMAIL, "p": PASSWORD},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == DATABASE_UNAVAILABLE
    assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE", "retryable": True}


async def assert_not_writable(client) -> None:
    status, body = await readiness(client)
    assert status == 503, body
    assert body["checks"]["database"] == "not writable"
    assert body["reason"] == "database: not writable"


async def assert_ready_and_serving(client) -> None:
    assert await readiness(client) == (
        200,
        {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "redis": "not configured"}},
    )
    assert (await client.login(EMAIL, PASSWORD))["__typename"] == "LoginSuccess"


async def checkpoint() -> None:
    """Move SQLite's write-ahead log into the database and empty it, so that the next write needs new space."""
    await connections.get("sqlite").execute_script("PRAGMA wal_checkpoint(TRUNCATE)")


# --- SQLite: the disk fills up ---------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs of the test's own (mounting needs root, as the suite has in CI)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    result = subprocess.run(
        [tool("mount"), "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run([tool("umount"), "--lazy", str(mount)], check=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; deleting it frees the disk again."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as file:
        try:
            while True:
                file.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


class TestDiskFull:
    @pytest.fixture
    def database_url(self, small_disk: Path, sqlite_template: Path) -> str:
        database = small_disk / "gql_server.sqlite3"
        shutil.copy(sqlite_template, database)
        return f"sqlite://{database}"

    async def test_s39_a_full_disk_fails_readiness_and_writes_are_retryable_until_space_is_freed(
        self, client, settings, small_disk, make_customer, make_user
    ):
        await make_user(await make_customer(), EMAIL, PASSWORD)
        assert (await readiness(client))[0] == 200
        await checkpoint()
        filler = fill(small_disk)
        try:
            await assert_not_writable(client)
            await assert_login_is_retryable_unavailable(client)
        finally:
            filler.unlink()

        await assert_ready_and_serving(client)


# --- SQLite: the file becomes read-only -----------------------------------------------------------------------


@contextmanager
def immutable(*files: Path) -> Iterator[None]:
    """The files cannot be written, not even through descriptors already open, not even by root."""
    names = [str(file) for file in files]
    result = subprocess.run([tool("chattr"), "+i", *names], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot make a file immutable here (chattr +i): {result.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run([tool("chattr"), "-i", *names], check=True)


async def test_s39_a_read_only_sqlite_file_fails_readiness_and_writes_are_retryable_until_writable_again(
    client, settings, make_customer, make_user
):
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite only: the database is a file")
    database = Path(settings.database_url.removeprefix("sqlite://"))
    await make_user(await make_customer(), EMAIL, PASSWORD)
    assert (await readiness(client))[0] == 200

    # Every file SQLite writes a commit to: the log first, the database at checkpoints.
    with immutable(database, Path(f"{database}-wal")):
        await assert_not_writable(client)
        await assert_login_is_retryable_unavailable(client)

    await assert_ready_and_serving(client)


# --- PostgreSQL: the database becomes read-only ----------------------------------------------------------------


async def set_read_only(database_url: str, read_only: bool) -> None:
    """ALTER DATABASE (this test's own database) and end its sessions: new ones start under the setting, as
    after a failover to a standby and back."""
    dsn = database_url.replace("postgres://", "postgresql://", 1)
    base, _, name = dsn.rpartition("/")
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        if read_only:
            await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        else:
            await admin.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await admin.close()


async def readiness_after_reconnecting(client) -> tuple[int, dict]:
    """/readyz once the pool has replaced the connections that were ended (the first probe may meet one)."""
    for _ in range(5):
        status, body = await readiness(client)
        if body["checks"]["database"] != "unreachable":
            break
    return status, body


async def test_s39_a_read_only_postgres_fails_readiness_and_writes_are_retryable_until_writable_again(
    client, settings, make_customer, make_user
):
    if not settings.database_url.startswith("postgres"):
        pytest.skip("PostgreSQL only")
    await make_user(await make_customer(), EMAIL, PASSWORD)
    assert (await readiness(client))[0] == 200

    await set_read_only(settings.database_url, True)
    try:
        status, body = await readiness_after_reconnecting(client)
        assert (status, body["reason"]) == (503, "database: not writable"), body
        await assert_login_is_retryable_unavailable(client)
    finally:
        await set_read_only(settings.database_url, False)

    assert (await readiness_after_reconnecting(client))[0] == 200
    await assert_ready_and_serving(client)


# --- SQLite: another process holds the database ------------------------------------------------------------


class TestSqliteHeldByAnotherProcess:
    @pytest.fixture
    def settings_overrides(self, database_url):
        if not database_url.startswith("sqlite"):
            pytest.skip("SQLite only: a lock on the file")
        # A short busy timeout, so the test need not wait SQLite's default five seconds.
        return {"database_url": f"{database_url}?busy_timeout=300"}

    async def test_s39_a_database_locked_past_the_busy_timeout_is_retryable(
        self, client, settings, make_customer, make_user
    ):
        await make_user(await make_customer(), EMAIL, PASSWORD)
        path = settings.database_url.removeprefix("sqlite://").split("?", 1)[0]
        # A backup tool, a migration in another process, an operator's sqlite3 shell holding a write lock.
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            await assert_login_is_retryable_unavailable(client)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        await assert_ready_and_serving(client)
