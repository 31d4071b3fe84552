"""Beyond one process: `gql-server serve --workers 2` on PostgreSQL and Redis. Every limit that holds
in one process holds across both (R12, S4-S8, S10): requests are spread over the workers by the OS.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from .conftest import PG_URL, REDIS_TEST_URL
from .flows import PASSWORD, totp_code
from .local_services import free_port, fresh_postgres_database
from .mailbox import Mailbox, code_in, invitation_token_in

pytestmark = pytest.mark.slow

# Its own database beside the suite's, named after it so that two checkouts testing at once do not collide.
WORKERS_DB = PG_URL + "_workers"
EXE = [sys.executable, "-m", "gql_server.cli"]


@pytest.fixture
def server_env(postgres_ready, smtp_session: Mailbox, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment of a multi-worker service on its own PostgreSQL database, Redis and the test SMTP."""
    asyncio.run(fresh_postgres_database(WORKERS_DB))
    yield {
        **os.environ,
        "DATABASE_URL": WORKERS_DB,
        "REDIS_URL": REDIS_TEST_URL,
        "SMTP_URL": smtp_session.url,
        "SECRET_KEY": "workers-test-secret-key-long-enough-0123456789",
        "PUBLIC_URL": "http://testserver",
        "GQL_SERVER_ENV": "development",
        "RATE_LIMIT_LOGIN": "10000/minute",
        "RATE_LIMIT_VERIFY_SECOND_FACTOR": "10000/minute",
        "RATE_LIMIT_SEND_LOGIN_CODE": "10000/minute",
        "RATE_LIMIT_REQUEST_CONVERSION": "10000/minute",
    }


def _cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = subprocess.run([*EXE, *args], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture
async def server(server_env: dict[str, str], tmp_path: Path) -> AsyncIterator[str]:
    """Two uvicorn worker processes behind one port; yields the /graphql URL."""
    customer = _cli(server_env, "customer", "create", "Acme Oy")["id"]
    for email in ("anna@example.com", "bea@example.com", "cai@example.com"):
        _cli(server_env, "user", "create", "--customer", customer, "--email", email, "--password", PASSWORD,
             "--level", "company")  # fmt: skip
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(  # noqa: ASYNC220 (a server that outlives this call)
        [*EXE, "serve", "--workers", "2", "--port", str(port)],
        env=server_env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        await _wait_until_up(url, process)
        conn = await asyncpg.connect(WORKERS_DB.replace("postgres://", "postgresql://", 1))
        await conn.execute("UPDATE customer SET enforce_two_factor = true")
        await conn.close()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    output = (tmp_path / "serve.log").read_text()
    assert output.count("Started server process") >= 2, output


async def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            assert process.poll() is None, "gql-server serve exited early"
            try:
                await http.post(url, json={"query": "{ __typename }"}, timeout=2)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.2)
    raise AssertionError("the workers did not answer")


async def _call(url: str, query: str, **variables: Any) -> dict[str, Any]:
    # A new connection per call, so that the OS hands calls to either worker.
    async with httpx.AsyncClient() as http:
        response = await http.post(url, json={"query": query, "variables": variables}, timeout=30)
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { __typename ... on SecondFactorRequired { challenge } ... on ConversionRequired { ticket } } }"
VERIFY = "mutation($c: String!, $m: String!, $k: String!) { verifySecondFactor(challenge: $c, method: $m, code: $k) { __typename } }"


async def _convert(url: str, mailbox: Mailbox, email: str, method: str) -> str | None:
    ticket = (await _call(url, LOGIN, e=email, p=PASSWORD))["login"]["ticket"]
    await _call(
        url, "mutation($t: String!, $e: String!) { requestConversion(ticket: $t, email: $e) { __typename } }",
        t=ticket, e=email,
    )  # fmt: skip
    invitation = invitation_token_in(await mailbox.next_to(email, "invitation", timeout=15))
    begun = (
        await _call(
            url,
            "mutation($i: String!, $m: String!) { beginEnrollment(invitation: $i, method: $m) {"
            " ... on EnrollmentStarted { enrollment secret } } }",
            i=invitation,
            m=method,
        )
    )["beginEnrollment"]
    secret = begun.get("secret")
    code = totp_code(secret) if secret else code_in(await mailbox.next_to(email, "enrollment_code", timeout=15))
    done = await _call(
        url, "mutation($e: String!, $c: String!) { confirmEnrollment(enrollment: $e, code: $c) { __typename } }",
        e=begun["enrollment"], c=code,
    )  # fmt: skip
    assert done["confirmEnrollment"]["__typename"] == "EnrollmentCompleted"
    return secret


async def _audit_kinds(email: str) -> list[str]:
    conn = await asyncpg.connect(WORKERS_DB.replace("postgres://", "postgresql://", 1))
    try:
        rows = await conn.fetch(
            'SELECT a.kind FROM audit_event a JOIN "user" u ON u.id = a.subject_id WHERE u.email = $1', email
        )
    finally:
        await conn.close()
    return [r["kind"] for r in rows]


async def test_r12_s4_s8_s10_limits_hold_across_two_workers(server, mailbox):
    # S4: ten parallel wrong passwords spread over both workers reach the check at most three times.
    guesses = await asyncio.gather(*(_call(server, LOGIN, e="cai@example.com", p=f"guess-{i}") for i in range(10)))
    assert {g["login"]["__typename"] for g in guesses} == {"InvalidCredentials"}
    kinds = await _audit_kinds("cai@example.com")
    assert kinds.count("login_failed") == 3 and kinds.count("login_refused_locked") == 7

    # S8: one TOTP code raced over both workers, on ten challenges, succeeds once.
    secret = await _convert(server, mailbox, "anna@example.com", "totp")
    assert secret
    challenges = [
        (await _call(server, LOGIN, e="anna@example.com", p=PASSWORD))["login"]["challenge"] for _ in range(10)
    ]
    code = totp_code(secret, 1)
    results = await asyncio.gather(*(_call(server, VERIFY, c=c, m="totp", k=code) for c in challenges))
    assert [r["verifySecondFactor"]["__typename"] for r in results].count("LoginSuccess") == 1

    # S10: an email code is single use across workers.
    await _convert(server, mailbox, "bea@example.com", "email_code")
    await mailbox.next_to("bea@example.com", "factor_added", timeout=15)
    challenge = (await _call(server, LOGIN, e="bea@example.com", p=PASSWORD))["login"]["challenge"]
    await _call(
        server, "mutation($c: String!) { sendLoginCode(challenge: $c, method: \"email_code\") { __typename } }",
        c=challenge,
    )  # fmt: skip
    email_code = code_in(await mailbox.next_to("bea@example.com", "login_code", timeout=15))
    results = await asyncio.gather(
        *(_call(server, VERIFY, c=challenge, m="email_code", k=email_code) for _ in range(6))
    )
    assert [r["verifySecondFactor"]["__typename"] for r in results].count("LoginSuccess") == 1
