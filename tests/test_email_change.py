"""R13 email change: behind step-up (R14), a single-use link to the new address and a notice with a "this
wasn't me" link to the old one; no answer tells whether an address has an account; the audit keeps both
addresses; the notice's link cancels a pending change, and after completion ends everything."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from gql_server.audit import AuditKind
from gql_server.clock import utcnow
from gql_server.enums import Assurance, MembershipLevel, TokenPurpose
from gql_server.limits import EMAIL_CHANGE_LIFETIME, EMAIL_CHANGES_PER_HOUR, STEP_UP_WINDOW
from gql_server.models import AuditEvent, MailOutbox, Session, Token, User
from gql_server.sessions import create_session
from gql_server.tokens import hash_token

from .flows import PASSWORD, challenge, convert, totp_code
from .graphql import GraphQLClient
from .mailbox import Mailbox, body, code_in, link_token_in

NEW = "anna.k@example.org"


async def _request(client: GraphQLClient, token: str | None, address: str) -> dict[str, object]:
    answer = (await client.run("RequestEmailChange", bearer=token, newEmail=address))["requestEmailChange"]
    assert isinstance(answer, dict)
    return answer


async def _confirm(client: GraphQLClient, token: str) -> dict[str, object]:
    answer = (await client.run("ConfirmEmailChange", token=token))["confirmEmailChange"]
    assert isinstance(answer, dict)
    return answer


async def _report(client: GraphQLClient, token: str) -> dict[str, object]:
    answer = (await client.run("ReportUnrecognizedChange", token=token))["reportUnrecognizedChange"]
    assert isinstance(answer, dict)
    return answer


async def _link(mailbox: Mailbox, address: str = NEW) -> str:
    return link_token_in(await mailbox.next_to(address, "email_change"), "email-change")


async def _age(token: str) -> None:
    await Session.filter(token_hash=hash_token(token)).update(
        verified_at=utcnow() - STEP_UP_WINDOW - timedelta(seconds=1)
    )


@pytest.fixture
async def totp_user(client, mailbox, anna):
    """Anna, converted with an authenticator app (her session from the enrollment is verified now)."""
    return await convert(client, mailbox, "anna@example.com", "totp")


async def test_r13_the_new_address_gets_a_link_and_the_old_one_a_notice(client, mailbox, anna, totp_user):
    requested = await _request(client, totp_user.token, " Anna.K@Example.org ")

    assert (requested["__typename"], requested["sentTo"]) == ("EmailChangeRequested", "a***@example.org")
    expires = datetime.fromisoformat(str(requested["expiresAt"]))
    assert abs((expires - utcnow() - EMAIL_CHANGE_LIFETIME).total_seconds()) < 60
    link = await mailbox.next_to(NEW, "email_change")
    assert NEW in body(link)
    notice = await mailbox.next_to("anna@example.com", "notice_email_change_requested")
    assert NEW in body(notice) and link_token_in(notice, "report")
    # Nothing changes until the new mailbox answers.
    assert (await User.get(id=anna.id)).email == "anna@example.com"

    confirmed = await _confirm(client, link_token_in(link, "email-change"))

    assert confirmed["__typename"] == "EmailChanged", confirmed
    assert confirmed["user"]["email"] == NEW  # type: ignore[index]
    assert (await User.get(id=anna.id)).email == NEW
    # The old address is told again, with a "this wasn't me" link.
    changed = await mailbox.next_to("anna@example.com", "notice_address_changed")
    assert NEW in body(changed) and link_token_in(changed, "report")
    # The address is the login's now; the second factor is still asked (R6).
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "InvalidCredentials"
    await challenge(client, NEW)
    # No session ends with a proven address (module docstring of auth/email_change.py).
    assert (await client.run("Viewer", bearer=totp_user.token))["viewer"]["user"]["email"] == NEW
    # Single use.
    assert (await _confirm(client, link_token_in(link, "email-change")))["__typename"] == "ChallengeExpired"


async def test_r13_the_audit_keeps_both_addresses(client, mailbox, anna, totp_user):
    await _request(client, totp_user.token, NEW)
    await _confirm(client, await _link(mailbox))

    events = await AuditEvent.filter(subject_id=anna.id).order_by("id")
    requested = [e for e in events if e.kind == AuditKind.EMAIL_CHANGE_REQUESTED]
    changed = [e for e in events if e.kind == AuditKind.EMAIL_CHANGED]
    assert [e.data["sent_to"] for e in requested] == ["a***@example.org"]
    assert [(e.data["old"], e.data["new"]) for e in changed] == [("anna@example.com", NEW)]
    # Each event keeps the address the account had when it happened.
    assert {e.subject_email for e in events if e.id < changed[0].id} == {"anna@example.com"}
    assert changed[0].subject_email == NEW


async def test_r13_r14_a_change_needs_a_recent_second_factor(client, mailbox, totp_user):
    await _age(totp_user.token)

    refused = await _request(client, totp_user.token, NEW)

    assert refused["__typename"] == "ReauthenticationRequired"
    assert refused["methods"] == ["totp", "recovery_code"]
    assert not await Token.filter(purpose=TokenPurpose.EMAIL_CHANGE).exists()
    stepped = await client.run(
        "Reauthenticate", bearer=totp_user.token, method="totp", code=totp_code(totp_user.secret, 1)
    )
    assert stepped["reauthenticate"]["__typename"] == "Reauthenticated"
    assert (await _request(client, totp_user.token, NEW))["__typename"] == "EmailChangeRequested"
    await _link(mailbox)


async def test_r13_r8_a_password_user_changes_the_address_by_converting(client, services, make_customer, make_user):
    pekka = await make_user(await make_customer("Open Oy"), "pekka@example.com", PASSWORD, MembershipLevel.COMPANY)
    token = await client.login_token("pekka@example.com", PASSWORD)

    refused = await _request(client, token, "pekka.k@example.org")

    assert refused == {
        "__typename": "ReauthenticationRequired",
        "message": "This needs a second factor, and this account has none yet.",
        "methods": [],
    }
    client.forget_cookies()
    assert (await _request(client, None, "pekka.k@example.org"))["__typename"] == "AuthenticationRequired"
    assert not await Token.filter(user_id=pekka.id, purpose=TokenPurpose.EMAIL_CHANGE).exists()


@pytest.mark.parametrize(("address", "why"), [("not an address", "valid"), ("ANNA@example.com", "already")])
async def test_r13_an_unusable_address_is_refused_and_nothing_is_sent(client, totp_user, address, why):
    refused = await _request(client, totp_user.token, address)

    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "newEmail")
    assert why in str(refused["message"])
    assert not await Token.filter(purpose=TokenPurpose.EMAIL_CHANGE).exists()
    assert not await MailOutbox.filter(template__in=["email_change", "notice_email_change_requested"]).exists()


async def test_r13_an_address_of_another_account_answers_alike_and_gets_a_notice_not_a_link(
    client, mailbox, acme, make_user, anna, totp_user
):
    await make_user(acme, "bea@example.com", PASSWORD)

    taken = await _request(client, totp_user.token, "BEA@example.com")
    free = await _request(client, totp_user.token, "bea.k@example.com")

    # The same answer, field for field but the address: no EmailInUse (R13's last sentence).
    assert taken.keys() == free.keys()
    assert (taken["__typename"], taken["sentTo"]) == ("EmailChangeRequested", "b***@example.com")
    assert (
        abs(
            (
                datetime.fromisoformat(str(taken["expiresAt"])) - datetime.fromisoformat(str(free["expiresAt"]))
            ).total_seconds()
        )
        < 5
    )
    notice = await mailbox.next_to("bea@example.com", "email_change_address_in_use")
    assert "/email-change#token=" not in body(notice)
    assert not await MailOutbox.filter(template="email_change", recipient="bea@example.com").exists()
    # The account's own address hears of both requests alike.
    for _ in range(2):
        await mailbox.next_to("anna@example.com", "notice_email_change_requested")
    await _link(mailbox, "bea.k@example.com")
    assert (await User.get(email="bea@example.com")).id != anna.id
    assert (await User.get(id=anna.id)).email == "anna@example.com"


async def test_r13_one_pending_change_at_a_time(client, mailbox, anna, totp_user):
    await _request(client, totp_user.token, "first@example.org")
    first = await _link(mailbox, "first@example.org")
    await _request(client, totp_user.token, NEW)
    second = await _link(mailbox)

    assert (await _confirm(client, first))["__typename"] == "ChallengeExpired"
    assert (await _confirm(client, second))["__typename"] == "EmailChanged"


async def test_r13_at_most_five_changes_an_hour(client, mailbox, totp_user):
    for n in range(EMAIL_CHANGES_PER_HOUR):
        assert (await _request(client, totp_user.token, f"a{n}@example.org"))["__typename"] == "EmailChangeRequested"

    refused = await _request(client, totp_user.token, NEW)

    assert refused["__typename"] == "TooManyAttempts"
    assert not await MailOutbox.filter(recipient=NEW).exists()


async def test_r13_an_address_taken_before_the_link_is_used_is_email_in_use(
    client, mailbox, acme, make_user, anna, totp_user
):
    await _request(client, totp_user.token, NEW)
    link = await _link(mailbox)
    await make_user(acme, NEW, PASSWORD)

    assert (await _confirm(client, link))["__typename"] == "EmailInUse"
    assert (await User.get(id=anna.id)).email == "anna@example.com"
    assert not await AuditEvent.filter(kind=AuditKind.EMAIL_CHANGED.value).exists()


async def test_r13_this_wasnt_me_before_completion_cancels_the_change(client, mailbox, services, anna, totp_user):
    other = (await create_session(anna, Assurance.TWO_FACTOR, services.sessions, factor_verified=True)).token
    await _request(client, totp_user.token, NEW)
    link = await _link(mailbox)
    notice = await mailbox.next_to("anna@example.com", "notice_email_change_requested")

    reported = await _report(client, link_token_in(notice, "report"))

    assert (reported["__typename"], reported["cancelled"]) == ("ChangeReported", True)
    assert "stopped" in str(reported["message"])
    assert (await _confirm(client, link))["__typename"] == "ChallengeExpired"
    assert (await User.get(id=anna.id)).email == "anna@example.com"
    # Every session ended; the password waits for a reset through the account's own address.
    for token in (totp_user.token, other):
        assert (await client.run("Viewer", bearer=token))["viewer"] is None
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "InvalidCredentials"
    await mailbox.next_to("anna@example.com", "password_reset")
    event = await AuditEvent.get(kind=AuditKind.CHANGE_REPORTED.value)
    assert (event.data["change"], event.data["address"], event.data["cancelled"]) == (
        "email_change",
        "a***@example.org",
        True,
    )


async def test_r13_this_wasnt_me_after_completion_keeps_the_address_and_ends_everything(
    client, mailbox, anna, totp_user
):
    await _request(client, totp_user.token, NEW)
    requested_notice = await mailbox.next_to("anna@example.com", "notice_email_change_requested")
    await _confirm(client, await _link(mailbox))
    changed = await mailbox.next_to("anna@example.com", "notice_address_changed")

    reported = await _report(client, link_token_in(changed, "report"))

    assert (reported["__typename"], reported["cancelled"]) == ("ChangeReported", False)
    # A proven address is not undone, but nobody stays signed in and the password needs a reset.
    assert (await User.get(id=anna.id)).email == NEW
    assert await Session.filter(user_id=anna.id, ended_at=None).count() == 0
    assert (await client.login(NEW, PASSWORD))["__typename"] == "InvalidCredentials"
    await mailbox.next_to(NEW, "password_reset")
    # The first notice's link still works once, and has nothing left to stop.
    assert (await _report(client, link_token_in(requested_notice, "report")))["cancelled"] is False


async def test_r13_confirming_is_limited_per_client_address(services, mailbox, anna, client, totp_user):
    await _request(client, totp_user.token, NEW)
    link = await _link(mailbox)
    for _ in range(10):  # RATE_LIMIT_CONFIRM_EMAIL_CHANGE's default, 10/minute
        await services.email_changes.confirm("not-a-token", ip="198.51.100.9")

    refused = await services.email_changes.confirm(link, ip="198.51.100.9")

    # Answered like an unknown link, and the owner's link stays valid from elsewhere.
    assert type(refused).__name__ == "ChallengeExpired"
    assert type(await services.email_changes.confirm(link, ip="198.51.100.10")).__name__ == "EmailChanged"


async def test_r13_email_codes_follow_a_confirmed_address_change(client, mailbox, anna):
    """The mailbox the user left gets no more login or step-up codes: they go to the proven new address."""
    converted = await convert(client, mailbox, "anna@example.com", "email_code")
    await client.run("RequestEmailChange", bearer=converted.token, newEmail="anna.k@example.org")
    link = link_token_in(await mailbox.next_to("anna.k@example.org", "email_change"), "email-change")
    assert (await client.run("ConfirmEmailChange", token=link))["confirmEmailChange"]["__typename"] == "EmailChanged"
    token = (await client.login("anna.k@example.org", PASSWORD))["challenge"]

    sent = (await client.run("SendLoginCode", challenge=token, method="email_code"))["sendLoginCode"]

    assert sent["__typename"] == "CodeSent" and sent["sentTo"].endswith("@example.org"), sent
    code = code_in(await mailbox.next_to("anna.k@example.org", "login_code"))
    assert not [m for m in mailbox.messages if m["To"] == "anna@example.com" and m["X-Gql-Template"] == "login_code"]
    done = await client.run("VerifySecondFactor", challenge=token, method="email_code", code=code)
    assert done["verifySecondFactor"]["__typename"] == "LoginSuccess"
