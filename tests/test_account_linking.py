"""R20 One person, one account: a conversion that types another account's address gets the same answer as
for any address, that address gets a LINK_ACCOUNT invitation, and its owner, signed in, takes over the
converting account's customers; the converting account can no longer sign in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gql_server.clock import utcnow
from gql_server.enums import MembershipLevel
from gql_server.models import AuditEvent, Customer, Membership, Session, Token, User

from .flows import PASSWORD
from .mailbox import body, invitation_token_in, link_token_in


@pytest.fixture
async def beta(make_customer) -> Customer:
    """Bea's customer, which does not enforce two factors."""
    return await make_customer("Beta Ab")


@pytest.fixture
async def bea(beta, make_user) -> User:
    """The same person as Anna (of Acme), with an account of her own at Beta."""
    return await make_user(beta, "bea@beta.example", PASSWORD)


async def _convert_to(client, email: str, address: str) -> dict[str, Any]:
    login = await client.login(email, PASSWORD)
    assert login["__typename"] == "ConversionRequired", login
    sent: dict[str, Any] = (await client.run("RequestConversion", ticket=login["ticket"], email=address))[
        "requestConversion"
    ]
    client.forget_cookies()
    return sent


async def _link_token(client, mailbox, anna: User) -> str:
    answer = await _convert_to(client, anna.email, "bea@beta.example")
    assert answer["__typename"] == "ConversionRequested"
    return invitation_token_in(await mailbox.next_to("bea@beta.example", "link_account"))


async def _accept(client, token: str | None, invitation: str) -> dict[str, Any]:
    result: dict[str, Any] = (await client.run("AcceptInvitation", bearer=token, invitation=invitation))[
        "acceptInvitation"
    ]
    return result


async def test_r20_requesting_a_conversion_answers_alike_for_used_and_unused_addresses(
    client, mailbox, acme, anna, bea, make_user
):
    await make_user(acme, "carl@example.com", PASSWORD)

    used = await _convert_to(client, anna.email, "bea@beta.example")
    unused = await _convert_to(client, "carl@example.com", "carl.k@example.org")

    assert set(used) == set(unused)
    assert {k: v for k, v in used.items() if k not in {"sentTo", "expiresAt"}} == {
        k: v for k, v in unused.items() if k not in {"sentTo", "expiresAt"}
    }
    assert used["__typename"] == "ConversionRequested"
    link = await mailbox.next_to("bea@beta.example", "link_account")
    await mailbox.next_to("carl.k@example.org", "invitation")
    # What the link offers, and to whom.
    shown = (await client.run("Invitation", token=invitation_token_in(link)))["invitation"]
    assert (shown["kind"], shown["email"], shown["linkFrom"], shown["customerName"]) == (
        "LINK_ACCOUNT",
        "bea@beta.example",
        "a***@example.com",
        "Acme Oy",
    )
    assert shown["methods"] == []
    assert "Acme Oy" in body(link)
    # It never enrolls a factor for that address.
    begun = await client.run("BeginEnrollment", invitation=invitation_token_in(link), method="totp")
    assert begun["beginEnrollment"]["__typename"] == "ChallengeExpired"


async def test_r20_a_link_merges_the_memberships_and_the_old_password_no_longer_works(
    client, mailbox, acme, anna, beta, bea
):
    invitation = await _link_token(client, mailbox, anna)
    bea_token = await client.login_token("bea@beta.example", PASSWORD)

    accepted = await _accept(client, bea_token, invitation)

    assert accepted["__typename"] == "InvitationAccepted"
    assert accepted["user"]["email"] == "bea@beta.example"
    # One account now, in every customer of both.
    levels = dict(await Membership.filter(user_id=bea.id).values_list("customer_id", "level"))
    assert levels == {acme.id: MembershipLevel.COMPANY, beta.id: MembershipLevel.COMPANY}
    # Anna's account is gone: her password gets the answer of any wrong one (S3).
    client.forget_cookies()
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "InvalidCredentials"
    assert not await User.filter(id=anna.id).exists()
    # Acme enforces two factors: that now applies to the one account (R2).
    assert (await client.login("bea@beta.example", PASSWORD))["__typename"] == "ConversionRequired"
    # Audited in every customer involved, with the addresses as they were.
    events = await AuditEvent.filter(kind="accounts_linked").values_list("customer_id", "data")
    assert {c for c, _ in events} == {acme.id, beta.id}
    assert all((d["linked"], d["into"]) == ("anna@example.com", "bea@beta.example") for _, d in events)
    # Single use.
    again = await _accept(client, bea_token, invitation)
    assert again["__typename"] in {"ChallengeExpired", "AuthenticationRequired"}


async def test_r20_only_the_named_accounts_session_accepts(client, mailbox, acme, anna, beta, bea, make_user):
    invitation = await _link_token(client, mailbox, anna)
    await make_user(beta, "dan@beta.example", PASSWORD)
    dan = await client.login_token("dan@beta.example", PASSWORD)
    client.forget_cookies()

    assert (await _accept(client, None, invitation))["__typename"] == "AuthenticationRequired"
    assert (await _accept(client, dan, invitation))["__typename"] == "AuthenticationRequired"

    # Nothing moved, and the link still works for Bea.
    assert await Membership.filter(user_id=anna.id).count() == 1
    assert not await Membership.filter(user_id=bea.id, customer_id=acme.id).exists()
    bea_token = await client.login_token("bea@beta.example", PASSWORD)
    assert (await _accept(client, bea_token, invitation))["__typename"] == "InvitationAccepted"


async def test_r20_a_two_factor_account_accepts_only_with_a_recent_second_factor(
    client, mailbox, acme, anna, bea, converted_session
):
    invitation = await _link_token(client, mailbox, anna)
    bea_token = await converted_session(bea)
    await Session.filter(user_id=bea.id).update(verified_at=utcnow() - timedelta(days=1))

    stale = await _accept(client, bea_token, invitation)

    assert stale["__typename"] == "ReauthenticationRequired"
    # (Bea stands for a converted user here, without a factor of her own: only recovery codes to offer.)
    assert stale["methods"] == ["recovery_code"]
    assert await User.filter(id=anna.id).exists()
    await Session.filter(user_id=bea.id).update(verified_at=utcnow())
    assert (await _accept(client, bea_token, invitation))["__typename"] == "InvitationAccepted"
    assert not await User.filter(id=anna.id).exists()


async def test_r20_a_link_that_would_leave_no_allowed_method_changes_nothing(client, mailbox, acme, anna, beta, bea):
    await Customer.filter(id=acme.id).update(allowed_methods=["email_code"])
    await Customer.filter(id=beta.id).update(allowed_methods=["totp"])
    invitation = await _link_token(client, mailbox, anna)
    bea_token = await client.login_token("bea@beta.example", PASSWORD)

    refused = await _accept(client, bea_token, invitation)

    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "invitation")
    assert "Acme Oy" in refused["message"]
    assert await Membership.filter(user_id=anna.id, customer_id=acme.id).exists()
    assert not await Membership.filter(user_id=bea.id, customer_id=acme.id).exists()
    # Nothing was spent: once the admins agree on a method, the same link works.
    await Customer.filter(id=beta.id).update(allowed_methods=["totp", "email_code"])
    assert (await _accept(client, bea_token, invitation))["__typename"] == "InvitationAccepted"


async def test_r20_this_wasnt_me_stops_a_link(client, mailbox, acme, anna, bea):
    invitation = await _link_token(client, mailbox, anna)
    notice = await mailbox.next_to("anna@example.com", "notice_invitation_elsewhere")
    reported = await client.run("ReportUnrecognizedChange", token=link_token_in(notice, "report"))
    assert reported["reportUnrecognizedChange"]["__typename"] == "ChangeReported"
    bea_token = await client.login_token("bea@beta.example", PASSWORD)

    assert (await _accept(client, bea_token, invitation))["__typename"] == "ChallengeExpired"
    assert (await client.run("Invitation", token=invitation))["invitation"] is None
    assert await User.filter(id=anna.id).exists()
    assert not await Token.filter(user_id=anna.id, purpose="link_account", used_at=None).exists()
