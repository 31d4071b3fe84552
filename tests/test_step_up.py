"""R14 step-up: a second factor verified in the last 10 minutes, or ReauthenticationRequired and
`reauthenticate`, under the login step's own budgets (S5, S6, S8, S10, S11): step-up is no side door."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gql_server.audit import AuditKind
from gql_server.clock import utcnow
from gql_server.enums import MembershipLevel
from gql_server.limits import STEP_UP_ATTEMPTS, STEP_UP_WINDOW
from gql_server.models import AuditEvent, Customer, Session, User
from gql_server.sessions import resolve_session
from gql_server.tokens import hash_token

from .flows import PASSWORD, challenge, convert, totp_code, verify
from .mailbox import code_in


def wrong_code(secret: str) -> str:
    """A six-digit code that is none of the codes valid around now."""
    valid = {totp_code(secret, step) for step in (-1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in valid)


async def _age(token: str, by: timedelta = STEP_UP_WINDOW + timedelta(seconds=1)) -> None:
    """The session's second factor was verified `by` ago (the clock is the database's; the rule reads it)."""
    await Session.filter(token_hash=hash_token(token)).update(verified_at=utcnow() - by)


async def _gate(services, token: str):
    session = await resolve_session(token, services.sessions)
    return await services.step_up.required(session)


async def _reauthenticate(client, token: str, method: str, code: str) -> dict:
    return (await client.run("Reauthenticate", bearer=token, method=method, code=code))["reauthenticate"]


@pytest.fixture
async def totp_user(client, mailbox, anna):
    """Anna, converted with an authenticator app (her session from the enrollment is verified now)."""
    return await convert(client, mailbox, "anna@example.com", "totp")


async def test_r14_a_two_factor_login_starts_the_window_a_password_login_does_not(
    client, services, make_customer, make_user, totp_user
):
    token = (await verify(client, await challenge(client, "anna@example.com"), "totp", totp_code(totp_user.secret, 1)))[
        "token"
    ]
    viewer = (await client.run("Viewer", bearer=token))["viewer"]
    assert viewer["session"]["verifiedAt"] is not None
    assert isinstance(await _gate(services, token), User)

    open_customer = await make_customer("Open Oy")
    await make_user(open_customer, "pekka@example.com", PASSWORD, MembershipLevel.COMPANY)
    password_token = await client.login_token("pekka@example.com", PASSWORD)
    assert (await client.run("Viewer", bearer=password_token))["viewer"]["session"]["verifiedAt"] is None
    refused = await _gate(services, password_token)
    assert type(refused).__name__ == "ReauthenticationRequired" and refused.methods == []


async def test_r14_an_expired_step_up_is_refused_then_reauthenticate_allows_it(client, services, totp_user):
    await _age(totp_user.token)
    refused = await _gate(services, totp_user.token)
    assert type(refused).__name__ == "ReauthenticationRequired"
    assert refused.methods == ["totp", "recovery_code"]

    done = await _reauthenticate(client, totp_user.token, "totp", totp_code(totp_user.secret, 1))

    assert done["__typename"] == "Reauthenticated", done
    assert done["session"]["assurance"] == "TWO_FACTOR"
    assert isinstance(await _gate(services, totp_user.token), User)
    assert await AuditEvent.filter(kind=AuditKind.REAUTHENTICATED.value).count() == 1


async def test_r14_s8_the_code_of_the_login_cannot_be_replayed_for_step_up(client, totp_user):
    await _age(totp_user.token)
    # The enrollment accepted the current step: the same code again is a replay.
    replay = await _reauthenticate(client, totp_user.token, "totp", totp_code(totp_user.secret))
    assert replay["__typename"] == "InvalidCode"
    assert await AuditEvent.filter(kind=AuditKind.REPLAY_REFUSED.value).count() == 1


async def test_r14_s5_five_wrong_step_up_codes_end_the_session(client, totp_user):
    await _age(totp_user.token)
    wrong = wrong_code(totp_user.secret)
    left = [
        (await _reauthenticate(client, totp_user.token, "totp", wrong))["attemptsLeft"] for _ in range(STEP_UP_ATTEMPTS)
    ]

    assert left == [4, 3, 2, 1, 0]
    # The thief of a session cookie gets no sixth guess: the session is over, the right code changes nothing.
    after = await _reauthenticate(client, totp_user.token, "totp", totp_code(totp_user.secret, 1))
    assert after["__typename"] == "AuthenticationRequired"
    assert (await client.run("Viewer", bearer=totp_user.token))["viewer"] is None


async def test_r14_s6_step_up_failures_count_toward_the_login_steps_lockout(client, anna, totp_user):
    """Ten wrong codes lock the second-factor step (S6) whether they came at login or at step-up."""
    wrong = wrong_code(totp_user.secret)
    await _age(totp_user.token)
    for _ in range(5):
        await _reauthenticate(client, totp_user.token, "totp", wrong)
    token = await challenge(client, "anna@example.com")
    for _ in range(5):
        await verify(client, token, "totp", wrong)

    locked = await verify(client, await challenge(client, "anna@example.com"), "totp", totp_code(totp_user.secret, 1))

    assert locked["__typename"] == "TooManyAttempts"
    assert (await User.get(id=anna.id)).code_lockouts == 1


async def test_r14_a_locked_second_factor_step_locks_step_up_too(client, totp_user):
    wrong = wrong_code(totp_user.secret)
    for _ in range(2):
        token = await challenge(client, "anna@example.com")
        for _ in range(5):
            await verify(client, token, "totp", wrong)
    await _age(totp_user.token)

    locked = await _reauthenticate(client, totp_user.token, "totp", totp_code(totp_user.secret, 1))

    assert locked["__typename"] == "TooManyAttempts"
    assert (await Session.get(token_hash=hash_token(totp_user.token))).verified_at < utcnow() - STEP_UP_WINDOW


async def test_r14_s11_a_recovery_code_steps_up_once_and_notifies(client, mailbox, services, totp_user):
    await _age(totp_user.token)
    code = totp_user.recovery_codes[0]

    done = await _reauthenticate(client, totp_user.token, "recovery_code", code)
    assert done["__typename"] == "Reauthenticated"
    assert "recovery" in (await mailbox.next_to("anna@example.com", "recovery_code_used"))["Subject"].lower()

    await _age(totp_user.token)
    again = await _reauthenticate(client, totp_user.token, "recovery_code", code)
    assert again["__typename"] == "InvalidCode"


async def test_r14_s10_email_code_step_up(client, mailbox, services, anna):
    converted = await convert(client, mailbox, "anna@example.com", "email_code")
    await _age(converted.token)

    sent = (await client.run("SendReauthenticationCode", bearer=converted.token, method="email_code"))[
        "sendReauthenticationCode"
    ]
    assert sent["__typename"] == "CodeSent"
    code = code_in(await mailbox.next_to("anna@example.com", "login_code"))
    assert (await _reauthenticate(client, converted.token, "email_code", "000000" if code != "000000" else "111111"))[
        "__typename"
    ] == "InvalidCode"

    done = await _reauthenticate(client, converted.token, "email_code", code)

    assert done["__typename"] == "Reauthenticated"
    # Single use (S10).
    await _age(converted.token)
    assert (await _reauthenticate(client, converted.token, "email_code", code))["__typename"] == "InvalidCode"


async def test_r14_methods_the_user_has_not_enrolled_are_not_available(client, totp_user):
    await _age(totp_user.token)
    assert (await _reauthenticate(client, totp_user.token, "email_code", "123456"))["__typename"] == (
        "MethodNotAvailable"
    )
    sent = (await client.run("SendReauthenticationCode", bearer=totp_user.token, method="totp"))[
        "sendReauthenticationCode"
    ]
    assert sent["__typename"] == "MethodNotAvailable"


async def test_r14_without_a_session_there_is_nothing_to_step_up(client, make_customer, make_user):
    assert (await _reauthenticate(client, "", "totp", "123456"))["__typename"] == "AuthenticationRequired"
    sent = (await client.run("SendReauthenticationCode", method="email_code"))["sendReauthenticationCode"]
    assert sent["__typename"] == "ChallengeExpired"

    open_customer = await make_customer("Open Oy")
    await make_user(open_customer, "pekka@example.com", PASSWORD, MembershipLevel.COMPANY)
    password_token = await client.login_token("pekka@example.com", PASSWORD)
    assert (await _reauthenticate(client, password_token, "totp", "123456"))["__typename"] == "MethodNotAvailable"


async def test_r14_r10_a_restricted_session_cannot_step_up(client, services, make_customer, make_user):
    """A password session whose customer starts enforcing (R10) is no session for step-up."""
    open_customer = await make_customer("Open Oy")
    await make_user(open_customer, "pekka@example.com", PASSWORD, MembershipLevel.COMPANY)
    token = await client.login_token("pekka@example.com", PASSWORD)
    await Customer.filter(id=open_customer.id).update(enforce_two_factor=True)

    assert (await _reauthenticate(client, token, "totp", "123456"))["__typename"] == "AuthenticationRequired"
    assert type(await _gate(services, token)).__name__ == "AuthenticationRequired"
