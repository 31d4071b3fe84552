"""P1 and P3 (performance.md): what a password login and a second step cost the database, counted by SQLite.

Their time is the benchmark harness's business (`make bench`); the number of statements is what the work
on P1 and P3 brought down (a second step ran 15 statements, a login 10), and a change that
adds one to either shows here first, on every run of the suite. SQLite itself reports each statement it
runs (`set_trace_callback`), BEGIN and COMMIT included; the outbox's own statements, which run beside
requests, are not the request's.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from tortoise import connections

from .flows import PASSWORD, challenge, convert, totp_code, verify

# A login with the right password: the user, the reservation (R12), the customers' policy, the success,
# the session, the audit event.
LOGIN_STATEMENTS = 6
# A TOTP second step: the challenge with its user, the user's factors, the reservation (S6), the challenge's
# attempt (S5), BEGIN, the counter (S8), the challenge ended, COMMIT, the success, the session, the audit.
SECOND_STEP_STATEMENTS = 11


@asynccontextmanager
async def statements(database_url: str) -> AsyncIterator[list[str]]:
    """The SQL statements SQLite runs in the block (not the outbox's)."""
    if not database_url.startswith("sqlite://"):
        pytest.skip("SQLite only: it reports each statement it runs")
    client = connections.get("sqlite")
    raw = client._connection  # aiosqlite's connection; the sqlite3 one lives on its thread
    seen: list[str] = []
    await raw._execute(raw._conn.set_trace_callback, seen.append)
    try:
        yield seen
    finally:
        await raw._execute(raw._conn.set_trace_callback, None)
        seen[:] = list(_requests_own(list(seen)))


def _requests_own(seen: list[str]) -> Iterator[str]:
    # aiosqlite reads an INSERT's row id in the same call as the INSERT: part of it, not a statement of its own.
    return (s for s in seen if not re.search(r"\bmail_outbox\b", s) and s != "SELECT last_insert_rowid()")


async def test_p1_a_password_login_is_six_statements(client, settings, acme, anna):
    acme.enforce_two_factor = False
    await acme.save()
    await client.login("anna@example.com", PASSWORD)  # the first one warms what is built once
    client.forget_cookies()
    async with statements(settings.database_url) as seen:
        login = await client.login("anna@example.com", PASSWORD)
    assert login["__typename"] == "LoginSuccess"
    assert len(seen) <= LOGIN_STATEMENTS, "\n".join(seen)


async def test_p3_a_second_step_is_eleven_statements(client, mailbox, settings, acme, anna):
    converted = await convert(client, mailbox, "anna@example.com")
    client.forget_cookies()
    token = await challenge(client, "anna@example.com")
    async with statements(settings.database_url) as seen:
        result = await verify(client, token, "totp", totp_code(converted.secret, 1))
    assert result["__typename"] == "LoginSuccess"
    assert len(seen) <= SECOND_STEP_STATEMENTS, "\n".join(seen)
    # The S5, S6 and S8 guards are still the conditional updates they were, each in one statement.
    assert sum(s.startswith('UPDATE "user"') for s in seen) == 2
    assert any(s.startswith('UPDATE "token" SET "attempts"') for s in seen)
    assert any(s.startswith('UPDATE "enrolled_factor" SET "last_counter"') for s in seen)
