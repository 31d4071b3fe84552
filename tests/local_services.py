"""Real services a test starts or prepares for itself: a free port, a fresh PostgreSQL database, a
redis-server or a PostgreSQL cluster of its own. Shared by the tests that run real servers, so each is
written once."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg

from gql_server.testing.mailbox import free_port

__all__ = ["OwnPostgres", "OwnRedis", "free_port", "fresh_postgres_database"]


async def fresh_postgres_database(url: str) -> None:
    """Drop and create the database `url` names (its connections are ended first)."""
    dsn = url.replace("postgres://", "postgresql://", 1)
    base, _, name = dsn.rpartition("/")
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


class OwnRedis:
    """A redis-server of the test's own, so that stopping it disturbs nothing else on the machine."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self._process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


class OwnPostgres:
    """A PostgreSQL cluster of the test's own on a free port (initdb and pg_ctl, run as the `postgres` OS
    user since the tests run as root), so that stopping it disturbs nothing else on the machine."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="gql-server-pg-"))
        self.data = self.folder / "data"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/gql_server"
        self.running = False

    @staticmethod
    def unavailable() -> str | None:
        """Why no cluster can be made here, or None."""
        if not (POSTGRES_BIN / "initdb").exists():
            return f"no PostgreSQL binaries in {POSTGRES_BIN}"
        if os.geteuid() != 0 or shutil.which("runuser") is None:
            return "making a PostgreSQL cluster needs root (to run initdb as the postgres user)"
        return None

    def init(self) -> None:
        """Create the cluster (trust authentication on 127.0.0.1, no fsync: a throwaway)."""
        entry = pwd.getpwnam("postgres")
        os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self._as_postgres("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-o", options, "-w", "start")
        self.running = True

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server; `immediate` cuts every connection at once, as a crash or an outage would."""
        if self.running:
            self._as_postgres("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
            self.running = False

    async def create_database(self) -> None:
        """Create the database `url` names."""
        admin = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
        try:
            await admin.execute('CREATE DATABASE "gql_server"')
        finally:
            await admin.close()

    def remove(self) -> None:
        """Stop the server and delete the cluster."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _as_postgres(self, program: str, *args: str) -> None:
        runuser = shutil.which("runuser")
        assert runuser, "runuser is not installed"
        subprocess.run(
            [runuser, "-u", "postgres", "--", str(POSTGRES_BIN / program), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )
