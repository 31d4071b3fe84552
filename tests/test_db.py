"""S42: the SQLite files the service creates are readable by their owner only."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from gql_server.app import create_app
from gql_server.db import migrate
from gql_server.settings import Settings

from .conftest import SECRET
from .graphql import GraphQLClient


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def everyday_umask() -> Iterator[None]:
    """The umask most systems give a service (022: files readable by everyone), whatever this run's is."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@asynccontextmanager
async def serving_after_a_login(database: Path) -> AsyncIterator[None]:
    """The app running on `database` after one login (a write): SQLite's -wal and -shm files exist meanwhile."""
    settings = Settings(_env_file=None, database_url=f"sqlite://{database}", secret_key=SECRET)  # type: ignore[call-arg]
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            result = await GraphQLClient(http).login("nobody@example.com", "wrong password")
            assert result["__typename"] == "InvalidCredentials"
            yield


async def test_s42_the_sqlite_files_the_service_creates_are_owner_only(tmp_path, everyday_umask):
    database = tmp_path / "var" / "fresh.sqlite3"

    await migrate(f"sqlite://{database}")
    async with serving_after_a_login(database):
        files = {path.name: mode(path) for path in database.parent.iterdir()}

    assert set(files) >= {"fresh.sqlite3", "fresh.sqlite3-wal", "fresh.sqlite3-shm"}, files
    assert set(files.values()) == {0o600}, {name: oct(m) for name, m in files.items()}


async def test_s42_sqlite_files_others_can_read_are_tightened_at_start_with_a_warning(
    tmp_path, sqlite_template, everyday_umask, caplog
):
    database = tmp_path / "old.sqlite3"
    shutil.copy(sqlite_template, database)
    database.chmod(0o644)  # as an earlier version (or a restore, or a copy) left it
    wal = Path(f"{database}-wal")
    os.close(os.open(wal, os.O_CREAT | os.O_WRONLY, 0o664))
    os.chmod(wal, 0o664)
    caplog.set_level("WARNING", logger="gql_server.db")

    async with serving_after_a_login(database):
        modes = [mode(database), mode(wal), mode(Path(f"{database}-shm"))]

    assert modes == [0o600, 0o600, 0o600]
    assert f"{database} could be read by others (mode 644); now owner-only (600)" in caplog.text
    assert f"{wal} could be read by others (mode 664); now owner-only (600)" in caplog.text
