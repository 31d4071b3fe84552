"""What a change of the account's credentials stops (R13, R16, R18, S18): every token in flight that the
old password or the old mailbox may have started, a conversion pending at another address, and the
remembered browsers; and a session ended meanwhile is no session for a sensitive change (R14)."""

from __future__ import annotations

from gql_server.clock import utcnow
from gql_server.enums import TokenPurpose
from gql_server.models import Customer, RememberedDevice, Session, Token, User
from gql_server.sessions import resolve_session
from gql_server.tokens import hash_token

from .flows import PASSWORD, convert, totp_code
from .mailbox import invitation_token_in, link_token_in

NEW_PASSWORD = "a brand new passphrase for anna"


async def _invitation_elsewhere(client, mailbox) -> str:
    """A thief with Anna's password has her invitation sent to their own address (R4): its token."""
    ticket = (await client.login("anna@example.com", PASSWORD))["ticket"]
    sent = (await client.run("RequestConversion", ticket=ticket, email="thief@example.net"))["requestConversion"]
    assert sent["__typename"] == "ConversionRequested", sent
    return invitation_token_in(await mailbox.next_to("thief@example.net", "invitation"))


async def test_r16_a_reset_ends_the_thiefs_invitation_and_sends_the_conversion_home(client, mailbox, anna):
    stolen = await _invitation_elsewhere(client, mailbox)
    assert (await client.run("Invitation", token=stolen))["invitation"] is not None
    await client.run("RequestPasswordReset", email="anna@example.com")
    link = link_token_in(await mailbox.next_to("anna@example.com", "password_reset"), "reset-password")

    reset = (await client.run("ResetPassword", token=link, newPassword=NEW_PASSWORD))["resetPassword"]

    assert reset["__typename"] == "ConversionPending", reset
    # The invitation the old password sent to the thief is dead (it would have needed no password, S34).
    assert (await client.run("Invitation", token=stolen))["invitation"] is None
    begun = (await client.run("BeginEnrollment", invitation=stolen, method="totp"))["beginEnrollment"]
    assert begun["__typename"] == "ChallengeExpired"
    user = await User.get(id=anna.id)
    # R4: still PENDING, now at the account's own address (a re-send goes there).
    assert (user.conversion.value, user.pending_email) == ("PENDING", None)


async def test_r16_a_password_change_ends_what_the_old_password_started(client, mailbox, anna):
    converted = await convert(client, mailbox, "anna@example.com")
    # A login challenge and an email-change link the holder of the old password started.
    await client.login("anna@example.com", PASSWORD)
    asked = await client.run("RequestEmailChange", bearer=converted.token, newEmail="thief@example.net")
    assert asked["requestEmailChange"]["__typename"] == "EmailChangeRequested"
    link = link_token_in(await mailbox.next_to("thief@example.net", "email_change"), "email-change")

    changed = (
        await client.run("ChangePassword", bearer=converted.token, currentPassword=PASSWORD, newPassword=NEW_PASSWORD)
    )["changePassword"]

    assert changed["__typename"] == "PasswordChanged", changed
    assert (await client.run("ConfirmEmailChange", token=link))["confirmEmailChange"]["__typename"] == (
        "ChallengeExpired"
    )
    live = Token.filter(user_id=anna.id, used_at=None).exclude(purpose=TokenPurpose.REPORT_CHANGE)
    assert await live.count() == 0
    assert (await User.get(id=anna.id)).email == "anna@example.com"


async def test_r13_an_address_change_ends_a_reset_link_sent_to_the_old_address(client, mailbox, anna):
    converted = await convert(client, mailbox, "anna@example.com")
    await client.run("RequestPasswordReset", email="anna@example.com")
    old_link = link_token_in(await mailbox.next_to("anna@example.com", "password_reset"), "reset-password")
    await client.run("RequestEmailChange", bearer=converted.token, newEmail="anna.k@example.org")
    link = link_token_in(await mailbox.next_to("anna.k@example.org", "email_change"), "email-change")

    assert (await client.run("ConfirmEmailChange", token=link))["confirmEmailChange"]["__typename"] == "EmailChanged"

    # Whoever keeps the old mailbox cannot use what was sent there before.
    reset = (await client.run("ResetPassword", token=old_link, newPassword=NEW_PASSWORD))["resetPassword"]
    assert reset["__typename"] == "ChallengeExpired"


async def test_r18_r15_a_factor_added_then_removed_again_leaves_no_browser_remembered(client, mailbox, acme, anna):
    await Customer.filter(id=acme.id).update(remember_device_days=7)
    converted = await convert(client, mailbox, "anna@example.com")
    challenge = (await client.login("anna@example.com", PASSWORD))["challenge"]
    remembered = await client.run(
        "VerifySecondFactor",
        challenge=challenge,
        method="totp",
        code=totp_code(converted.secret, 1),
        rememberDevice=True,
    )
    token = remembered["verifySecondFactor"]["token"]
    begun = (await client.run("AddFactor", bearer=token, method="totp"))["addFactor"]
    added = await client.run(
        "ConfirmFactor", bearer=token, enrollment=begun["enrollment"], code=totp_code(begun["secret"])
    )
    factor = added["confirmFactor"]["factor"]["id"]

    removed = (await client.run("RemoveFactor", bearer=token, id=factor))["removeFactor"]

    assert removed["__typename"] == "FactorUpdated"
    # The factors are as they were when the browser was remembered; the browser is forgotten all the same.
    assert not await RememberedDevice.filter(user_id=anna.id).exists()
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "SecondFactorRequired"


async def test_r14_a_session_ended_since_the_request_began_changes_nothing(client, services, mailbox, anna):
    converted = await convert(client, mailbox, "anna@example.com")
    session = await resolve_session(converted.token, services.sessions)
    assert session is not None
    # A parallel request (a report, a password change elsewhere) ends it after this request read it.
    await Session.filter(token_hash=hash_token(converted.token)).update(ended_at=utcnow())

    refused = await services.step_up.required(session)

    assert type(refused).__name__ == "AuthenticationRequired"
