"""R16 "forgot your password": `requestPasswordReset` answers the same for any address and mails a
single-use, one-hour link only to an account's own address; the reset never skips a second factor."""

from __future__ import annotations

import asyncio

import pytest

from gql_server.audit import AuditKind
from gql_server.enums import MembershipLevel, TokenPurpose
from gql_server.limits import PASSWORD_RESETS_PER_HOUR
from gql_server.models import AuditEvent, MailOutbox, Token

from .flows import PASSWORD, convert
from .mailbox import link_token_in

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
