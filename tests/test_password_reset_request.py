"""R16 "forgot your password": `requestPasswordReset` answers the same for any address and mails a
single-use, one-hour link only to an account's own address; the reset never skips a second factor, and
(S34) a code to the mailbox that got the link is no second factor until a factor outside it is proven."""

from __future__ import annotations

import asyncio

import pytest

from gql_server.audit import AuditKind
from gql_server.clock import utcnow
from gql_server.crypto import Keyring
from gql_server.enums import MembershipLevel, TokenPurpose
from gql_server.limits import PASSWORD_RESETS_PER_HOUR
from gql_server.models import AuditEvent, EnrolledFactor, MailOutbox, RecoveryCode, Token

from .flows import PASSWORD, convert, enroll, totp_code, verify
from .mailbox import code_in, invitation_token_in, link_token_in

NEW_PASSWORD = "a brand new passphrase for carl"


@pytest.fixture
async def carl(make_customer, make_user):
    return await make_user(await make_customer("Relaxed Oy"), "carl@example.com", PASSWORD, MembershipLevel.COMPANY)


async def _request(client, email: str) -> dict:
    return (await client.run("RequestPasswordReset", email=email))["requestPasswordReset"]


async def _reset(client, token: str, password: str = NEW_PASSWORD) -> dict:
    return (await client.run("ResetPassword", token=token, newPassword=password))["resetPassword"]


async def test_r16_a_forgotten_password_is_reset_with_the_link_to_the_account_s_own_address(client, mailbox, carl):
    answer = await _request(client, "Carl@Example.com")
    message = await mailbox.next_to("carl@example.com", "password_reset")

    reset = await _reset(client, link_token_in(message, "reset-password"))
    again = await _reset(client, link_token_in(message, "reset-password"), "yet another passphrase here")

    assert answer["__typename"] == "PasswordResetRequested", answer
    assert reset["__typename"] == "LoginSuccess", reset
    assert again["__typename"] == "ChallengeExpired"  # single use
    assert (await client.login("carl@example.com", NEW_PASSWORD))["__typename"] == "LoginSuccess"
    assert await AuditEvent.filter(kind=AuditKind.PASSWORD_RESET_REQUESTED, subject_id=carl.id).count() == 1


async def test_r16_an_unknown_address_gets_the_same_answer_and_no_mail(client, mailbox, carl):
    known = await _request(client, "carl@example.com")
    await mailbox.next_to("carl@example.com", "password_reset")

    unknown = await _request(client, "nobody@example.com")
    await asyncio.sleep(0.2)

    assert unknown == known
    assert not [m for m in mailbox.messages if m["To"] == "nobody@example.com"]
    assert await MailOutbox.filter(recipient="nobody@example.com").count() == 0
    assert await AuditEvent.filter(kind=AuditKind.PASSWORD_RESET_REQUESTED).count() == 1  # carl's only


@pytest.mark.parametrize("email", ["", "not an address", "carl@", "x" * 400 + "@example.com"])
async def test_r16_a_malformed_address_is_invalid_input(client, mailbox, carl, email):
    answer = await _request(client, email)

    assert answer["__typename"] == "InvalidInput" and answer["field"] == "email", answer
    assert not await Token.filter(purpose=TokenPurpose.PASSWORD_RESET).exists()


async def test_r16_beyond_the_hourly_links_the_answer_is_the_same_and_nothing_is_sent(client, mailbox, carl):
    answers = [await _request(client, "carl@example.com") for _ in range(PASSWORD_RESETS_PER_HOUR + 2)]
    await asyncio.sleep(0.3)

    assert {a["__typename"] for a in answers} == {"PasswordResetRequested"}
    assert len({a["message"] for a in answers}) == 1
    issued = await Token.filter(user_id=carl.id, purpose=TokenPurpose.PASSWORD_RESET).count()
    assert issued == PASSWORD_RESETS_PER_HOUR
    # Each new link replaces the one before: only the newest works.
    assert await Token.filter(user_id=carl.id, purpose=TokenPurpose.PASSWORD_RESET, used_at=None).count() == 1


async def test_r16_a_reset_never_yields_a_one_factor_session_for_a_two_factor_user(client, mailbox, anna):
    await convert(client, mailbox, "anna@example.com")

    await _request(client, "anna@example.com")
    message = await mailbox.next_to("anna@example.com", "password_reset")
    reset = await _reset(client, link_token_in(message, "reset-password"))

    assert reset["__typename"] == "SecondFactorRequired", reset


# --- S34: a reset by link never lets the mailbox answer the second factor too --------------------------------


async def _reset_by_link(client, mailbox, email: str, password: str = NEW_PASSWORD) -> dict:
    await _request(client, email)
    return await _reset(
        client, link_token_in(await mailbox.next_to(email, "password_reset"), "reset-password"), password
    )


def _method_ids(answer: dict) -> list[str]:
    assert answer["__typename"] == "SecondFactorRequired", answer
    return [m["id"] for m in answer["methods"]]


async def _send(client, challenge_token: str, method: str = "email_code") -> dict:
    return (await client.run("SendLoginCode", challenge=challenge_token, method=method))["sendLoginCode"]


async def _login_codes_to(email: str) -> int:
    return await MailOutbox.filter(recipient=email, template="login_code").count()


async def test_r16_s34_an_email_code_user_s_reset_takes_a_recovery_code_not_the_mailbox(client, mailbox, anna):
    converted = await convert(client, mailbox, "anna@example.com", "email_code")

    reset = await _reset_by_link(client, mailbox, "anna@example.com")
    sent = await _send(client, reset["challenge"])
    guessed = await verify(client, reset["challenge"], "email_code", "123456")
    await asyncio.sleep(0.2)

    # The reset link went to the mailbox: a code to the same mailbox is no second factor (S34, R16).
    assert _method_ids(reset) == ["recovery_code"]
    assert sent["__typename"] == "MethodNotAvailable", sent
    assert guessed["__typename"] == "MethodNotAvailable", guessed
    assert await _login_codes_to("anna@example.com") == 0
    # A recovery code finishes it, and the challenge still took it after the refusals.
    finished = await verify(client, reset["challenge"], "recovery_code", converted.recovery_codes[0])
    assert finished["__typename"] == "LoginSuccess", finished


async def test_r16_s34_the_new_password_alone_does_not_bring_the_mailbox_back(client, mailbox, anna):
    converted = await convert(client, mailbox, "anna@example.com", "email_code")
    await _reset_by_link(client, mailbox, "anna@example.com")

    # Whoever chose the new password logs in with it: still no code to the mailbox (S34).
    login = await client.login("anna@example.com", NEW_PASSWORD)
    sent = await _send(client, login["challenge"])
    assert _method_ids(login) == ["recovery_code"]
    assert sent["__typename"] == "MethodNotAvailable", sent
    assert await _login_codes_to("anna@example.com") == 0

    # A recovery code proves the owner: from then on the emailed codes count again.
    finished = await verify(client, login["challenge"], "recovery_code", converted.recovery_codes[0])
    assert finished["__typename"] == "LoginSuccess", finished
    again = await client.login("anna@example.com", NEW_PASSWORD)
    assert _method_ids(again) == ["email_code", "recovery_code"]
    assert (await _send(client, again["challenge"]))["__typename"] == "CodeSent"
    code = code_in(await mailbox.next_to("anna@example.com", "login_code"))
    assert (await verify(client, again["challenge"], "email_code", code))["__typename"] == "LoginSuccess"


async def test_r16_s34_a_normal_login_of_an_email_code_user_still_offers_the_emailed_code(client, mailbox, anna):
    await convert(client, mailbox, "anna@example.com", "email_code")

    login = await client.login("anna@example.com", PASSWORD)
    sent = await _send(client, login["challenge"])
    code = code_in(await mailbox.next_to("anna@example.com", "login_code"))

    assert _method_ids(login) == ["email_code", "recovery_code"]
    assert sent["__typename"] == "CodeSent", sent
    assert (await verify(client, login["challenge"], "email_code", code))["__typename"] == "LoginSuccess"


async def test_r16_s34_a_totp_user_s_reset_still_takes_the_authenticator_app(client, mailbox, anna):
    converted = await convert(client, mailbox, "anna@example.com", "totp")

    reset = await _reset_by_link(client, mailbox, "anna@example.com")
    finished = await verify(client, reset["challenge"], "totp", totp_code(converted.secret or "", 1))

    assert _method_ids(reset) == ["totp", "recovery_code"]
    assert finished["__typename"] == "LoginSuccess", finished


async def test_r16_s34_a_user_with_email_and_totp_resets_with_totp_and_gets_email_back(client, mailbox, anna, settings):
    converted = await convert(client, mailbox, "anna@example.com", "totp")
    state = Keyring(settings.resolved_secret_key).encrypt_state({"email": "anna@example.com"})
    await EnrolledFactor.create(user=anna, method="email_code", state_encrypted=state, created_at=utcnow())

    reset = await _reset_by_link(client, mailbox, "anna@example.com")
    assert _method_ids(reset) == ["totp", "recovery_code"]
    assert (await _send(client, reset["challenge"]))["__typename"] == "MethodNotAvailable"
    finished = await verify(client, reset["challenge"], "totp", totp_code(converted.secret or "", 1))

    assert finished["__typename"] == "LoginSuccess", finished
    assert _method_ids(await client.login("anna@example.com", NEW_PASSWORD)) == ["totp", "email_code", "recovery_code"]


async def test_r16_s34_with_no_recovery_code_left_the_operator_s_reset_factors_is_the_way(
    client, mailbox, anna, operator
):
    await convert(client, mailbox, "anna@example.com", "email_code")
    await RecoveryCode.filter(user_id=anna.id).delete()  # all used up

    reset = await _reset_by_link(client, mailbox, "anna@example.com")
    assert _method_ids(reset) == ["recovery_code"]  # and none left: the mailbox alone gets nowhere

    await operator.reset_factors("anna@example.com")
    invitation = invitation_token_in(await mailbox.next_to("anna@example.com", "invitation"))
    # S34: finishing it needs the password, which the reset by link set (that is allowed to precede it).
    await enroll(client, mailbox, invitation, "email_code", email="anna@example.com", password=NEW_PASSWORD)

    # The factors started afresh: the emailed code counts again at the next login.
    assert _method_ids(await client.login("anna@example.com", NEW_PASSWORD)) == ["email_code", "recovery_code"]
