"""`gql-server serve` as operators run it (issue 8): graceful shutdown under a login flood, and a
two-worker service with JSON logs, probes, and metrics summed over the workers on their own port.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import PG_URL, REDIS_TEST_URL
from .flows import PASSWORD
from .local_services import free_port, fresh_postgres_database

pytestmark = pytest.mark.slow

EXE = [sys.executable, "-m", "gql_server.cli"]
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { __typename } }"
# Named after the suite's database, so that two checkouts testing at once do not collide.
SERVE_DB = PG_URL + "_serve"


def _base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PROMETHEUS_", "METRICS_", "LOG_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        {
            "SECRET_KEY": "serve-test-secret-key-long-enough-0123456789",
            "GQL_SERVER_ENV": "development",
            "PUBLIC_URL": "http://testserver",
            "RATE_LIMIT_LOGIN": "100000/minute",
            "LOG_FORMAT": "json",
        }
    )
    env.update(extra)
    return env


def _cli(env: dict[str, str], cwd: Path, *args: str) -> dict[str, Any]:
    result = subprocess.run([*EXE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


class Served:
    """A `gql-server serve` process writing its log to a file."""

    def __init__(self, env: dict[str, str], cwd: Path, *args: str, prefix: list[str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = cwd / "serve.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [*(prefix or []), *EXE, "serve", "--port", str(self.port), *args],
            env=env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    async def wait_until_ready(self) -> None:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, f"gql-server serve exited early:\n{self.log()}"
                try:
                    if (await http.get(f"{self.url}/readyz", timeout=2)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"the service did not become ready:\n{self.log()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        code = self.process.wait(timeout=60)
        self._log.close()
        return code

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def log_entries(self) -> list[dict[str, Any]]:
        """Every line of the log, each of which must be a JSON object (LOG_FORMAT=json)."""
        return [json.loads(line) for line in self.log().splitlines() if line.strip()]


async def _login(url: str, email: str, password: str) -> httpx.Response:
    # A connection of its own per request, like independent clients (and spread over workers by the OS).
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{url}/graphql", json={"query": LOGIN, "variables": {"e": email, "p": password}}, timeout=60
        )


# --- graceful shutdown ------------------------------------------------------------------------------


@pytest.fixture
def sqlite_service(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    database = tmp_path / "serve.sqlite3"
    # Two hashing slots: a flood of logins queues, so many requests are in flight at any moment.
    env = _base_env(tmp_path, DATABASE_URL=f"sqlite://{database}", PASSWORD_HASH_CONCURRENCY="2")
    customer = _cli(env, tmp_path, "customer", "create", "Relaxed Oy")["id"]
    _cli(env, tmp_path, "user", "create", "--customer", customer, "--email", "anna@example.com",
         "--password", PASSWORD, "--level", "company")  # fmt: skip
    yield env, database


async def test_sigterm_during_a_login_flood_finishes_what_was_in_flight_and_refuses_the_rest(sqlite_service, tmp_path):
    env, database = sqlite_service
    served = Served(env, tmp_path)
    outcomes: list[tuple[str, float]] = []  # (kind, when it ended)
    first_answer = asyncio.Event()

    async def one() -> None:
        await attempt()
        first_answer.set()

    async def attempt() -> None:
        try:
            response = await _login(served.url, "anna@example.com", PASSWORD)
        except httpx.ConnectError:
            outcomes.append(("refused", time.monotonic()))
            return
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            # Accepted during the shutdown but closed before a single byte of answer: not served. The
            # database check below proves that no such request was processed behind the client's back.
            assert isinstance(exc, httpx.ReadError) or "without sending a response" in str(exc), exc
            outcomes.append(("closed unanswered", time.monotonic()))
            return
        assert response.status_code == 200, response.text
        answer = response.json()["data"]["login"]["__typename"]
        # More than three logins of one account at once wait for a place, or are told to retry (S35).
        assert answer in {"LoginSuccess", "TooManyAttempts"}, response.text
        outcomes.append((answer, time.monotonic()))

    try:
        await served.wait_until_ready()
        flood = [asyncio.create_task(one()) for _ in range(40)]
        await first_answer.wait()
        served.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        # Clients keep coming while it shuts down, and after it is gone.
        while served.process.poll() is None and time.monotonic() - signalled < 30:
            flood.append(asyncio.create_task(one()))
            await asyncio.sleep(0.02)
        await asyncio.gather(*flood)
        after = [asyncio.create_task(one()) for _ in range(3)]
        await asyncio.gather(*after)
    finally:
        code = served.stop()

    # uvicorn ends a single process by re-raising the signal once it has shut down: status 143 to a shell.
    assert code == -signal.SIGTERM, served.log()
    kinds = [kind for kind, _ in outcomes]
    answered = [(kind, when) for kind, when in outcomes if kind in {"LoginSuccess", "TooManyAttempts"}]
    finished_after_signal = [when for _, when in answered if when > signalled]
    assert len(finished_after_signal) >= 5, (kinds, served.log())  # in-flight requests were finished
    assert kinds[-3:] == ["refused"] * 3  # nothing listens any more
    assert set(kinds) <= {"LoginSuccess", "TooManyAttempts", "refused", "closed unanswered"}
    # No half-written state: every login the service finished reached its client, and no other was done.
    with sqlite3.connect(database) as db:
        sessions = db.execute("SELECT COUNT(*) FROM session").fetchone()[0]
        audited = dict(db.execute("SELECT kind, COUNT(*) FROM audit_event WHERE kind LIKE 'login%' GROUP BY kind"))
        counted = db.execute("SELECT failed_password_attempts, password_reserved FROM user").fetchone()
    assert sessions == audited.get("login_succeeded", 0) == kinds.count("LoginSuccess") >= 1
    # A correct password is never refused as wrong (S35), not even while the account's places are all taken.
    assert "login_refused_locked" not in audited and "login_failed" not in audited
    assert counted == (0, 0)  # no attempt was left reserved or counted by a request cut in the middle
    messages = [entry["message"] for entry in served.log_entries()]
    assert "Shutting down" in messages and "Application shutdown complete." in messages
    assert messages.index("Shutting down") < messages.index("Application shutdown complete.")


# --- two workers: JSON logs, probes, metrics summed over the workers --------------------------------


def _sample(exposition: str, name: str, labels: str = "") -> float:
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    values = [float(line.removeprefix(prefix)) for line in exposition.splitlines() if line.startswith(prefix)]
    assert len(values) == 1, (prefix, exposition)
    return values[0]


async def test_two_workers_log_json_answer_probes_and_sum_their_metrics_on_the_metrics_port(postgres_ready, tmp_path):
    await fresh_postgres_database(SERVE_DB)
    folder = tmp_path / "prometheus"
    folder.mkdir()
    stale = folder / "counter_424242.db"
    stale.write_bytes(b"left over by an earlier run, and not even a metrics file")
    metrics_port = free_port()
    env = _base_env(
        tmp_path,
        DATABASE_URL=SERVE_DB,
        REDIS_URL=REDIS_TEST_URL,
        METRICS_ENABLED="true",
        METRICS_PORT=str(metrics_port),
        PROMETHEUS_MULTIPROC_DIR=str(folder),
    )
    served = Served(env, tmp_path, "--workers", "2")
    sent = 0
    try:
        await served.wait_until_ready()
        assert not stale.exists()
        async with httpx.AsyncClient() as http:
            ready = await http.get(f"{served.url}/readyz", headers={"X-Request-ID": "probe-1"})
            public_metrics = await http.get(f"{served.url}/metrics")
        # Until both workers have answered some (the OS spreads connections; usually at once).
        while sent < 60:
            batch = await asyncio.gather(*(_login(served.url, f"nobody{sent + i}@example.com", "x") for i in range(6)))
            sent += len(batch)
            assert all(r.json()["data"]["login"]["__typename"] == "InvalidCredentials" for r in batch)
            pids = {e["pid"] for e in served.log_entries() if e.get("path") == "/graphql"}
            if len(pids) == 2:
                break
        async with httpx.AsyncClient() as http:
            scraped = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    finally:
        code = served.stop()

    assert code == 0, served.log()
    assert ready.status_code == 200 and ready.headers["x-request-id"] == "probe-1"
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok"}
    assert public_metrics.status_code == 404
    assert len(pids) == 2, "one worker answered every request"
    assert _sample(scraped, "gql_server_login_results_total", 'result="InvalidCredentials"') == sent
    assert _sample(scraped, "gql_server_graphql_request_duration_seconds_count", 'operation="login"') == sent
    assert _sample(scraped, "gql_server_password_hash_queue_depth") == 0
    entries = served.log_entries()  # every line is JSON, uvicorn's own included
    access = [e for e in entries if e["logger"] == "gql_server.access" and e["path"] == "/graphql"]
    assert len(access) == sent
    assert all(len(e["request_id"]) == 32 and e["operation"] == "login" for e in access)
    assert sum("Started server process" in e["message"] for e in entries) >= 2
    # Stopped workers leave no live gauge behind (mark_process_dead).
    assert not list(folder.glob("gauge_livesum_*.db"))


# --- the database file made unreadable -----------------------------------------------------------------


def _without_file_permission_override() -> list[str]:
    """A prefix that runs the service as the Docker image does: bound by file permissions.

    Root ignores them (CAP_DAC_OVERRIDE), so `chmod 000` on the database changes nothing for a root
    process. A new user namespace drops that capability while keeping the files' owner.
    """
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "--user", "true"], capture_output=True).returncode != 0:
        pytest.skip("running as root, and cannot drop CAP_DAC_OVERRIDE here (unshare --user)")
    return [unshare, "--user"]


async def test_readyz_answers_503_while_the_sqlite_file_is_unreadable_to_the_service(sqlite_service, tmp_path):
    env, database = sqlite_service
    served = Served(env, tmp_path, prefix=_without_file_permission_override())
    try:
        await served.wait_until_ready()
        async with httpx.AsyncClient() as http:
            database.chmod(0)
            try:
                unreadable = await http.get(f"{served.url}/readyz")
            finally:
                database.chmod(0o644)
            readable = await http.get(f"{served.url}/readyz")
    finally:
        served.stop()

    assert unreadable.status_code == 503
    assert unreadable.json()["reason"].startswith("database: unreachable")
    assert readable.status_code == 200
    assert any("unable to open database file" in e["message"] for e in served.log_entries())


async def test_s28_production_warns_once_at_start_of_the_explorer_it_was_asked_to_serve(tmp_path):
    # GRAPHIQL=true in production serves the explorer, not introspection (that takes INTROSPECTION=true),
    # and the start says so once; a production start without either says nothing of it.
    database = f"sqlite://{tmp_path / 'serve.sqlite3'}"
    env = _base_env(tmp_path, DATABASE_URL=database, GQL_SERVER_ENV="production", GRAPHIQL="true", LOG_FORMAT="text")
    served = Served(env, tmp_path, "--workers", "2")
    try:
        await served.wait_until_ready()
        async with httpx.AsyncClient(base_url=served.url) as http:
            page = await http.get("/graphql", headers={"Accept": "text/html"})
            schema = await http.post("/graphql", json={"query": "{ __schema { types { name } } }"})
    finally:
        served.stop()
    assert page.status_code == 200
    refused = schema.json()
    assert refused.get("data") is None, refused
    assert "introspection" in refused["errors"][0]["message"].lower(), refused
    warnings = [line for line in served.log().splitlines() if "which S28 keeps off" in line]
    assert len(warnings) == 1, served.log()
    assert "GraphiQL (GRAPHIQL=true)" in warnings[0]

    quiet = tmp_path / "quiet"
    quiet.mkdir()
    plain = Served(_base_env(quiet, DATABASE_URL=database, GQL_SERVER_ENV="production", LOG_FORMAT="text"), quiet)
    try:
        await plain.wait_until_ready()
    finally:
        plain.stop()
    assert "S28" not in plain.log()
