"""R19: a customer's admins invite people, re-send a pending member's invitation, change levels, remove
members and send a password member a reset link; nobody else can, and nothing leaves a customer without
an administrator or pulls another customer's user under this one's enforcement."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from gql_server.clock import utcnow
from gql_server.enums import ConversionState, LoginMethod, MembershipLevel
from gql_server.models import AuditEvent, Customer, Membership, PendingMembership, Session, User

from .flows import PASSWORD, enroll, request_invitation
from .mailbox import body, invitation_token_in, link_token_in
from .smtp_faults import slow_refusing_smtp

NEW_PASSWORD = "a brand new passphrase"
__all__ = ["slow_refusing_smtp"]  # a fixture


@pytest.fixture
async def acme(make_customer) -> Customer:
    """An open customer (not enforcing): its password members sign in with a session."""
    return await make_customer("Acme Oy")


@pytest.fixture
async def admin(acme, make_user, converted_session) -> str:
    """A session of Acme's (only) customer-level admin."""
    user = await make_user(acme, "admin@acme.example", PASSWORD, MembershipLevel.CUSTOMER)
    return await converted_session(user)


async def _members(client, token: str, customer: Customer) -> dict[str, dict[str, Any]]:
    data = await client.run("Members", bearer=token, customerId=str(customer.id))
    listed = data["customer"]["members"]
    return {e["node"]["user"]["email"]: e["node"] for e in listed["edges"]}


async def _invite(client, token: str | None, customer: Customer, email: str, **more: Any) -> dict[str, Any]:
    variables = {"level": "COMPANY", **more}
    data = await client.run("InviteUser", bearer=token, customerId=str(customer.id), email=email, **variables)
    result: dict[str, Any] = data["inviteUser"]
    return result


async def _act(client, token: str | None, action: str, customer: Customer, user: User) -> dict[str, Any]:
    variables: dict[str, Any] = {"customerId": str(customer.id), "userId": str(user.id)}
    if action == "SetMemberLevel":
        variables["level"] = "CUSTOMER"
    data = await client.run(action, bearer=token, **variables)
    result: dict[str, Any] = next(iter(data.values()))
    return result


ACTIONS = ["ResendInvitation", "RemoveMember", "SetMemberLevel", "SendPasswordReset"]


@pytest.mark.parametrize("action", ["InviteUser", *ACTIONS])
async def test_r19_only_the_customers_admins_may_act(client, mailbox, acme, admin, make_user, make_customer, action):
    bea = await make_user(acme, "bea@acme.example", PASSWORD)
    await User.filter(id=bea.id).update(conversion=ConversionState.PENDING)
    await make_user(acme, "carl@acme.example", PASSWORD)
    company_member = await client.login_token("carl@acme.example", PASSWORD)
    other = await make_customer("Other Oy")
    await make_user(other, "admin@other.example", PASSWORD, MembershipLevel.CUSTOMER)
    other_admin = await client.login_token("admin@other.example", PASSWORD)
    client.forget_cookies()
    before = await Membership.filter(customer_id=acme.id).values_list("user_id", "level")

    async def attempt(token: str | None) -> str:
        if action == "InviteUser":
            return str((await _invite(client, token, acme, "newcomer@acme.example"))["__typename"])
        return str((await _act(client, token, action, acme, bea))["__typename"])

    assert await attempt(company_member) == "PermissionDenied"
    assert await attempt(other_admin) == "PermissionDenied"
    assert await attempt(None) == "AuthenticationRequired"
    # Nothing changed, nothing was sent.
    assert sorted(await Membership.filter(customer_id=acme.id).values_list("user_id", "level")) == sorted(before)
    assert not await User.filter(email="newcomer@acme.example").exists()
    assert mailbox.messages == []
    assert (
        not await AuditEvent.filter(actor_id__not_isnull=True, customer_id=acme.id)
        .exclude(kind="settings_changed")
        .exists()
    )


async def test_r19_the_last_administrator_is_neither_removed_nor_demoted(client, acme, admin, make_user):
    kim = await User.get(email="admin@acme.example")

    removed = await _act(client, admin, "RemoveMember", acme, kim)
    demoted = await client.run(
        "SetMemberLevel", bearer=admin, customerId=str(acme.id), userId=str(kim.id), level="COMPANY"
    )

    assert removed["__typename"] == "LastAdministrator"
    assert "administrator" in removed["message"]
    assert demoted["setMemberLevel"]["__typename"] == "LastAdministrator"
    assert (await Membership.get(user_id=kim.id, customer_id=acme.id)).level is MembershipLevel.CUSTOMER
    # With a second administrator, either may step down.
    bea = await make_user(acme, "bea@acme.example", PASSWORD)
    assert (await _act(client, admin, "SetMemberLevel", acme, bea))["__typename"] == "MemberUpdated"
    demoted = await client.run(
        "SetMemberLevel", bearer=admin, customerId=str(acme.id), userId=str(kim.id), level="COMPANY"
    )
    assert demoted["setMemberLevel"]["__typename"] == "MemberUpdated"
    assert (await Membership.get(user_id=kim.id, customer_id=acme.id)).level is MembershipLevel.COMPANY
    kinds = await AuditEvent.filter(customer_id=acme.id, kind="member_level_changed").values_list("data", flat=True)
    assert [(d["from"], d["to"]) for d in kinds] == [("COMPANY", "CUSTOMER"), ("CUSTOMER", "COMPANY")]


async def test_r19_an_admin_removes_a_member(client, acme, admin, make_user):
    bea = await make_user(acme, "bea@acme.example", PASSWORD)

    removed = await _act(client, admin, "RemoveMember", acme, bea)

    assert removed["__typename"] == "MemberUpdated"
    assert not await Membership.filter(user_id=bea.id, customer_id=acme.id).exists()
    assert "bea@acme.example" not in await _members(client, admin, acme)
    # Bea's account stays; only her place in Acme is gone.
    assert await User.filter(id=bea.id).exists()
    event = await AuditEvent.get(kind="member_removed", customer_id=acme.id)
    assert (event.actor_email, event.subject_email) == ("admin@acme.example", "bea@acme.example")
    again = await _act(client, admin, "RemoveMember", acme, bea)
    assert (again["__typename"], again["field"]) == ("InvalidInput", "userId")


async def test_r19_a_new_address_gets_a_two_factor_account_in_the_chosen_language(client, mailbox, acme, admin):
    invited = await _invite(client, admin, acme, "Newcomer@Acme.example", level="CUSTOMER", locale="fi")

    assert invited == {"__typename": "UserInvited", "sentTo": "n***@acme.example"}
    message = await mailbox.next_to("newcomer@acme.example", "invitation")
    assert message["Content-Language"] == "fi" or "Hei" in body(message)
    user = await User.get(email="newcomer@acme.example")
    assert (user.login_method, user.locale, user.password_hash) == (LoginMethod.TWO_FACTOR, "fi", None)
    listed = (await _members(client, admin, acme))["newcomer@acme.example"]
    assert (listed["level"], listed["acceptedAt"] is not None) == ("CUSTOMER", True)
    # The invitation enrolls a factor and chooses the first password, as the CLI's `user create` does.
    converted = await enroll(client, mailbox, invitation_token_in(message), password=NEW_PASSWORD)
    assert converted.token
    assert (await client.login("newcomer@acme.example", NEW_PASSWORD))["__typename"] == "SecondFactorRequired"
    event = await AuditEvent.get(kind="user_invited", customer_id=acme.id)
    assert event.actor_email == "admin@acme.example"
    assert event.data["existing"] is False


async def test_r19_a_password_account_only_while_the_customer_does_not_enforce(client, mailbox, acme, admin):
    invited = await _invite(client, admin, acme, "pia@acme.example", loginMethod="PASSWORD", locale="en")

    assert invited["__typename"] == "UserInvited"
    message = await mailbox.next_to("pia@acme.example", "account_invitation_password")
    assert "Acme Oy" in body(message) and "admin@acme.example" in body(message)
    reset = await client.run("ResetPassword", token=link_token_in(message, "reset-password"), newPassword=NEW_PASSWORD)
    assert reset["resetPassword"]["__typename"] == "LoginSuccess"
    assert (await client.login("pia@acme.example", NEW_PASSWORD))["__typename"] == "LoginSuccess"

    await Customer.filter(id=acme.id).update(enforce_two_factor=True)
    refused = await _invite(client, admin, acme, "otto@acme.example", loginMethod="PASSWORD")
    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "loginMethod")
    assert not await User.filter(email="otto@acme.example").exists()


async def test_r19_an_invited_existing_account_is_no_member_until_it_accepts(
    client, mailbox, acme, admin, make_customer, make_user
):
    # Otto belongs to Other Oy, which does not enforce; Acme enforces and invites him.
    other = await make_customer("Other Oy")
    otto = await make_user(other, "otto@other.example", PASSWORD)
    await Customer.filter(id=acme.id).update(enforce_two_factor=True)

    invited = await _invite(client, admin, acme, "otto@other.example", level="COMPANY")

    # The same answer as for a new address.
    assert invited == {"__typename": "UserInvited", "sentTo": "o***@other.example"}
    message = await mailbox.next_to("otto@other.example", "join_customer")
    assert "Acme Oy" in body(message)
    token = invitation_token_in(message)
    # Listed as invited (acceptedAt null, no activity shown), but no member for any rule: Acme's
    # enforcement does not reach him (R2), and he cannot see Acme.
    listed = (await _members(client, admin, acme))["otto@other.example"]
    assert (listed["acceptedAt"], listed["user"]["lastLoginAt"]) == (None, None)
    assert not await Membership.filter(user_id=otto.id, customer_id=acme.id).exists()
    assert (await client.login("otto@other.example", PASSWORD))["__typename"] == "LoginSuccess"
    otto_token = await client.login_token("otto@other.example", PASSWORD)
    assert (await client.run("Customer", bearer=otto_token, id=str(acme.id)))["customer"] is None
    shown = (await client.run("Invitation", token=token))["invitation"]
    assert (shown["kind"], shown["customerName"], shown["methods"]) == ("JOIN_CUSTOMER", "Acme Oy", [])

    # Not signed in, or signed in as someone else: nothing happens.
    client.forget_cookies()
    assert (await client.run("AcceptInvitation", invitation=token))["acceptInvitation"][
        "__typename"
    ] == "AuthenticationRequired"
    kim_says = (await client.run("AcceptInvitation", bearer=admin, invitation=token))["acceptInvitation"]
    assert kim_says["__typename"] == "AuthenticationRequired"

    accepted = (await client.run("AcceptInvitation", bearer=otto_token, invitation=token))["acceptInvitation"]

    assert accepted["__typename"] == "InvitationAccepted"
    membership = await Membership.get(user_id=otto.id, customer_id=acme.id)
    assert membership.level is MembershipLevel.COMPANY
    assert not await PendingMembership.filter(user_id=otto.id).exists()
    listed = (await _members(client, admin, acme))["otto@other.example"]
    assert listed["acceptedAt"] is not None and listed["addedAt"] <= listed["acceptedAt"]
    # A member now: Acme's enforcement applies to him (R2).
    assert (await client.login("otto@other.example", PASSWORD))["__typename"] == "ConversionRequired"
    used = (await client.run("AcceptInvitation", bearer=otto_token, invitation=token))["acceptInvitation"]
    assert used["__typename"] in {"ChallengeExpired", "AuthenticationRequired"}
    assert await AuditEvent.filter(kind="invitation_accepted", customer_id=acme.id).count() == 1


async def test_r19_joining_needs_only_a_session_of_the_account(
    client, mailbox, acme, admin, make_customer, make_user, converted_session
):
    # R14: accepting a JOIN_CUSTOMER invitation is no step-up operation; a two-factor account's session
    # whose factor was verified long ago accepts it.
    other = await make_customer("Other Oy")
    otto = await make_user(other, "otto@other.example", PASSWORD)
    otto_token = await converted_session(otto)
    await _invite(client, admin, acme, "otto@other.example")
    token = invitation_token_in(await mailbox.next_to("otto@other.example", "join_customer"))
    await Session.filter(user_id=otto.id).update(verified_at=utcnow() - timedelta(days=1))

    accepted = (await client.run("AcceptInvitation", bearer=otto_token, invitation=token))["acceptInvitation"]

    assert accepted["__typename"] == "InvitationAccepted"
    assert await Membership.filter(user_id=otto.id, customer_id=acme.id).exists()


async def test_r19_an_invited_account_shows_the_address_it_was_invited_at(
    client, mailbox, acme, admin, make_customer, make_user
):
    other = await make_customer("Other Oy")
    otto = await make_user(other, "otto@other.example", PASSWORD)
    await _invite(client, admin, acme, "otto@other.example")
    await User.filter(id=otto.id).update(email="otto.private@elsewhere.example")

    listed = await _members(client, admin, acme)

    # Not this customer's account yet: its later address is not shown, nor matched by the filters.
    assert "otto@other.example" in listed and "otto.private@elsewhere.example" not in listed
    data = await client.run("Members", bearer=admin, customerId=str(acme.id), filter={"emailContains": "private"})
    assert data["customer"]["members"]["totalCount"] == 0
    data = await client.run("Members", bearer=admin, customerId=str(acme.id), filter={"loginMethod": "PASSWORD"})
    assert [e["node"]["user"]["email"] for e in data["customer"]["members"]["edges"]] == []
    event = await AuditEvent.get(kind="user_invited", customer_id=acme.id)
    assert "login_method" not in event.data


async def test_r19_resending_to_another_customers_user_tells_nothing(
    client, mailbox, acme, admin, make_customer, make_user, converted_session
):
    other = await make_customer("Other Oy")
    other_admin = await converted_session(
        await make_user(other, "adm@other.example", PASSWORD, MembershipLevel.CUSTOMER)
    )
    third = await make_customer("Third Oy")
    tess = await make_user(third, "tess@third.example", PASSWORD)
    before = await _act(client, admin, "ResendInvitation", acme, tess)
    for _ in range(5):
        assert (await _invite(client, other_admin, other, "tess@third.example"))["__typename"] == "UserInvited"

    after = await _act(client, admin, "ResendInvitation", acme, tess)

    # Other's invitations neither show here nor use up Acme's: Acme may still invite her.
    assert before == after and after["__typename"] == "InvalidInput"
    assert (await _invite(client, other_admin, other, "tess@third.example"))["__typename"] == "TooManyAttempts"
    assert (await _invite(client, admin, acme, "tess@third.example"))["__typename"] == "UserInvited"


class TestRefusedInvitations:
    @pytest.fixture
    def settings_overrides(self, slow_refusing_smtp):
        return {"smtp_url": slow_refusing_smtp.url}

    async def test_r19_a_refused_invitation_never_leaves_the_customer_without_an_administrator(
        self, client, acme, admin
    ):
        kim = await User.get(email="admin@acme.example")

        async def step_down_meanwhile() -> str:
            # The new administrator is listed (committed) while the slow mail server decides.
            for _ in range(50):
                if await User.filter(email="newadmin@acme.example").exists():
                    break
                await asyncio.sleep(0.02)
            return str((await _act(client, admin, "RemoveMember", acme, kim))["__typename"])

        invited, stepped = await asyncio.gather(
            _invite(client, admin, acme, "newadmin@acme.example", level="CUSTOMER"), step_down_meanwhile()
        )

        assert stepped == "MemberUpdated"
        assert (invited["__typename"], invited["field"]) == ("InvalidInput", "email")
        # The refused account stays: it is the customer's only administrator now.
        assert await Membership.filter(customer_id=acme.id, level=MembershipLevel.CUSTOMER).count() == 1

    async def test_r19_a_refused_address_keeps_no_account(self, client, acme, admin):
        invited = await _invite(client, admin, acme, "nobody@acme.example")

        assert (invited["__typename"], invited["field"]) == ("InvalidInput", "email")
        assert not await User.filter(email="nobody@acme.example").exists()


async def test_r19_inviting_a_member_again_is_refused_and_a_withdrawn_invitation_dies(
    client, mailbox, acme, admin, make_customer, make_user
):
    await make_user(acme, "bea@acme.example", PASSWORD)
    member = await _invite(client, admin, acme, "bea@acme.example")
    assert (member["__typename"], member["field"]) == ("InvalidInput", "email")

    other = await make_customer("Other Oy")
    otto = await make_user(other, "otto@other.example", PASSWORD)
    await _invite(client, admin, acme, "otto@other.example")
    first = invitation_token_in(await mailbox.next_to("otto@other.example", "join_customer"))
    # Sent again: the first link dies, the second works.
    resent = await _act(client, admin, "ResendInvitation", acme, otto)
    assert resent["__typename"] == "InvitationResent"
    second = invitation_token_in(await mailbox.next_to("otto@other.example", "join_customer"))
    assert (await client.run("Invitation", token=first))["invitation"] is None
    assert (await client.run("Invitation", token=second))["invitation"]["kind"] == "JOIN_CUSTOMER"
    # Withdrawn: the link dies and the list forgets him.
    assert (await _act(client, admin, "RemoveMember", acme, otto))["__typename"] == "MemberUpdated"
    assert (await client.run("Invitation", token=second))["invitation"] is None
    assert "otto@other.example" not in await _members(client, admin, acme)


async def test_r19_a_pending_members_invitation_is_sent_again(client, mailbox, acme, admin, make_user):
    await Customer.filter(id=acme.id).update(enforce_two_factor=True)
    bea = await make_user(acme, "bea@acme.example", PASSWORD)
    first = await request_invitation(client, mailbox, "bea@acme.example")

    resent = await _act(client, admin, "ResendInvitation", acme, bea)

    assert resent["__typename"] == "InvitationResent"
    assert resent["sentTo"] == "b***@acme.example"
    second = invitation_token_in(await mailbox.next_to("bea@acme.example", "invitation"))
    assert (await client.run("Invitation", token=first))["invitation"] is None
    # Nobody showed Bea's password for this one: finishing it asks for it (S34).
    shown = (await client.run("Invitation", token=second))["invitation"]
    assert (shown["kind"], shown["password"]) == ("ENROLL", "CURRENT")
    done = await enroll(client, mailbox, second, password=PASSWORD)
    assert done.token
    # A member whose conversion is not pending has nothing to re-send.
    kim = await User.get(email="admin@acme.example")
    refused = await _act(client, admin, "ResendInvitation", acme, kim)
    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "userId")


async def test_r19_a_password_reset_only_for_password_members_of_this_customer_alone(
    client, mailbox, acme, admin, make_user, make_customer
):
    bea = await make_user(acme, "bea@acme.example", PASSWORD)

    sent = await _act(client, admin, "SendPasswordReset", acme, bea)

    assert sent == {"__typename": "PasswordResetSent", "sentTo": "b***@acme.example"}
    message = await mailbox.next_to("bea@acme.example", "password_reset_by_admin")
    reset = await client.run("ResetPassword", token=link_token_in(message, "reset-password"), newPassword=NEW_PASSWORD)
    assert reset["resetPassword"]["__typename"] == "LoginSuccess"
    event = await AuditEvent.get(kind="password_reset_sent", customer_id=acme.id)
    assert (event.actor_email, event.subject_email) == ("admin@acme.example", "bea@acme.example")

    # R9: a two-factor user's password is theirs alone.
    kim = await User.get(email="admin@acme.example")
    refused = await _act(client, admin, "SendPasswordReset", acme, kim)
    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "userId")
    # A member of another customer too: that customer's admins would have no say.
    other = await make_customer("Other Oy")
    await Membership.create(user=bea, customer=other, level=MembershipLevel.COMPANY)
    refused = await _act(client, admin, "SendPasswordReset", acme, bea)
    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "userId")


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_invite_user": "2/minute"}])
async def test_r19_invitations_count_against_the_admins_own_budget(client, acme, admin, make_user, converted_session):
    answers = [(await _invite(client, admin, acme, f"n{i}@acme.example"))["__typename"] for i in range(3)]

    assert answers == ["UserInvited", "UserInvited", "TooManyAttempts"]
    # Another admin, from the same address, has a budget of their own.
    second = await make_user(acme, "second@acme.example", PASSWORD, MembershipLevel.CUSTOMER)
    other_admin = await converted_session(second)
    assert (await _invite(client, other_admin, acme, "n9@acme.example"))["__typename"] == "UserInvited"


async def test_r19_two_admins_demoting_each_other_at_once_leave_one(client, acme, admin, make_user, converted_session):
    kim = await User.get(email="admin@acme.example")
    lea = await make_user(acme, "lea@acme.example", PASSWORD, MembershipLevel.CUSTOMER)
    lea_token = await converted_session(lea)

    async def demote(token: str, user: User) -> str:
        data = await client.run(
            "SetMemberLevel", bearer=token, customerId=str(acme.id), userId=str(user.id), level="COMPANY"
        )
        return str(data["setMemberLevel"]["__typename"])

    answers = await asyncio.gather(demote(admin, lea), demote(lea_token, kim))

    # One demotion wins; the other finds either the customer's last administrator, or (when the winner's
    # change came before it was even checked) that its own admin is no administrator any more.
    assert answers.count("MemberUpdated") == 1
    assert set(answers) - {"MemberUpdated"} <= {"LastAdministrator", "PermissionDenied"}
    assert await Membership.filter(customer_id=acme.id, level=MembershipLevel.CUSTOMER).count() == 1


async def test_r19_an_admin_demoted_meanwhile_changes_nothing_more(client, acme, admin, make_user, converted_session):
    kim = await User.get(email="admin@acme.example")
    lea = await make_user(acme, "lea@acme.example", PASSWORD, MembershipLevel.CUSTOMER)
    lea_token = await converted_session(lea)
    bea = await make_user(acme, "bea@acme.example", PASSWORD)
    await Membership.filter(user_id=lea.id, customer_id=acme.id).update(level=MembershipLevel.COMPANY)

    removed = await _act(client, lea_token, "RemoveMember", acme, bea)

    assert removed["__typename"] == "PermissionDenied"
    assert await Membership.filter(user_id=bea.id, customer_id=acme.id).exists()
    assert await Membership.filter(user_id=kim.id, level=MembershipLevel.CUSTOMER).exists()


async def test_r19_accepting_while_the_invitation_is_withdrawn_never_fails(
    client, mailbox, acme, admin, make_customer, make_user
):
    # Both take the customer's row first: they wait for each other, never deadlock (PostgreSQL).
    other = await make_customer("Other Oy")
    for n in range(5):
        email = f"otto{n}@other.example"
        otto = await make_user(other, email, PASSWORD)
        await _invite(client, admin, acme, email)
        token = invitation_token_in(await mailbox.next_to(email, "join_customer"))
        otto_token = await client.login_token(email, PASSWORD)
        client.forget_cookies()

        accepted, withdrawn = await asyncio.gather(
            client.run("AcceptInvitation", bearer=otto_token, invitation=token),
            client.run("RemoveMember", bearer=admin, customerId=str(acme.id), userId=str(otto.id)),
        )

        assert accepted["acceptInvitation"]["__typename"] in {"InvitationAccepted", "ChallengeExpired"}
        assert withdrawn["removeMember"]["__typename"] == "MemberUpdated"
        # Whichever came first, the withdrawal leaves him neither invited nor a member.
        assert not await PendingMembership.filter(user_id=otto.id).exists()
        assert not await Membership.filter(user_id=otto.id, customer_id=acme.id).exists()
