"""R12 (password part) and S4: three consecutive failures lock the password step, atomically."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from gql_server.audit import AuditKind
from gql_server.auth.lockout import PASSWORD_STEP, SECOND_FACTOR_STEP, Column, lock_duration
from gql_server.clock import utcnow
from gql_server.models import AuditEvent, User

PASSWORD = "correct horse battery"


async def _kinds(user: User) -> list[str]:
    return [e.kind for e in await AuditEvent.filter(subject_id=user.id).order_by("id")]


def test_r12_lock_duration_doubles_from_one_minute_to_one_hour():
    assert [lock_duration(n) for n in range(8)] == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60)]
    assert lock_duration(10_000) == timedelta(hours=1)


def test_a_step_column_user_does_not_have_fails_when_the_step_is_built():
    assert PASSWORD_STEP.columns.failures.name == "failed_password_attempts"
    assert SECOND_FACTOR_STEP.counts_streak and not PASSWORD_STEP.counts_streak
    with pytest.raises(TypeError, match="no column 'failed_pasword_attempts'"):
        Column("failed_pasword_attempts", int)
    with pytest.raises(TypeError, match="holds datetime, not int"):
        Column("password_locked_until", int)
    with pytest.raises(TypeError, match="holds int, not datetime"):
        Column("code_failure_streak", datetime)


async def test_r12_three_wrong_passwords_lock_even_the_right_one(client, make_customer, make_user):
    user = await make_user(await make_customer(), "anna@example.com", PASSWORD)

    for _ in range(3):
        assert (await client.login("anna@example.com", "wrong-guess"))["__typename"] == "InvalidCredentials"
    locked = await client.login("anna@example.com", PASSWORD)

    assert locked["__typename"] == "InvalidCredentials"
    refreshed = await User.get(id=user.id)
    assert refreshed.failed_password_attempts == 3
    remaining = refreshed.password_locked_until - utcnow()
    assert timedelta(seconds=50) < remaining <= timedelta(minutes=1)
    assert await _kinds(user) == [
        "user_created",
        "login_failed",
        "login_failed",
        "login_failed",
        "password_lockout",
        "login_refused_locked",
    ]


async def test_s4_ten_parallel_wrong_passwords_reach_the_check_at_most_three_times(
    client, services, make_customer, make_user
):
    user = await make_user(await make_customer(), "anna@example.com", PASSWORD)
    checks_before = services.passwords.stats.checks

    results = await asyncio.gather(*(client.login("anna@example.com", f"wrong-guess-{i}") for i in range(10)))

    assert {r["__typename"] for r in results} == {"InvalidCredentials"}
    assert services.passwords.stats.checks - checks_before == 3
    refreshed = await User.get(id=user.id)
    assert refreshed.failed_password_attempts == 3
    assert refreshed.password_lockouts == 1
    assert refreshed.password_locked_until > utcnow()
    kinds = await _kinds(user)
    assert kinds.count(AuditKind.LOGIN_FAILED.value) == 3
    assert kinds.count(AuditKind.LOGIN_REFUSED_LOCKED.value) == 7
    assert kinds.count(AuditKind.PASSWORD_LOCKOUT.value) == 1


async def test_s4_lock_doubles_after_it_runs_out_and_success_resets(client, make_customer, make_user):
    user = await make_user(await make_customer(), "anna@example.com", PASSWORD)
    for _ in range(3):
        await client.login("anna@example.com", "wrong-guess")
    # The first lock has run out.
    await User.filter(id=user.id).update(password_locked_until=utcnow() - timedelta(seconds=1))

    for _ in range(3):
        await client.login("anna@example.com", "wrong-guess")

    second = await User.get(id=user.id)
    assert second.password_lockouts == 2
    assert second.password_locked_until - utcnow() > timedelta(seconds=110)

    await User.filter(id=user.id).update(password_locked_until=utcnow() - timedelta(seconds=1))
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "LoginSuccess"
    reset = await User.get(id=user.id)
    assert (reset.failed_password_attempts, reset.password_lockouts) == (0, 0)
    assert reset.password_locked_until is None


async def test_r12_success_resets_the_consecutive_count(client, make_customer, make_user):
    user = await make_user(await make_customer(), "anna@example.com", PASSWORD)
    for _ in range(2):
        await client.login("anna@example.com", "wrong-guess")
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "LoginSuccess"
    for _ in range(2):
        await client.login("anna@example.com", "wrong-guess")

    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "LoginSuccess"
    assert (await User.get(id=user.id)).password_locked_until is None
