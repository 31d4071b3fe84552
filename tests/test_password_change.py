"""R16 changePassword: the current password under the login's own limits (S4), a recent second factor for
two-factor users (R14), a new password that follows S2/S31; the other sessions end, this one stays (S18),
and the account's address is told with a "this wasn't me" link (R13)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gql_server.audit import AuditKind
from gql_server.clock import utcnow
from gql_server.enums import Assurance, MembershipLevel
from gql_server.limits import PASSWORD_ATTEMPTS, STEP_UP_WINDOW
from gql_server.models import AuditEvent, MailOutbox, Session, User
from gql_server.sessions import create_session
from gql_server.tokens import hash_token

from .flows import PASSWORD, challenge, convert, totp_code, verify
from .graphql import GraphQLClient
from .mailbox import link_token_in

NEW_PASSWORD = "a brand new passphrase"
# PASSWORD typed with full-width letters (U+FF43 for "c", ...), which NFKC makes the plain letters (S31).
FULL_WIDTH_PASSWORD = "".join(chr(ord(c) + 0xFEE0) if c != " " else c for c in PASSWORD)


async def _change(client: GraphQLClient, token: str | None, current: str, new: str) -> dict[str, object]:
    answer = (await client.run("ChangePassword", bearer=token, currentPassword=current, newPassword=new))[
        "changePassword"
    ]
    assert isinstance(answer, dict)
    return answer


async def _viewer(client: GraphQLClient, token: str) -> object:
    return (await client.run("Viewer", bearer=token))["viewer"]


@pytest.fixture
async def pekka(make_customer, make_user) -> User:
    """A password user of a customer that does not enforce two factors."""
    return await make_user(await make_customer("Open Oy"), "pekka@example.com", PASSWORD, MembershipLevel.COMPANY)


@pytest.fixture
async def totp_user(client, mailbox, anna):
    """Anna, converted with an authenticator app (her session from the enrollment is verified now)."""
    return await convert(client, mailbox, "anna@example.com", "totp")


async def test_r16_s18_a_password_user_changes_it_with_the_current_one_and_the_other_sessions_end(
    client, mailbox, pekka
):
    current = await client.login_token("pekka@example.com", PASSWORD)
    other = await client.login_token("pekka@example.com", PASSWORD)

    changed = await _change(client, current, PASSWORD, NEW_PASSWORD)

    assert changed["__typename"] == "PasswordChanged", changed
    session = changed["session"]
    assert isinstance(session, dict) and (session["assurance"], session["verifiedAt"]) == ("PASSWORD", None)
    # S18: this session stays, the other one ended.
    assert await _viewer(client, current) is not None
    assert await _viewer(client, other) is None
    # The old password no longer signs in, the new one does.
    assert (await client.login("pekka@example.com", PASSWORD))["__typename"] == "InvalidCredentials"
    assert (await client.login("pekka@example.com", NEW_PASSWORD))["__typename"] == "LoginSuccess"
    # R13: the account's address is told, with a "this wasn't me" link.
    notice = await mailbox.next_to("pekka@example.com", "notice_password_changed")
    assert link_token_in(notice, "report")
    event = await AuditEvent.get(kind=AuditKind.PASSWORD_CHANGED.value)
    assert (event.subject_id, event.actor_id, event.data["sessions"]) == (pekka.id, pekka.id, 1)


async def test_r16_s4_a_wrong_current_password_is_refused_and_counts_toward_the_lockout(client, pekka):
    token = await client.login_token("pekka@example.com", PASSWORD)

    wrong = await _change(client, token, "not the password", NEW_PASSWORD)

    assert wrong == {"__typename": "InvalidCredentials", "message": "Wrong email or password."}
    assert (await User.get(id=pekka.id)).failed_password_attempts == 1
    for _ in range(PASSWORD_ATTEMPTS - 1):
        await _change(client, token, "not the password", NEW_PASSWORD)
    # S4: the password step is locked now, for the login and for this form alike; the right password too.
    assert (await User.get(id=pekka.id)).password_locked_until is not None
    assert (await _change(client, token, PASSWORD, NEW_PASSWORD))["__typename"] == "InvalidCredentials"
    assert (await client.login("pekka@example.com", PASSWORD))["__typename"] == "InvalidCredentials"
    assert not await AuditEvent.filter(kind=AuditKind.PASSWORD_CHANGED.value).exists()
    await User.filter(id=pekka.id).update(password_locked_until=None)
    assert (await client.login("pekka@example.com", PASSWORD))["__typename"] == "LoginSuccess"


@pytest.mark.parametrize(
    ("new", "why"),
    [
        ("password123", "too common"),
        ("short", "at least 8"),
        (PASSWORD, "the one you have now"),
        # S31: the same password typed in full-width characters is the same password.
        (FULL_WIDTH_PASSWORD, "the one you have now"),
    ],
)
async def test_r16_s2_a_refused_new_password_changes_nothing(client, mailbox, pekka, new, why):
    current = await client.login_token("pekka@example.com", PASSWORD)
    other = await client.login_token("pekka@example.com", PASSWORD)

    refused = await _change(client, current, PASSWORD, new)

    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "newPassword")
    assert why in str(refused["message"])
    assert await _viewer(client, other) is not None
    assert (await User.get(id=pekka.id)).failed_password_attempts == 0
    assert not await MailOutbox.filter(template="notice_password_changed").exists()
    assert (await client.login("pekka@example.com", PASSWORD))["__typename"] == "LoginSuccess"


async def test_r16_a_weak_new_password_is_refused_before_the_current_one_is_checked(client, pekka):
    token = await client.login_token("pekka@example.com", PASSWORD)

    refused = await _change(client, token, "not the password", "password123")

    # No attempt was spent: a refused form costs the user nothing toward the lockout.
    assert refused["__typename"] == "InvalidInput"
    assert (await User.get(id=pekka.id)).failed_password_attempts == 0


async def test_r16_r14_a_two_factor_user_needs_a_recent_second_factor(client, mailbox, services, anna, totp_user):
    other = (await create_session(anna, Assurance.TWO_FACTOR, services.sessions, factor_verified=True)).token
    await Session.filter(token_hash=hash_token(totp_user.token)).update(
        verified_at=utcnow() - STEP_UP_WINDOW - timedelta(seconds=1)
    )

    refused = await _change(client, totp_user.token, PASSWORD, NEW_PASSWORD)

    assert refused["__typename"] == "ReauthenticationRequired"
    assert refused["methods"] == ["totp", "recovery_code"]
    # Nothing was checked or changed: the current password was not even looked at.
    assert (await User.get(id=anna.id)).failed_password_attempts == 0
    assert await _viewer(client, other) is not None

    stepped = await client.run(
        "Reauthenticate", bearer=totp_user.token, method="totp", code=totp_code(totp_user.secret, 1)
    )
    assert stepped["reauthenticate"]["__typename"] == "Reauthenticated"
    changed = await _change(client, totp_user.token, PASSWORD, NEW_PASSWORD)

    assert changed["__typename"] == "PasswordChanged", changed
    assert changed["session"]["assurance"] == "TWO_FACTOR"  # type: ignore[index]
    assert await _viewer(client, totp_user.token) is not None
    assert await _viewer(client, other) is None
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "InvalidCredentials"
    # R6: the new password is still only the first step (`challenge` asserts SecondFactorRequired).
    done = await verify(
        client, await challenge(client, "anna@example.com", NEW_PASSWORD), "recovery_code", totp_user.recovery_codes[0]
    )
    assert done["__typename"] == "LoginSuccess"
    await mailbox.next_to("anna@example.com", "notice_password_changed")


async def test_r16_a_wrong_current_password_of_a_two_factor_user_counts_too(client, anna, totp_user):
    wrong = await _change(client, totp_user.token, "not the password", NEW_PASSWORD)

    assert wrong["__typename"] == "InvalidCredentials"
    assert (await User.get(id=anna.id)).failed_password_attempts == 1


async def test_r16_without_a_session_or_from_a_restricted_one(client, services, anna):
    client.forget_cookies()
    assert (await _change(client, None, PASSWORD, NEW_PASSWORD))["__typename"] == "AuthenticationRequired"
    # Anna's customer enforces two factors and she has not converted: her password session reads `viewer`
    # only (R10); she changes her password by converting, or through a reset link.
    restricted = (await create_session(anna, Assurance.PASSWORD, services.sessions)).token

    refused = await _change(client, restricted, PASSWORD, NEW_PASSWORD)

    assert refused["__typename"] == "AuthenticationRequired"
    assert (await User.get(id=anna.id)).failed_password_attempts == 0


async def test_r13_r16_this_wasnt_me_after_a_password_change_ends_every_session(client, mailbox, pekka):
    token = await client.login_token("pekka@example.com", PASSWORD)
    await _change(client, token, PASSWORD, NEW_PASSWORD)
    notice = await mailbox.next_to("pekka@example.com", "notice_password_changed")

    reported = (await client.run("ReportUnrecognizedChange", token=link_token_in(notice, "report")))[
        "reportUnrecognizedChange"
    ]

    assert (reported["__typename"], reported["cancelled"]) == ("ChangeReported", False)
    assert await _viewer(client, token) is None
    # The password that was set is refused until it is reset through the account's address.
    assert (await client.login("pekka@example.com", NEW_PASSWORD))["__typename"] == "InvalidCredentials"
    await mailbox.next_to("pekka@example.com", "password_reset")
