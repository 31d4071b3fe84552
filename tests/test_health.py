"""GET /healthz and GET /readyz (issue 8): the database, the migrations and Redis, failing for real."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest


async def ready(client) -> tuple[int, dict]:
    response = await client.http.get("/readyz")
    assert response.headers["cache-control"] == "no-store"
    return response.status_code, response.json()


async def test_healthz_answers_whatever_the_database_does(client):
    response = await client.http.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


async def test_readyz_answers_200_on_a_migrated_database(client):
    status, body = await ready(client)

    assert status == 200
    assert body == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "redis": "not configured"}}


async def test_readyz_answers_503_while_a_shipped_migration_is_missing_and_200_once_it_is_back(client, settings):
    from gql_server.models import User

    connection = User._meta.db
    _, rows = await connection.execute_query("SELECT id, app, name, applied_at FROM tortoise_migrations")
    second = next(row for row in rows if row["name"] == "0002_second_factors")
    await connection.execute_query(f"DELETE FROM tortoise_migrations WHERE id = {int(second['id'])}")  # noqa: S608

    status, body = await ready(client)

    assert status == 503
    assert body["checks"]["migrations"] == "pending: 0002_second_factors"
    assert body["reason"] == "migrations: pending: 0002_second_factors"
    assert body["checks"]["database"] == "ok"
    placeholders = "$1, $2, $3" if settings.database_url.startswith("postgres") else "?, ?, ?"
    await connection.execute_insert(
        f"INSERT INTO tortoise_migrations (app, name, applied_at) VALUES ({placeholders})",  # noqa: S608
        [second["app"], second["name"], second["applied_at"]],
    )
    assert (await ready(client))[0] == 200


def sqlite_path(settings) -> Path:
    if not settings.database_url.startswith("sqlite://"):
        pytest.skip("SQLite only: the database is a file")
    return Path(settings.database_url.removeprefix("sqlite://"))


# Root ignores file permissions (chmod 000 changes nothing for it, and the suite runs as root in CI), so
# these make the file unavailable in ways that hold for every user: gone, a folder in its place, garbage.
async def test_readyz_answers_503_when_the_sqlite_file_is_moved_away_and_200_when_it_is_back(client, settings, caplog):
    caplog.set_level("INFO", logger="gql_server.health")
    path = sqlite_path(settings)
    aside = path.with_suffix(".aside")
    path.rename(aside)
    try:
        status, body = await ready(client)
        assert not path.exists()  # the check did not create an empty database in its place
    finally:
        aside.rename(path)

    assert status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "unreachable"
    assert body["reason"].startswith("database: unreachable")
    assert "not ready" in caplog.text and "unable to open database file" in caplog.text
    assert (await ready(client))[0] == 200
    assert "ready (database: ok" in caplog.text


async def test_readyz_answers_503_when_a_folder_replaces_the_sqlite_file(client, settings):
    path = sqlite_path(settings)
    aside = path.with_suffix(".aside")
    path.rename(aside)
    path.mkdir()
    try:
        status, body = await ready(client)
    finally:
        path.rmdir()
        aside.rename(path)

    assert (status, body["checks"]["database"]) == (503, "unreachable")


async def test_readyz_answers_503_when_the_sqlite_file_is_not_a_database(client, settings):
    path = sqlite_path(settings)
    aside = path.with_suffix(".aside")
    shutil.copy(path, aside)
    path.write_bytes(b"this is not a database, it is a text file written over it" * 100)
    try:
        status, body = await ready(client)
    finally:
        shutil.copy(aside, path)

    assert (status, body["checks"]["database"]) == (503, "unreachable")


def _customers_in_another_process(path: Path) -> int:
    """Customers as another program reading the file sees them (an operator's CLI, a backup): it
    opens the database, reads, and closes, the last step checkpointing the WAL when it is the last user."""
    script = "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
    script += "print(db.execute('SELECT count(*) FROM customer').fetchone()[0]); db.close()"
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True)
    return int(done.stdout)


async def test_readyz_keeps_the_service_s_own_sqlite_locks_so_other_readers_see_every_write(client, settings):
    # The check once opened and closed the file itself: closing any descriptor of a file drops every POSIX
    # lock the process holds on it, SQLite's included. The next program to close its connection then took
    # the service for gone, checkpointed and deleted the WAL under it, and the service's later writes went
    # to the deleted file: lost to every other reader, and at the next restart.
    path = sqlite_path(settings)
    assert (await ready(client))[0] == 200
    before = _customers_in_another_process(path)

    from gql_server.models import Customer

    # Through the service's own connection, as a request would write.
    await Customer.create(name="Written after the check")
    after = _customers_in_another_process(path)

    assert after == before + 1


async def test_readyz_answers_503_on_an_empty_sqlite_file_without_migrations(client, settings):
    path = sqlite_path(settings)
    aside = path.with_suffix(".aside")
    path.rename(aside)
    path.touch()
    try:
        status, body = await ready(client)
    finally:
        path.unlink()
        aside.rename(path)

    assert status == 503
    assert body["checks"] == {
        "database": "ok",
        "migrations": "not applied (no migration table)",
        "redis": "not configured",
    }


async def _allow_connections(database_url: str, allowed: bool) -> None:
    dsn = database_url.replace("postgres://", "postgresql://", 1)
    base, _, name = dsn.rpartition("/")
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
    finally:
        await admin.close()


async def test_readyz_answers_503_while_postgres_refuses_connections_and_200_after(client, settings):
    if not settings.database_url.startswith("postgres"):
        pytest.skip("PostgreSQL only")
    assert (await ready(client))[0] == 200
    await _allow_connections(settings.database_url, False)
    try:
        status, body = await ready(client)
    finally:
        await _allow_connections(settings.database_url, True)

    assert (status, body["checks"]["database"]) == (503, "unreachable")
    # The pool reconnects by itself: no restart is needed to be ready again.
    for _ in range(20):
        if (await ready(client))[0] == 200:
            break
        await asyncio.sleep(0.1)
    assert (await ready(client))[0] == 200


class TestRedis:
    @pytest.fixture
    def settings_overrides(self, own_redis):
        return {"redis_url": own_redis.url}

    async def test_readyz_checks_redis_when_it_is_configured(self, client, own_redis):
        up = await ready(client)
        own_redis.stop()
        down = await ready(client)
        own_redis.start()
        back = await ready(client)

        assert up == (200, {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "redis": "ok"}})
        assert down[0] == 503
        assert down[1]["reason"] == "redis: unreachable"
        assert back[0] == 200


async def test_probes_refuse_other_methods_without_an_error(client):
    for path in ("/healthz", "/readyz"):
        response = await client.http.post(path, json={"x": 1})
        assert response.status_code == 405
