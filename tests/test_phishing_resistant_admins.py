"""Issue 16: a customer may require phishing-resistant methods of its CUSTOMER-level members
(`requirePhishingResistantAdmins`), through the core's own `policy_requirements` implementation.

R1: only its admins change it, audited. R5: such an administrator enrolls only phishing-resistant methods.
R6, R14: one who has such a factor signs in and steps up only with it; a TOTP or recovery code is refused
(MethodNotAvailable) and spends nothing. S32-style guards: switching it on is refused (InvalidInput, with how
many) while an administrator has none; promotions, joins and removals that would leave one without are refused.
Shown with `echokey`, the toy phishing-resistant key of tests/plugin_fakes.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gql_server.enums import MembershipLevel
from gql_server.limits import STREAK_CAP
from gql_server.models import (
    AuditEvent,
    Customer,
    EnrolledFactor,
    Membership,
    RecoveryCode,
    RememberedDevice,
    Token,
    User,
)
from gql_server.policy import Policy
from gql_server.testing.flows import enroll as kit_enroll
from gql_server.testing.mailbox import invitation_token_in

from .flows import PASSWORD, challenge, convert, request_invitation, totp_code, verify
from .plugin_fakes import sign
from .test_plugin_kit import FAKES

FIELD = "requirePhishingResistantAdmins"


@pytest.fixture
def settings_overrides():
    return FAKES


def _registration(begun: dict[str, Any]) -> str:
    """What the toy key answers to its registration options."""
    options = begun["options"]
    return json.dumps({"signature": sign(options["secret"], options["challenge"], 0)})


async def _key_user(client, mailbox, make_user, customer, email, level=MembershipLevel.CUSTOMER) -> tuple[str, str]:
    """A member who converted with an echokey: (session token, the key's secret)."""
    await make_user(customer, email, PASSWORD, level)
    invitation = await request_invitation(client, mailbox, email)
    enrolled = await kit_enroll(client, mailbox, invitation, "echokey", code=_registration)
    client.forget_cookies()
    return enrolled.token, str(enrolled.begun["options"]["secret"])


async def _totp_user(client, mailbox, make_user, customer, email, level=MembershipLevel.CUSTOMER):
    """A member who converted with TOTP (the Converted: token, secret, recovery codes)."""
    await make_user(customer, email, PASSWORD, level)
    converted = await convert(client, mailbox, email)
    client.forget_cookies()
    return converted


async def _add_key(client, token: str) -> str:
    """addFactor + confirmFactor of an echokey in a fresh session; the key's secret."""
    started = (await client.run("AddFactor", bearer=token, method="echokey"))["addFactor"]
    assert started["__typename"] == "EnrollmentStarted", started
    added = await client.run(
        "ConfirmFactor", bearer=token, enrollment=started["enrollment"], code=_registration(started)
    )
    assert added["confirmFactor"]["__typename"] == "FactorAdded", added
    return str(started["options"]["secret"])


async def _setting(client, token: str, customer: Customer, value: bool) -> dict[str, Any]:
    data = await client.run("UpdateCustomerSettings", bearer=token, customerId=str(customer.id), input={FIELD: value})
    result: dict[str, Any] = data["updateCustomerSettings"]
    return result


async def _key_login(client, email: str, secret: str, count: int) -> dict[str, Any]:
    token = await challenge(client, email)
    begun = (await client.run("BeginSecondFactor", challenge=token, method="echokey"))["beginSecondFactor"]
    assert begun["__typename"] == "SecondFactorChallenge", begun
    answer = json.dumps({"signature": sign(secret, begun["options"]["challenge"], count), "count": count})
    return await verify(client, token, "echokey", answer)


async def test_r1_the_setting_round_trips_and_is_audited(client, mailbox, make_user, acme):
    token, _ = await _key_user(client, mailbox, make_user, acme, "admin@acme.example")

    on = await _setting(client, token, acme, True)
    off = await _setting(client, token, acme, False)

    assert on["__typename"] == off["__typename"] == "CustomerSettingsUpdated"
    assert on["customer"]["settings"][FIELD] is True and off["customer"]["settings"][FIELD] is False
    read = await client.run("Customer", bearer=token, id=str(acme.id))
    assert read["customer"]["settings"][FIELD] is False
    changes = await AuditEvent.filter(customer_id=acme.id, kind="settings_changed").order_by("id")
    assert [e.data for e in changes] == [
        {"field": FIELD, "old": False, "new": True},
        {"field": FIELD, "old": True, "new": False},
    ]


async def test_r1_a_company_member_may_not_change_it(client, mailbox, make_user, acme):
    await _key_user(client, mailbox, make_user, acme, "admin@acme.example")
    worker, _ = await _key_user(client, mailbox, make_user, acme, "worker@acme.example", MembershipLevel.COMPANY)

    refused = await _setting(client, worker, acme, True)

    assert refused["__typename"] == "PermissionDenied"
    assert not (await Customer.get(id=acme.id)).require_phishing_resistant_admins


async def test_switching_on_is_refused_while_an_admin_has_no_key_then_allowed(client, mailbox, make_user, acme):
    admin, _ = await _key_user(client, mailbox, make_user, acme, "admin@acme.example")
    other = await _totp_user(client, mailbox, make_user, acme, "second@acme.example")
    # A COMPANY-level member without a key does not count.
    await _totp_user(client, mailbox, make_user, acme, "worker@acme.example", MembershipLevel.COMPANY)

    refused = await _setting(client, admin, acme, True)

    assert (refused["__typename"], refused["field"]) == ("InvalidInput", FIELD)
    assert refused["message"].startswith("1 administrator of this customer")
    assert "second@acme.example" not in refused["message"]
    assert not (await Customer.get(id=acme.id)).require_phishing_resistant_admins
    assert not await AuditEvent.filter(customer_id=acme.id, kind="settings_changed").exists()

    await _add_key(client, other.token)
    allowed = await _setting(client, admin, acme, True)

    assert allowed["__typename"] == "CustomerSettingsUpdated"


async def test_r5_an_invited_admin_is_offered_only_phishing_resistant_methods(client, mailbox, make_user, acme):
    admin, _ = await _key_user(client, mailbox, make_user, acme, "admin@acme.example")
    assert (await _setting(client, admin, acme, True))["__typename"] == "CustomerSettingsUpdated"

    offered = {}
    for email, level in (("boss@acme.example", "CUSTOMER"), ("clerk@acme.example", "COMPANY")):
        invited = await client.run(
            "InviteUser", bearer=admin, customerId=str(acme.id), email=email, level=level, loginMethod="TWO_FACTOR"
        )
        assert invited["inviteUser"]["__typename"] == "UserInvited", invited
        invitation = invitation_token_in(await mailbox.next_to(email, "invitation"))
        methods = (await client.run("Invitation", token=invitation))["invitation"]["methods"]
        offered[level] = methods
    totp = await client.run("BeginEnrollment", invitation=invitation, method="totp")

    assert offered["CUSTOMER"] and all(m["capabilities"]["phishingResistant"] for m in offered["CUSTOMER"])
    assert "echokey" in {m["id"] for m in offered["CUSTOMER"]}
    # The COMPANY-level newcomer is unaffected.
    assert "totp" in {m["id"] for m in offered["COMPANY"]}
    assert totp["beginEnrollment"]["__typename"] == "EnrollmentStarted"


async def test_a_password_admin_cannot_be_invited_while_it_is_on(client, mailbox, make_user, acme):
    admin, _ = await _key_user(client, mailbox, make_user, acme, "admin@acme.example")
    await Customer.filter(id=acme.id).update(enforce_two_factor=False, require_phishing_resistant_admins=True)

    refused = await client.run(
        "InviteUser",
        bearer=admin,
        customerId=str(acme.id),
        email="new@acme.example",
        level="CUSTOMER",
        loginMethod="PASSWORD",
    )

    assert (refused["inviteUser"]["__typename"], refused["inviteUser"]["field"]) == ("InvalidInput", "loginMethod")
    assert not await User.filter(email="new@acme.example").exists()


async def _both_factors_admin(client, mailbox, make_user, acme):
    """An admin with TOTP and an echokey; the setting is on."""
    converted = await _totp_user(client, mailbox, make_user, acme, "admin@acme.example")
    secret = await _add_key(client, converted.token)
    assert (await _setting(client, converted.token, acme, True))["__typename"] == "CustomerSettingsUpdated"
    return converted, secret


async def test_r6_an_admin_signs_in_only_with_the_key_and_other_codes_spend_nothing(client, mailbox, make_user, acme):
    converted, secret = await _both_factors_admin(client, mailbox, make_user, acme)
    login = await client.login("admin@acme.example", PASSWORD)
    token = login["challenge"]
    codes_before = await RecoveryCode.filter(used_at=None).count()

    by_app = await verify(client, token, "totp", totp_code(converted.secret))
    by_recovery = await verify(client, token, "recovery_code", converted.recovery_codes[0])
    sent = (await client.run("SendLoginCode", challenge=token, method="totp"))["sendLoginCode"]

    assert [m["id"] for m in login["methods"]] == ["echokey"]
    for refused in (by_app, by_recovery):
        assert refused["__typename"] == "MethodNotAvailable"
        assert "phishing-resistant" in refused["message"]
    assert sent["__typename"] == "MethodNotAvailable"
    # Nothing spent: the challenge's attempts, the recovery codes, the user's wrong-code count.
    assert (await Token.get(purpose="login_challenge", used_at=None)).attempts == 0
    assert await RecoveryCode.filter(used_at=None).count() == codes_before
    assert (await User.get(email="admin@acme.example")).failed_code_attempts == 0
    assert not await AuditEvent.filter(kind="second_factor_failed").exists()
    assert (await _key_login(client, "admin@acme.example", secret, 1))["__typename"] == "LoginSuccess"


async def test_r14_step_up_offers_and_accepts_only_the_key(client, mailbox, make_user, acme, converted_session):
    converted, _ = await _both_factors_admin(client, mailbox, make_user, acme)
    # A session whose second factor is not recent (verifiedAt null).
    stale = await converted_session(await User.get(email="admin@acme.example"))

    asked = (await client.run("RegenerateRecoveryCodes", bearer=stale))["regenerateRecoveryCodes"]
    by_app = await client.run("Reauthenticate", bearer=stale, method="totp", code=totp_code(converted.secret))
    by_recovery = await client.run(
        "Reauthenticate", bearer=stale, method="recovery_code", code=converted.recovery_codes[0]
    )

    assert (asked["__typename"], asked["methods"]) == ("ReauthenticationRequired", ["echokey"])
    assert by_app["reauthenticate"]["__typename"] == by_recovery["reauthenticate"]["__typename"] == "MethodNotAvailable"
    assert await RecoveryCode.filter(used_at=None).count() == len(converted.recovery_codes)


async def test_a_company_member_and_a_customer_without_the_setting_are_unaffected(
    client, mailbox, make_user, make_customer, acme
):
    await _both_factors_admin(client, mailbox, make_user, acme)
    worker = await _totp_user(client, mailbox, make_user, acme, "worker@acme.example", MembershipLevel.COMPANY)
    other = await make_customer("Other Oy", enforce=True)
    elsewhere = await _totp_user(client, mailbox, make_user, other, "admin@other.example")
    await _add_key(client, elsewhere.token)

    for email, converted in (("worker@acme.example", worker), ("admin@other.example", elsewhere)):
        login = await client.login(email, PASSWORD)
        assert {"totp", "recovery_code"} <= {m["id"] for m in login["methods"]}
        result = await verify(client, login["challenge"], "totp", totp_code(converted.secret, 1))
        assert result["__typename"] == "LoginSuccess", (email, result)


async def test_the_last_key_of_an_admin_stays_while_it_is_on(client, mailbox, make_user, acme):
    converted, _ = await _both_factors_admin(client, mailbox, make_user, acme)
    key = await EnrolledFactor.get(method="echokey")
    app = await EnrolledFactor.get(method="totp")

    refused = (await client.run("RemoveFactor", bearer=converted.token, id=str(key.id)))["removeFactor"]
    removed = (await client.run("RemoveFactor", bearer=converted.token, id=str(app.id)))["removeFactor"]

    assert refused["__typename"] == "LastFactor" and "phishing-resistant" in refused["message"]
    assert removed["__typename"] == "FactorUpdated"
    assert await EnrolledFactor.filter(id=key.id).exists()


async def test_promotion_needs_a_key_while_it_is_on(client, mailbox, make_user, acme):
    admin, _ = await _key_user(client, mailbox, make_user, acme, "admin@acme.example")
    await _totp_user(client, mailbox, make_user, acme, "clerk@acme.example", MembershipLevel.COMPANY)
    await _key_user(client, mailbox, make_user, acme, "keyed@acme.example", MembershipLevel.COMPANY)
    assert (await _setting(client, admin, acme, True))["__typename"] == "CustomerSettingsUpdated"

    async def promote(email: str) -> dict[str, Any]:
        user = await User.get(email=email)
        data = await client.run(
            "SetMemberLevel", bearer=admin, customerId=str(acme.id), userId=str(user.id), level="CUSTOMER"
        )
        result: dict[str, Any] = data["setMemberLevel"]
        return result

    refused = await promote("clerk@acme.example")
    promoted = await promote("keyed@acme.example")

    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "level")
    assert promoted["__typename"] == "MemberUpdated"
    clerk = await User.get(email="clerk@acme.example")
    assert (await clerk.memberships.all().first()).level is MembershipLevel.COMPANY  # type: ignore[union-attr]


async def test_joining_as_admin_needs_a_key_while_it_is_on(client, mailbox, make_user, make_customer, acme):
    admin, _ = await _key_user(client, mailbox, make_user, acme, "admin@acme.example")
    assert (await _setting(client, admin, acme, True))["__typename"] == "CustomerSettingsUpdated"
    other = await make_customer("Other Oy", enforce=True)
    outsider = await _totp_user(client, mailbox, make_user, other, "carl@other.example", MembershipLevel.COMPANY)
    invited = await client.run(
        "InviteUser", bearer=admin, customerId=str(acme.id), email="carl@other.example", level="CUSTOMER"
    )
    assert invited["inviteUser"]["__typename"] == "UserInvited"
    link = invitation_token_in(await mailbox.next_to("carl@other.example", "join_customer"))

    refused = (await client.run("AcceptInvitation", bearer=outsider.token, invitation=link))["acceptInvitation"]

    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "invitation")
    assert not await User.filter(email="carl@other.example", memberships__customer_id=acme.id).exists()


async def test_p1_p2_the_core_policy_is_skipped_for_customers_without_the_setting(services, make_customer):
    # Logins and viewer queries of everyone else load no memberships for it (no other policy plugin here).
    plain = await make_customer("Plain Oy")
    strict = await make_customer("Strict Oy")
    strict.require_phishing_resistant_admins = True

    assert not services.policy._consults_hook([plain])
    assert services.policy._consults_hook([plain, strict])


async def test_s32_the_setting_and_allowed_methods_never_leave_an_admin_nothing_to_enroll(
    client, mailbox, make_user, acme
):
    admin, _ = await _key_user(client, mailbox, make_user, acme, "admin@acme.example")

    async def change(**settings: Any) -> dict[str, Any]:
        data = await client.run("UpdateCustomerSettings", bearer=admin, customerId=str(acme.id), input=settings)
        result: dict[str, Any] = data["updateCustomerSettings"]
        return result

    assert (await change(allowedMethods=["totp"]))["__typename"] == "CustomerSettingsUpdated"
    refused_on = await change(**{FIELD: True})
    assert (await change(allowedMethods=["totp", "echokey"], **{FIELD: True}))["__typename"] == (
        "CustomerSettingsUpdated"
    )
    refused_narrowing = await change(allowedMethods=["totp"])

    assert (refused_on["__typename"], refused_on["field"]) == ("InvalidInput", FIELD)
    assert "no phishing-resistant method left to enroll" in refused_on["message"]
    assert (refused_narrowing["__typename"], refused_narrowing["field"]) == ("InvalidInput", "allowedMethods")
    assert (await Customer.get(id=acme.id)).allowed_methods == ["echokey", "totp"]


async def test_r18_a_browser_remembered_before_the_setting_skips_nothing_after_it(client, mailbox, make_user, acme):
    await Customer.filter(id=acme.id).update(remember_device_days=7)
    admin, secret = await _key_user(client, mailbox, make_user, acme, "admin@acme.example")
    token = await challenge(client, "admin@acme.example")
    begun = (await client.run("BeginSecondFactor", challenge=token, method="echokey"))["beginSecondFactor"]
    answer = json.dumps({"signature": sign(secret, begun["options"]["challenge"], 1), "count": 1})
    remembered = await client.run(
        "VerifySecondFactor", challenge=token, method="echokey", code=answer, rememberDevice=True
    )
    assert remembered["verifySecondFactor"]["__typename"] == "LoginSuccess", remembered
    assert await RememberedDevice.filter(user__email="admin@acme.example").count() == 1
    assert (await _setting(client, admin, acme, True))["__typename"] == "CustomerSettingsUpdated"

    # The same browser (its device cookie kept), the right password: the key is asked for, not skipped.
    again = await client.login("admin@acme.example", PASSWORD)

    assert again["__typename"] == "SecondFactorRequired", again
    assert again["rememberDeviceDays"] == 0
    assert [m["id"] for m in again["methods"]] == ["echokey"]
    assert not await RememberedDevice.filter(user__email="admin@acme.example").exists()


async def test_r2_an_administrator_made_with_a_password_under_the_setting_converts_first(
    client, mailbox, make_user, make_customer
):
    relaxed = await make_customer("Relaxed Oy", enforce=True)
    admin, _ = await _key_user(client, mailbox, make_user, relaxed, "admin@acme.example")
    assert (await _setting(client, admin, relaxed, True))["__typename"] == "CustomerSettingsUpdated"
    # Enforcement off: the setting alone must ask the new administrator for two factors.
    await Customer.filter(id=relaxed.id).update(enforce_two_factor=False)
    # An operator's `user create --password --level customer` (the fixture goes through the operator service).
    await make_user(relaxed, "late@acme.example", PASSWORD, MembershipLevel.CUSTOMER)

    login = await client.login("late@acme.example", PASSWORD)
    invitation = await request_invitation(client, mailbox, "late@acme.example")
    offered = (await client.run("Invitation", token=invitation))["invitation"]["methods"]

    # Never a password alone, and the enrollment offers phishing-resistant methods only.
    assert login["__typename"] == "ConversionRequired", login
    assert "echokey" in {m["id"] for m in offered}
    assert all(m["capabilities"]["phishingResistant"] for m in offered), offered


async def test_joining_as_administrator_and_removing_the_last_key_at_once_leave_no_keyless_admin(
    client, mailbox, make_user, make_customer, acme, monkeypatch, database_url
):
    if not database_url.startswith("postgres"):
        pytest.skip("PostgreSQL only: SQLite's one connection runs the two transactions one after the other")
    admin, _ = await _key_user(client, mailbox, make_user, acme, "admin@acme.example")
    assert (await _setting(client, admin, acme, True))["__typename"] == "CustomerSettingsUpdated"
    # Carl: TOTP and a key, removed from his only customer, invited to be Acme's administrator.
    other = await make_customer("Other Oy", enforce=True)
    carl = await _totp_user(client, mailbox, make_user, other, "carl@other.example", MembershipLevel.COMPANY)
    await _add_key(client, carl.token)
    carl_user = await User.get(email="carl@other.example")
    await Membership.filter(user_id=carl_user.id).delete()
    invited = await client.run(
        "InviteUser", bearer=admin, customerId=str(acme.id), email="carl@other.example", level="CUSTOMER"
    )
    assert invited["inviteUser"]["__typename"] == "UserInvited", invited
    link = invitation_token_in(await mailbox.next_to("carl@other.example", "join_customer"))
    key = await EnrolledFactor.get(user_id=carl_user.id, method="echokey")
    # The acceptance pauses right after it found that Carl has a key, before his membership exists.
    checked, go = asyncio.Event(), asyncio.Event()
    original = Policy.joining_gap

    async def paused(self: Policy, *args: Any, **kwargs: Any) -> bool:
        answer = await original(self, *args, **kwargs)
        checked.set()
        await go.wait()
        return answer

    monkeypatch.setattr(Policy, "joining_gap", paused)

    accepting = asyncio.create_task(client.run("AcceptInvitation", bearer=carl.token, invitation=link))
    await checked.wait()
    removing = asyncio.create_task(client.run("RemoveFactor", bearer=carl.token, id=str(key.id)))
    await asyncio.sleep(0.3)  # the removal's turn, were it not waiting for the acceptance
    go.set()
    accepted, removed = (await accepting)["acceptInvitation"], (await removing)["removeFactor"]

    assert accepted["__typename"] == "InvitationAccepted", accepted
    assert removed["__typename"] == "LastFactor", removed
    assert await EnrolledFactor.filter(user_id=carl_user.id, method="echokey").exists()


async def test_s41_the_cap_never_locks_an_administrator_out_of_their_passkey(client, mailbox, make_user, acme):
    admin, secret = await _key_user(client, mailbox, make_user, acme, "admin@acme.example")
    assert (await _setting(client, admin, acme, True))["__typename"] == "CustomerSettingsUpdated"
    # Someone with the password answered the passkey step wrongly a hundred times in a row (S41's cap).
    await User.filter(email="admin@acme.example").update(code_failure_streak=STREAK_CAP)

    login = await client.login("admin@acme.example", PASSWORD)
    signed_in = await _key_login(client, "admin@acme.example", secret, 1)

    # A signature over a fresh challenge cannot be guessed: the cap locks codes, not keys (recovery codes are
    # refused to this administrator, so the key is the way in, not the operator).
    assert [m["id"] for m in login["methods"]] == ["echokey"]
    assert signed_in["__typename"] == "LoginSuccess", signed_in
    assert (await User.get(email="admin@acme.example")).code_failure_streak == 0


async def test_switching_on_ends_the_administrators_other_sessions(client, mailbox, make_user, acme):
    admin, _ = await _key_user(client, mailbox, make_user, acme, "admin@acme.example")
    other_admin, _ = await _key_user(client, mailbox, make_user, acme, "second@acme.example")
    worker, _ = await _key_user(client, mailbox, make_user, acme, "worker@acme.example", MembershipLevel.COMPANY)

    assert (await _setting(client, admin, acme, True))["__typename"] == "CustomerSettingsUpdated"

    async def signed_in(token: str) -> bool:
        return (await client.run("Viewer", bearer=token))["viewer"] is not None

    # Its sessions may have been verified with a code on a look-alike site: the other administrator signs in
    # again (with the key); the one who switched it on goes on, and members who are no administrators too.
    assert await signed_in(admin) and await signed_in(worker)
    assert not await signed_in(other_admin)
    [change] = await AuditEvent.filter(customer_id=acme.id, kind="settings_changed")
    assert change.data["sessions_ended"] == 1
