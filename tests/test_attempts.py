"""S35 and S41 in one process: attempts that never get a verdict count nothing and hold their place for two
minutes at most; correct secrets are never refused as wrong because of them; 100 wrong codes in a row leave
only recovery codes. (Crashes, shutdown and a database outage: tests/test_attempt_faults.py.)"""

from __future__ import annotations

import asyncio
import base64
import os
from datetime import timedelta

import pytest

from gql_server.audit import AuditKind
from gql_server.clock import utcnow
from gql_server.limits import RESERVATION_LIFETIME, STREAK_CAP
from gql_server.models import AuditEvent, Session, User
from gql_server.tokens import hash_token

from . import plugin_fakes
from .flows import PASSWORD, challenge, convert, totp_code, verify
from .test_plugin_kit import FAKES, _enroll_flaky

RECOVERY_MESSAGE = "recovery code"


def slow_hash(passes: int) -> str:
    """An argon2id hash that no password matches and whose check takes `passes` x ~25 ms (S1: the cost
    parameters are read from the stored hash): a password check that is in flight for a while."""

    def b64(size: int) -> str:
        return base64.b64encode(os.urandom(size)).decode().rstrip("=")

    return f"$argon2id$v=19$m=19456,t={passes},p=1${b64(16)}${b64(32)}"


async def until(condition, what: str, seconds: float = 10.0) -> None:
    """Poll the database until `condition()` holds (a request reached a point), at most `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                if await condition():
                    return
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"waited {seconds} s for {what}") from None


async def _kinds(user: User) -> list[str]:
    return [e.kind for e in await AuditEvent.filter(subject_id=user.id).order_by("id")]


@pytest.mark.parametrize("parallel", [4, 6, 10])
async def test_s35_parallel_correct_logins_get_a_session_or_a_retryable_answer(
    client, make_customer, make_user, parallel
):
    user = await make_user(await make_customer(), "anna@example.com", PASSWORD)

    results = await asyncio.gather(*(client.login("anna@example.com", PASSWORD) for _ in range(parallel)))

    kinds = [r["__typename"] for r in results]
    assert set(kinds) <= {"LoginSuccess", "TooManyAttempts"}, kinds
    assert "LoginSuccess" in kinds
    assert all(r["retryAfterSeconds"] >= 1 for r in results if r["__typename"] == "TooManyAttempts")
    assert AuditKind.LOGIN_REFUSED_LOCKED.value not in await _kinds(user)
    after = await User.get(id=user.id)
    assert (after.failed_password_attempts, after.password_reserved, after.password_locked_until) == (0, 0, None)


async def test_s35_a_login_cancelled_mid_check_leaves_no_reservation_and_counts_nothing(
    client, make_customer, make_user
):
    user = await make_user(await make_customer(), "anna@example.com", PASSWORD)
    real_hash = user.password_hash
    await User.filter(id=user.id).update(password_hash=slow_hash(40))

    login = asyncio.create_task(client.login("anna@example.com", "whatever-was-typed"))

    async def checking() -> bool:
        # Its attempt is counted in (reserved, or counted as a failure as it was before S35).
        now = await User.get(id=user.id)
        return now.password_reserved + now.failed_password_attempts == 1

    await until(checking, "the password check to start")
    login.cancel()  # as uvicorn does at the shutdown deadline: CancelledError, not an Exception
    with pytest.raises(asyncio.CancelledError):
        await login
    after = await User.get(id=user.id)
    assert (after.failed_password_attempts, after.password_reserved) == (0, 0)
    await User.filter(id=user.id).update(password_hash=real_hash)
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "LoginSuccess"


async def test_s35_places_held_by_attempts_in_flight_are_retryable_and_expire_after_two_minutes(
    client, make_customer, make_user
):
    user = await make_user(await make_customer(), "anna@example.com", PASSWORD)
    # Two wrong passwords, and one attempt whose request is still checking (or died doing so).
    await User.filter(id=user.id).update(failed_password_attempts=2, password_reserved=1, password_reserved_at=utcnow())

    held = await client.login("anna@example.com", PASSWORD)
    await User.filter(id=user.id).update(password_reserved_at=utcnow() - RESERVATION_LIFETIME - timedelta(seconds=1))
    expired = await client.login("anna@example.com", PASSWORD)

    assert held["__typename"] == "TooManyAttempts" and held["retryAfterSeconds"] >= 1, held
    assert expired["__typename"] == "LoginSuccess", expired
    assert AuditKind.LOGIN_REFUSED_LOCKED.value not in await _kinds(user)
    after = await User.get(id=user.id)
    assert (after.failed_password_attempts, after.password_reserved) == (0, 0)


class TestSecondFactor:
    @pytest.fixture
    def settings_overrides(self):
        return {**FAKES, "gql_server_plugin_timeout_seconds": 30}

    @pytest.fixture(autouse=True)
    def reset_fakes(self):
        plugin_fakes.MODE["send"] = "ok"
        yield

    @pytest.fixture
    async def flaky_challenge(self, client, mailbox, make_user, make_customer):
        return await _enroll_flaky(client, mailbox, make_user, await make_customer("Acme Oy", enforce=True))

    async def test_s35_a_verification_cancelled_mid_check_leaves_no_reservation(self, client, flaky_challenge):
        anna = await User.get(email="anna@example.com")
        plugin_fakes.STALLING.clear()
        verifying = asyncio.create_task(verify(client, flaky_challenge, "flaky", "hang"))

        async def checking() -> bool:
            return plugin_fakes.STALLING.is_set()

        await until(checking, "the plugin's check to start")
        verifying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await verifying
        after = await User.get(id=anna.id)
        assert (after.failed_code_attempts, after.code_failure_streak, after.code_reserved) == (0, 0, 0)
        assert (await verify(client, flaky_challenge, "flaky", "100001"))["__typename"] == "LoginSuccess"

    async def test_s35_r14_a_step_up_cancelled_mid_check_counts_nothing(self, client, flaky_challenge):
        token = (await verify(client, flaky_challenge, "flaky", "100001"))["token"]
        await Session.filter(token_hash=hash_token(token)).update(verified_at=None)
        plugin_fakes.STALLING.clear()
        stepping_up = asyncio.create_task(client.run("Reauthenticate", bearer=token, method="flaky", code="hang"))

        async def checking() -> bool:
            return plugin_fakes.STALLING.is_set()

        await until(checking, "the plugin's check to start")
        stepping_up.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stepping_up
        anna = await User.get(email="anna@example.com")
        session = await Session.get(token_hash=hash_token(token))
        # Neither the session's step-up budget nor the user's second-factor round lost a place.
        assert (session.step_up_failures, anna.failed_code_attempts, anna.code_reserved) == (0, 0, 0)
        done = await client.run("Reauthenticate", bearer=token, method="flaky", code="100002")
        assert done["reauthenticate"]["__typename"] == "Reauthenticated"

    async def test_s35_a_full_second_factor_round_is_retryable_not_a_wrong_code(self, client, flaky_challenge):
        anna = await User.get(email="anna@example.com")
        await User.filter(id=anna.id).update(failed_code_attempts=9, code_reserved=1, code_reserved_at=utcnow())

        held = await verify(client, flaky_challenge, "flaky", "100001")
        await User.filter(id=anna.id).update(code_reserved_at=utcnow() - RESERVATION_LIFETIME - timedelta(seconds=1))
        expired = await verify(client, flaky_challenge, "flaky", "100002")

        assert held["__typename"] == "TooManyAttempts" and held["retryAfterSeconds"] >= 1, held
        assert expired["__typename"] == "LoginSuccess", expired
        assert AuditKind.SECOND_FACTOR_REFUSED_LOCKED.value not in await _kinds(anna)


# --- S41 ------------------------------------------------------------------------------------------


async def test_s41_a_hundred_wrong_codes_in_a_row_leave_only_recovery_codes(client, mailbox, acme, make_user):
    anna = await make_user(acme, "anna@example.com", PASSWORD)
    converted = await convert(client, mailbox, "anna@example.com", "totp")
    # 99 wrong codes over earlier rounds (each lockout of S6 has run out).
    await User.filter(id=anna.id).update(code_failure_streak=STREAK_CAP - 1)

    hundredth = await verify(client, await challenge(client, "anna@example.com"), "totp", "000000")
    capped_login = await client.login("anna@example.com", PASSWORD)
    right_totp = await verify(client, capped_login["challenge"], "totp", totp_code(converted.secret, 1))
    wrong_recovery = await verify(client, capped_login["challenge"], "recovery_code", "AAAA-BBBB-CCCC-DDDD")
    recovered = await verify(client, capped_login["challenge"], "recovery_code", converted.recovery_codes[0])
    after_login = await client.login("anna@example.com", PASSWORD)
    totp_again = await verify(client, after_login["challenge"], "totp", totp_code(converted.secret, 1))

    assert hundredth["__typename"] == "InvalidCode"
    assert [m["id"] for m in capped_login["methods"]] == ["recovery_code"]
    assert right_totp["__typename"] == "MethodNotAvailable" and RECOVERY_MESSAGE in right_totp["message"]
    assert wrong_recovery["__typename"] == "InvalidCode"
    assert recovered["__typename"] == "LoginSuccess"
    assert [m["id"] for m in after_login["methods"]] == ["totp", "recovery_code"]
    assert totp_again["__typename"] == "LoginSuccess"
    assert await AuditEvent.filter(kind=AuditKind.SECOND_FACTOR_CAPPED.value, subject_id=anna.id).count() == 1
    assert (await User.get(id=anna.id)).code_failure_streak == 0


async def test_s41_no_code_is_sent_while_capped_and_an_operator_reset_lifts_the_cap(
    client, mailbox, operator, acme, make_user
):
    anna = await make_user(acme, "anna@example.com", PASSWORD)
    await convert(client, mailbox, "anna@example.com", "email_code")
    await User.filter(id=anna.id).update(code_failure_streak=STREAK_CAP)
    token = await challenge(client, "anna@example.com")
    mailbox.clear()

    refused = (await client.run("SendLoginCode", challenge=token, method="email_code"))["sendLoginCode"]
    await operator.reset_factors("anna@example.com")

    assert refused["__typename"] == "MethodNotAvailable" and RECOVERY_MESSAGE in refused["message"]
    # Two mails, each delivered by the outbox on its own: in either order.
    assert sorted(m["X-Gql-Template"] for m in await mailbox.wait_for(2)) == ["factor_removed", "invitation"]
    assert (await User.get(id=anna.id)).code_failure_streak == 0
