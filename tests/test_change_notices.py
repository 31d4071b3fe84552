"""R13 on the conversion path, the enumeration fix of R4, and the reset link (R16's minimal part).

A password alone must not take an account quietly: an invitation to another address is announced to the
account's own address with a "this wasn't me" link, and so is the completed change. The link stops a
pending change, ends every session and refuses the password until it is reset through the account's
address. Mail is read from the test's real SMTP server.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from gql_server.audit import AuditKind
from gql_server.clock import utcnow
from gql_server.enums import Assurance, ConversionState, LoginMethod, TokenPurpose
from gql_server.models import AuditEvent, MailOutbox, Session, Token, User
from gql_server.sessions import create_session
from gql_server.tokens import hash_token

from .flows import PASSWORD, enroll, totp_code
from .graphql import GraphQLClient
from .mailbox import body, invitation_token_in, link_token_in

NEW_PASSWORD = "a brand new passphrase for anna"


async def _request(client: GraphQLClient, address: str, login_as: str = "anna@example.com") -> dict[str, object]:
    ticket = (await client.login(login_as, PASSWORD))["ticket"]
    answer = (await client.run("RequestConversion", ticket=ticket, email=address))["requestConversion"]
    assert isinstance(answer, dict)
    return answer


async def _report(client: GraphQLClient, token: str) -> dict[str, object]:
    answer = (await client.run("ReportUnrecognizedChange", token=token))["reportUnrecognizedChange"]
    assert isinstance(answer, dict)
    return answer


async def _reset(client: GraphQLClient, token: str, password: str = NEW_PASSWORD) -> dict[str, object]:
    answer = (await client.run("ResetPassword", token=token, newPassword=password))["resetPassword"]
    assert isinstance(answer, dict)
    return answer


async def _kinds(user: User) -> list[str]:
    return [e.kind for e in await AuditEvent.filter(subject_id=user.id).order_by("id")]


async def test_r13_an_invitation_to_another_address_is_announced_to_the_account_address(client, mailbox, anna):
    answer = await _request(client, "thief@example.org")

    assert answer["__typename"] == "ConversionRequested"
    assert invitation_token_in(await mailbox.next_to("thief@example.org", "invitation"))
    notice = await mailbox.next_to("anna@example.com", "notice_invitation_elsewhere")
    assert "thief@example.org" in body(notice)
    report = await Token.get(token_hash=hash_token(link_token_in(notice, "report")))
    assert report.purpose is TokenPurpose.REPORT_CHANGE
    assert report.expires_at - report.created_at == timedelta(days=7)


async def test_r13_an_invitation_to_the_account_address_needs_no_notice(client, mailbox, anna):
    await _request(client, "anna@example.com")

    await mailbox.next_to("anna@example.com", "invitation")
    assert not await MailOutbox.filter(template="notice_invitation_elsewhere").exists()
    assert not await Token.filter(purpose=TokenPurpose.REPORT_CHANGE).exists()


async def test_r13_reporting_before_completion_stops_the_change(client, services, mailbox, anna):
    # A one-factor session anna opened before her customer enforced two factors.
    other_session = (await create_session(anna, Assurance.PASSWORD, services.sessions)).token
    await _request(client, "thief@example.org")
    invitation = invitation_token_in(await mailbox.next_to("thief@example.org", "invitation"))
    notice = await mailbox.next_to("anna@example.com", "notice_invitation_elsewhere")

    reported = await _report(client, link_token_in(notice, "report"))

    assert reported["__typename"] == "ChangeReported"
    assert "stopped" in str(reported["message"])
    # The pending invitation died, and the conversion goes on at the account's own address (R4, R13).
    assert (await client.run("Invitation", token=invitation))["invitation"] is None
    user = await User.get(id=anna.id)
    assert (user.conversion, user.pending_email, user.email) == (ConversionState.PENDING, None, "anna@example.com")
    # Every session ended; the password is refused until it is reset through the account's address.
    assert (await client.run("Viewer", bearer=other_session))["viewer"] is None
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "InvalidCredentials"
    reset_mail = await mailbox.next_to("anna@example.com", "password_reset")
    assert "change_reported" in await _kinds(anna)

    after = await _reset(client, link_token_in(reset_mail, "reset-password"))

    # R16: a reset never skips the conversion: the user is still PENDING, at the own address.
    assert after["__typename"] == "ConversionPending"
    assert after["sentTo"] == "a***@example.com"
    assert (await client.login("anna@example.com", NEW_PASSWORD))["__typename"] == "ConversionPending"


async def test_r13_reporting_after_completion_ends_everything_and_needs_a_reset(client, mailbox, anna):
    await _request(client, "thief@example.org")
    invitation = invitation_token_in(await mailbox.next_to("thief@example.org", "invitation"))
    first_notice = await mailbox.next_to("anna@example.com", "notice_invitation_elsewhere")
    converted = await enroll(client, mailbox, invitation, "totp")

    changed = await mailbox.next_to("anna@example.com", "notice_address_changed")
    assert "thief@example.org" in body(changed)
    reported = await _report(client, link_token_in(changed, "report"))

    assert reported["__typename"] == "ChangeReported"
    # A proven new address is not undone, but nobody stays signed in and the password needs a reset.
    user = await User.get(id=anna.id)
    assert (user.email, user.login_method) == ("thief@example.org", LoginMethod.TWO_FACTOR)
    assert (await client.run("Viewer", bearer=converted.token))["viewer"] is None
    assert await Session.filter(user_id=anna.id, ended_at=None).count() == 0
    assert (await client.login("thief@example.org", PASSWORD))["__typename"] == "InvalidCredentials"
    await mailbox.next_to("thief@example.org", "password_reset")
    # The earlier notice's link still works once, and changes nothing more.
    assert (await _report(client, link_token_in(first_notice, "report")))["__typename"] == "ChangeReported"


async def test_r13_the_audit_keeps_both_addresses_of_a_change(client, mailbox, anna):
    await _request(client, "anna.k@example.org")
    invitation = invitation_token_in(await mailbox.next_to("anna.k@example.org", "invitation"))
    await enroll(client, mailbox, invitation, "totp")

    events = await AuditEvent.filter(subject_id=anna.id).order_by("id")
    changed = [e for e in events if e.kind == AuditKind.EMAIL_CHANGED]
    assert [(e.data["old"], e.data["new"]) for e in changed] == [("anna@example.com", "anna.k@example.org")]
    # Each event keeps the address the account had when it happened.
    assert {e.subject_email for e in events if e.id < changed[0].id} == {"anna@example.com"}
    assert {e.subject_email for e in events if e.id >= changed[0].id} == {"anna.k@example.org"}


async def test_r13_a_report_link_works_once(client, mailbox, anna):
    await _request(client, "thief@example.org")
    token = link_token_in(await mailbox.next_to("anna@example.com", "notice_invitation_elsewhere"), "report")

    assert (await _report(client, token))["__typename"] == "ChangeReported"
    assert (await _report(client, token))["__typename"] == "ChallengeExpired"
    assert (await _report(client, "not-a-token"))["__typename"] == "ChallengeExpired"


async def test_r13_a_stolen_one_factor_session_cannot_move_the_account_quietly(
    client, mailbox, make_customer, make_user
):
    # A password user whose customer does not enforce: a stolen session starts the conversion (R8).
    anna = await make_user(await make_customer("Relaxed Oy"), "anna@example.com", PASSWORD)
    stolen = await client.login_token("anna@example.com", PASSWORD)

    started = (await client.run("StartConversion", bearer=stolen, email="thief@example.org"))["startConversion"]

    assert started["__typename"] == "ConversionRequested"
    notice = await mailbox.next_to("anna@example.com", "notice_invitation_elsewhere")
    assert (await _report(client, link_token_in(notice, "report")))["__typename"] == "ChangeReported"
    assert (await client.run("Viewer", bearer=stolen))["viewer"] is None
    assert (await User.get(id=anna.id)).pending_email is None


async def test_r4_an_address_of_another_account_gets_the_same_answer_as_any_other(
    client, mailbox, acme, anna, make_user
):
    await make_user(acme, "bea@example.com", PASSWORD)
    await make_user(acme, "carl@example.com", PASSWORD)

    taken = await _request(client, "BEA@example.com")
    free = await _request(client, "carl.k@example.org", login_as="carl@example.com")

    # The same answer, field for field (only the address differs): no EmailInUse, no oracle.
    assert taken["__typename"] == free["__typename"] == "ConversionRequested"
    assert (taken["sentTo"], free["sentTo"]) == ("b***@example.com", "c***@example.org")
    assert taken["delivery"] == free["delivery"] == "SENT"
    assert abs((_at(taken) - _at(free)).total_seconds()) < 5
    # bea gets a LINK_ACCOUNT invitation, never an enrollment, and her account is unchanged until she
    # accepts; anna's conversion waits there (R4, R20).
    link = await mailbox.next_to("bea@example.com", "link_account")
    assert "/invitation#token=" in body(link)
    assert (await User.get(email="bea@example.com")).conversion is ConversionState.NOT_STARTED
    user = await User.get(id=anna.id)
    assert (user.conversion, user.pending_email) == (ConversionState.PENDING, "bea@example.com")
    assert not await Token.filter(user_id=anna.id, purpose=TokenPurpose.INVITATION, used_at=None).exists()
    # The ticket is spent like any other: no second probe with it.
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "ConversionPending"


def _at(answer: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(answer["expiresAt"]))


async def test_r16_a_reset_never_skips_the_second_factor(client, mailbox, anna):
    await _request(client, "anna.k@example.org")
    invitation = invitation_token_in(await mailbox.next_to("anna.k@example.org", "invitation"))
    converted = await enroll(client, mailbox, invitation, "totp")
    changed = await mailbox.next_to("anna@example.com", "notice_address_changed")
    await _report(client, link_token_in(changed, "report"))
    reset_mail = await mailbox.next_to("anna.k@example.org", "password_reset")

    after = await _reset(client, link_token_in(reset_mail, "reset-password"))

    assert after["__typename"] == "SecondFactorRequired"
    assert await Session.filter(user_id=anna.id, ended_at=None).count() == 0
    done = (
        await client.run(
            "VerifySecondFactor", challenge=after["challenge"], method="totp", code=totp_code(converted.secret, 1)
        )
    )["verifySecondFactor"]
    assert done["__typename"] == "LoginSuccess"


async def test_r13_r16_a_reset_is_announced_and_can_be_reported_too(client, mailbox, anna):
    await _request(client, "thief@example.org")
    await _report(
        client, link_token_in(await mailbox.next_to("anna@example.com", "notice_invitation_elsewhere"), "report")
    )
    reset_mail = await mailbox.next_to("anna@example.com", "password_reset")

    assert (await _reset(client, link_token_in(reset_mail, "reset-password")))["__typename"] == "ConversionPending"

    notice = await mailbox.next_to("anna@example.com", "notice_password_reset")
    assert "reset with a link" in body(notice)
    # Whoever read the mailbox and reset the password is locked out again: the password needs another reset.
    assert (await _report(client, link_token_in(notice, "report")))["__typename"] == "ChangeReported"
    assert (await client.login("anna@example.com", NEW_PASSWORD))["__typename"] == "InvalidCredentials"
    assert (await User.get(id=anna.id)).password_reset_required


async def test_r16_a_reset_link_works_once_for_an_hour_and_new_passwords_follow_s2(client, mailbox, anna):
    await _request(client, "thief@example.org")
    notice = await mailbox.next_to("anna@example.com", "notice_invitation_elsewhere")
    await _report(client, link_token_in(notice, "report"))
    token = link_token_in(await mailbox.next_to("anna@example.com", "password_reset"), "reset-password")
    row = await Token.get(token_hash=hash_token(token))
    assert row.expires_at - row.created_at == timedelta(hours=1)

    common = await _reset(client, token, "password123")
    assert (common["__typename"], common["field"]) == ("InvalidInput", "newPassword")
    assert (await _reset(client, token))["__typename"] == "ConversionPending"
    assert (await _reset(client, token))["__typename"] == "ChallengeExpired"

    await Token.filter(id=row.id).update(used_at=None, expires_at=utcnow() - timedelta(seconds=1))
    assert (await _reset(client, token, "yet another passphrase"))["__typename"] == "ChallengeExpired"
