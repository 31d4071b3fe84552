"""R18 "remember this device": after a second-factor success with `rememberDevice`, a browser with the device
cookie skips the second factor at a login with the right password, while the cookie is valid, the user's
password, address and factors are unchanged, and every customer of the user allows it (the smallest value
counts). The session it opens has `verifiedAt` null (R14). Users list and forget their devices."""

from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher, Type

from gql_server.api.context import DEVICE_COOKIE
from gql_server.audit import AuditKind
from gql_server.clock import utcnow
from gql_server.enums import Assurance, MembershipLevel
from gql_server.limits import REMEMBER_DEVICE_MAX_DAYS
from gql_server.models import AuditEvent, Customer, EnrolledFactor, Membership, RememberedDevice, User
from gql_server.sessions import create_session

from .flows import PASSWORD, Converted, challenge, convert, totp_code
from .graphql import GraphQLClient, operation
from .mailbox import link_token_in

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
NEW_PASSWORD = "a brand new passphrase for anna"


@pytest.fixture
async def totp_user(client, mailbox, acme, anna) -> Converted:
    """Anna, converted with an authenticator app; Acme (enforcing) remembers browsers for 7 days."""
    await Customer.filter(id=acme.id).update(remember_device_days=7)
    return await convert(client, mailbox, "anna@example.com", "totp")


async def _verify(client: GraphQLClient, email: str, code: str, method: str = "totp") -> httpx.Response:
    """Password, then the second factor with "remember this device"; the raw response (for its cookies)."""
    variables = {"challenge": await challenge(client, email), "method": method, "code": code, "rememberDevice": True}
    return await client.post(operation("VerifySecondFactor"), variables)


def _device_cookie(response: httpx.Response) -> Any:
    """The device cookie the response sets, or None."""
    for header in response.headers.get_list("set-cookie"):
        cookie = SimpleCookie(header)
        if DEVICE_COOKIE in cookie:
            return cookie[DEVICE_COOKIE]
    return None


async def _remember(client: GraphQLClient, converted: Converted, email: str = "anna@example.com") -> Any:
    """A second-factor login that remembers this browser; the device cookie it set."""
    response = await _verify(client, email, totp_code(converted.secret or "", 1))
    result = response.json()["data"]["verifySecondFactor"]
    assert result["__typename"] == "LoginSuccess", result
    cookie = _device_cookie(response)
    assert cookie is not None, response.headers
    return cookie


async def _set_days(client: GraphQLClient, token: str, customer: Customer, days: int) -> dict[str, Any]:
    data = await client.run(
        "UpdateCustomerSettings", bearer=token, customerId=str(customer.id), input={"rememberDeviceDays": days}
    )
    result: dict[str, Any] = data["updateCustomerSettings"]
    return result


@pytest.fixture
async def admin_of(make_user, converted_session):
    """Factory: a converted CUSTOMER-level admin's session token for a customer."""

    async def make(customer: Customer, email: str) -> str:
        admin = await make_user(customer, email, PASSWORD, MembershipLevel.CUSTOMER)
        token: str = await converted_session(admin)
        return token

    return make


async def test_r18_r14_a_remembered_browser_skips_the_second_factor_and_steps_up_for_sensitive_ones(
    client, anna, totp_user
):
    client.http.headers["User-Agent"] = FIREFOX
    before = utcnow()
    cookie = await _remember(client, totp_user)

    # S19's attributes, kept as long as the device may be used (7 days).
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "lax" and cookie["path"] == "/"
    assert int(cookie["max-age"]) == 7 * 24 * 3600
    device = await RememberedDevice.get(user_id=anna.id)
    assert device.token_hash != cookie.value and len(cookie.value) >= 40  # only its SHA-256 is stored
    assert device.user_agent == FIREFOX and device.last_used_at is None
    assert device.expires_at - device.created_at == timedelta(days=7)

    login = await client.login("anna@example.com", PASSWORD)

    assert login["__typename"] == "LoginSuccess", login
    assert login["session"]["assurance"] == "TWO_FACTOR"
    viewer = (await client.run("Viewer", bearer=login["token"]))["viewer"]
    assert viewer["session"]["verifiedAt"] is None
    # R14: no factor was verified in this session; a sensitive operation asks for one.
    regenerated = (await client.run("RegenerateRecoveryCodes", bearer=login["token"]))["regenerateRecoveryCodes"]
    assert regenerated["__typename"] == "ReauthenticationRequired"
    assert regenerated["methods"] == ["totp", "recovery_code"]
    assert (await RememberedDevice.get(id=device.id)).last_used_at >= before
    skipped = await AuditEvent.filter(kind=AuditKind.LOGIN_SUCCEEDED, subject_id=anna.id).order_by("-id").first()
    assert skipped is not None and skipped.data["method"] == "remembered_device"
    assert await AuditEvent.filter(kind=AuditKind.DEVICE_REMEMBERED, subject_id=anna.id).count() == 1


async def test_r18_the_second_factor_step_says_how_long_a_browser_would_be_remembered(
    client, make_customer, acme, anna, totp_user
):
    assert (await client.login("anna@example.com", PASSWORD))["rememberDeviceDays"] == 7
    other = await make_customer("Other Oy")
    await Membership.create(user=anna, customer=other, level=MembershipLevel.COMPANY)
    # The smallest setting among the user's customers counts: Other Oy's 0 turns the box off.
    assert (await client.login("anna@example.com", PASSWORD))["rememberDeviceDays"] == 0


async def test_r18_the_cookie_never_replaces_the_password(client, totp_user):
    await _remember(client, totp_user)

    assert (await client.login("anna@example.com", "not the password"))["__typename"] == "InvalidCredentials"


async def test_r18_another_users_cookie_asks_for_the_second_factor(client, mailbox, acme, anna, make_user, totp_user):
    await make_user(acme, "bert@example.com", PASSWORD)
    client.forget_cookies()
    bert = await convert(client, mailbox, "bert@example.com", "totp")
    await _remember(client, bert, "bert@example.com")

    # Anna in the browser Bert's device cookie is in: her own second factor, and Bert's device stays.
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "SecondFactorRequired"
    assert await RememberedDevice.filter(user__email="bert@example.com").count() == 1


async def test_r18_without_remember_device_no_cookie_is_set(client, anna, totp_user):
    response = await client.post(
        operation("VerifySecondFactor"),
        {
            "challenge": await challenge(client, "anna@example.com"),
            "method": "totp",
            "code": totp_code(totp_user.secret, 1),
        },
    )

    assert response.json()["data"]["verifySecondFactor"]["__typename"] == "LoginSuccess"
    assert _device_cookie(response) is None
    assert not await RememberedDevice.filter(user_id=anna.id).exists()


async def test_r18_remember_device_while_the_setting_is_0_sets_no_cookie(client, acme, anna, totp_user):
    await Customer.filter(id=acme.id).update(remember_device_days=0)

    response = await _verify(client, "anna@example.com", totp_code(totp_user.secret, 1))

    assert response.json()["data"]["verifySecondFactor"]["__typename"] == "LoginSuccess"
    assert _device_cookie(response) is None
    assert not await RememberedDevice.filter(user_id=anna.id).exists()
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "SecondFactorRequired"


async def test_r18_a_customer_of_the_user_at_0_turns_it_off(client, make_customer, anna, totp_user):
    """Every customer of the user must allow it: one at 0 (the default) is enough to say no."""
    relaxed = await make_customer("Relaxed Oy")
    await Membership.create(user=anna, customer=relaxed, level=MembershipLevel.COMPANY)

    response = await _verify(client, "anna@example.com", totp_code(totp_user.secret, 1))

    assert response.json()["data"]["verifySecondFactor"]["__typename"] == "LoginSuccess"
    assert _device_cookie(response) is None


@pytest.mark.parametrize("change", ["factor_added", "factor_removed"])
async def test_r18_r13_a_factor_change_forgets_the_device(client, anna, totp_user, change):
    factor = await EnrolledFactor.get(user_id=anna.id)
    if change == "factor_removed":
        # A second factor at the time the browser is remembered, removed afterwards.
        extra = await EnrolledFactor.create(
            user=anna, method="totp", state_encrypted=factor.state_encrypted, created_at=utcnow()
        )
    await _remember(client, totp_user)
    if change == "factor_added":
        await EnrolledFactor.create(
            user=anna, method="totp", state_encrypted=factor.state_encrypted, created_at=utcnow()
        )
    else:
        await extra.delete()

    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "SecondFactorRequired"
    assert not await RememberedDevice.filter(user_id=anna.id).exists()
    forgotten = await AuditEvent.get(kind=AuditKind.DEVICE_FORGOTTEN, subject_id=anna.id)
    assert forgotten.data["reason"] == "credentials_changed"


async def test_r18_r16_a_password_reset_forgets_the_device(client, mailbox, anna, totp_user):
    await _remember(client, totp_user)
    await client.run("RequestPasswordReset", email="anna@example.com")
    link = link_token_in(await mailbox.next_to("anna@example.com", "password_reset"), "reset-password")

    reset = (await client.run("ResetPassword", token=link, newPassword=NEW_PASSWORD))["resetPassword"]

    # R16: the reset itself never skips the second factor, cookie or not; nor does a login after it.
    assert reset["__typename"] == "SecondFactorRequired", reset
    assert (await client.login("anna@example.com", NEW_PASSWORD))["__typename"] == "SecondFactorRequired"
    assert not await RememberedDevice.filter(user_id=anna.id).exists()


async def test_r18_r13_an_address_change_forgets_the_device_for_good(client, mailbox, anna, totp_user):
    await _remember(client, totp_user)
    # The session of that login verified a factor just now: it may change the address (R14).
    asked = (await client.run("RequestEmailChange", newEmail="anna.k@example.org"))["requestEmailChange"]
    assert asked["__typename"] == "EmailChangeRequested", asked
    link = link_token_in(await mailbox.next_to("anna.k@example.org", "email_change"), "email-change")

    assert (await client.run("ConfirmEmailChange", token=link))["confirmEmailChange"]["__typename"] == "EmailChanged"

    # Forgotten at once, not only at the next login: changing the address back cannot bring it back.
    assert not await RememberedDevice.filter(user_id=anna.id).exists()
    assert (await client.login("anna.k@example.org", PASSWORD))["__typename"] == "SecondFactorRequired"


async def test_r18_r16_a_password_change_forgets_the_device(client, anna, totp_user):
    await _remember(client, totp_user)

    changed = (await client.run("ChangePassword", currentPassword=PASSWORD, newPassword=NEW_PASSWORD))["changePassword"]

    assert changed["__typename"] == "PasswordChanged", changed
    assert (await client.login("anna@example.com", NEW_PASSWORD))["__typename"] == "SecondFactorRequired"
    assert not await RememberedDevice.filter(user_id=anna.id).exists()


async def test_r18_r15_adding_a_factor_through_the_api_forgets_the_device(client, anna, totp_user):
    await _remember(client, totp_user)
    begun = (await client.run("AddFactor", method="totp"))["addFactor"]
    assert begun["__typename"] == "EnrollmentStarted", begun

    added = (await client.run("ConfirmFactor", enrollment=begun["enrollment"], code=totp_code(begun["secret"])))[
        "confirmFactor"
    ]

    assert added["__typename"] == "FactorAdded", added
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "SecondFactorRequired"


async def test_r18_an_expired_device_asks_for_the_second_factor(client, anna, totp_user):
    await _remember(client, totp_user)
    await RememberedDevice.filter(user_id=anna.id).update(expires_at=utcnow() - timedelta(seconds=1))

    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "SecondFactorRequired"
    assert not await RememberedDevice.filter(user_id=anna.id).exists()


async def test_r18_the_smallest_setting_among_the_users_customers_counts(client, make_customer, acme, anna, totp_user):
    await Customer.filter(id=acme.id).update(remember_device_days=30)
    strict = await make_customer("Strict Oy")
    await Customer.filter(id=strict.id).update(remember_device_days=2)
    await Membership.create(user=anna, customer=strict, level=MembershipLevel.COMPANY)
    cookie = await _remember(client, totp_user)
    assert int(cookie["max-age"]) == 2 * 24 * 3600

    # Three days later Acme's 30 would still allow it; Strict's 2 do not.
    await RememberedDevice.filter(user_id=anna.id).update(
        created_at=utcnow() - timedelta(days=3), expires_at=utcnow() + timedelta(days=27)
    )

    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "SecondFactorRequired"


async def test_r18_r1_a_setting_lowered_to_0_in_any_customer_forgets_for_good(
    client, make_customer, acme, anna, admin_of, totp_user
):
    other = await make_customer("Other Oy")
    await Customer.filter(id=other.id).update(remember_device_days=30)
    await Membership.create(user=anna, customer=other, level=MembershipLevel.COMPANY)
    other_admin = await admin_of(other, "admin@other.example")
    await _remember(client, totp_user)
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "LoginSuccess"

    off = await _set_days(client, other_admin, other, 0)
    assert off["__typename"] == "CustomerSettingsUpdated"
    assert off["customer"]["settings"]["rememberDeviceDays"] == 0
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "SecondFactorRequired"

    # Allowing it again does not bring the device back.
    assert (await _set_days(client, other_admin, other, 30))["__typename"] == "CustomerSettingsUpdated"
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "SecondFactorRequired"
    assert not await RememberedDevice.filter(user_id=anna.id).exists()
    changes = await AuditEvent.filter(kind=AuditKind.SETTINGS_CHANGED, customer_id=other.id).order_by("id")
    assert [e.data for e in changes] == [
        {"field": "rememberDeviceDays", "old": 30, "new": 0, "devices_forgotten": 1},
        {"field": "rememberDeviceDays", "old": 0, "new": 30},
    ]


async def test_r18_a_lowered_setting_shortens_the_devices_it_still_allows(client, acme, anna, admin_of, totp_user):
    await Customer.filter(id=acme.id).update(remember_device_days=30)
    admin = await admin_of(acme, "admin@acme.example")
    await _remember(client, totp_user)
    device = await RememberedDevice.get(user_id=anna.id)

    assert (await _set_days(client, admin, acme, 3))["__typename"] == "CustomerSettingsUpdated"
    await _set_days(client, admin, acme, 30)

    assert (await RememberedDevice.get(id=device.id)).expires_at == device.created_at + timedelta(days=3)
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "LoginSuccess"


@pytest.mark.parametrize("days", [-1, REMEMBER_DEVICE_MAX_DAYS + 1, 10_000])
async def test_r18_r1_the_setting_is_0_to_30_days(client, acme, admin_of, days):
    admin = await admin_of(acme, "admin@acme.example")

    refused = await _set_days(client, admin, acme, days)

    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "rememberDeviceDays")
    assert (await Customer.get(id=acme.id)).remember_device_days == 0
    assert (await _set_days(client, admin, acme, REMEMBER_DEVICE_MAX_DAYS))["__typename"] == "CustomerSettingsUpdated"


async def test_r18_s6_s41_a_locked_or_capped_second_factor_step_is_not_skipped(client, anna, totp_user):
    """While someone is guessing the account's codes, a cookie lets no one past the lockout (S6) or the
    cap (S41): the user answers the second factor as everyone does, and the device stays remembered."""
    await _remember(client, totp_user)
    await User.filter(id=anna.id).update(code_locked_until=utcnow() + timedelta(minutes=5))
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "SecondFactorRequired"

    await User.filter(id=anna.id).update(code_locked_until=None, code_failure_streak=100)
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "SecondFactorRequired"

    await User.filter(id=anna.id).update(code_failure_streak=0)
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "LoginSuccess"


async def test_r18_the_viewer_lists_and_forgets_devices(client, mailbox, acme, anna, make_user, totp_user):
    client.http.headers["User-Agent"] = FIREFOX
    await _remember(client, totp_user)
    token = await client.login_token("anna@example.com", PASSWORD)  # through the device

    listed = (await client.run("RememberedDevices", bearer=token))["viewer"]["rememberedDevices"]

    assert len(listed) == 1
    assert listed[0]["userAgent"] == FIREFOX
    assert listed[0]["lastUsedAt"] is not None and listed[0]["expiresAt"] > listed[0]["createdAt"]

    # Another user's device, a malformed and an unknown id: the same false, nothing forgotten.
    await make_user(acme, "bert@example.com", PASSWORD)
    bert = await User.get(email="bert@example.com")
    theirs = await RememberedDevice.create(
        user=bert, token_hash="0" * 64, credentials_fingerprint="x", created_at=utcnow(),
        expires_at=utcnow() + timedelta(days=1),
    )  # fmt: skip
    for other in (str(theirs.id), "not an id", "00000000-0000-0000-0000-000000000000"):
        assert (await client.run("ForgetDevice", bearer=token, id=other))["forgetDevice"] is False
    assert await RememberedDevice.filter(id=theirs.id).exists()

    response = await client.post(operation("ForgetDevice"), {"id": listed[0]["id"]}, bearer=token)

    assert response.json()["data"]["forgetDevice"] is True
    # This browser's own device: its cookie is cleared too.
    cleared = _device_cookie(response)
    assert cleared is not None and int(cleared["max-age"]) == 0
    assert (await client.run("RememberedDevices", bearer=token))["viewer"]["rememberedDevices"] == []
    assert (await client.run("ForgetDevice", bearer=token, id=listed[0]["id"]))["forgetDevice"] is False
    forgotten = await AuditEvent.get(kind=AuditKind.DEVICE_FORGOTTEN, subject_id=anna.id)
    assert forgotten.data["reason"] == "user" and forgotten.actor_id == anna.id
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "SecondFactorRequired"


async def test_r18_forgetting_another_browsers_device_leaves_this_ones_cookie(app, client, anna, totp_user):
    await _remember(client, totp_user)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.23", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        # The phone answers with a recovery code: the authenticator's current code was used just now (S8).
        response = await _verify(GraphQLClient(http), "anna@example.com", totp_user.recovery_codes[0], "recovery_code")
        assert _device_cookie(response) is not None
    token = await client.login_token("anna@example.com", PASSWORD)
    mine = await RememberedDevice.filter(user_id=anna.id, last_used_at__not_isnull=True).get()
    phone = await RememberedDevice.filter(user_id=anna.id, last_used_at=None).get()

    response = await client.post(operation("ForgetDevice"), {"id": str(phone.id)}, bearer=token)

    assert response.json()["data"]["forgetDevice"] is True
    assert _device_cookie(response) is None
    assert [d["id"] for d in (await client.run("RememberedDevices", bearer=token))["viewer"]["rememberedDevices"]] == [
        str(mine.id)
    ]
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "LoginSuccess"


async def test_r18_r10_a_restricted_session_lists_and_forgets_nothing(client, services, anna, totp_user):
    """A one-factor session of a user who must use two (R10, S30) sees nothing beyond `viewer` itself."""
    await _remember(client, totp_user)
    device = await RememberedDevice.get(user_id=anna.id)
    restricted = (await create_session(await User.get(id=anna.id), Assurance.PASSWORD, services.sessions)).token

    assert (await client.run("RememberedDevices", bearer=restricted))["viewer"]["rememberedDevices"] == []
    assert (await client.run("ForgetDevice", bearer=restricted, id=str(device.id)))["forgetDevice"] is False
    assert await RememberedDevice.filter(id=device.id).exists()


async def test_r18_the_same_password_hashed_anew_keeps_the_device(client, services, anna, totp_user):
    """A login that rehashes the password (other hashing parameters) changes the hash, not the password:
    the device stays remembered."""
    await _remember(client, totp_user)
    # As if the device had been remembered while the hash was made with other parameters.
    older = PasswordHasher(time_cost=1, memory_cost=16, parallelism=1, type=Type.ID).hash(PASSWORD)
    await User.filter(id=anna.id).update(password_hash=older)
    fingerprint = await services.devices.fingerprint(await User.get(id=anna.id))
    await RememberedDevice.filter(user_id=anna.id).update(credentials_fingerprint=fingerprint)

    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "LoginSuccess"
    assert (await User.get(id=anna.id)).password_hash != older
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "LoginSuccess"


class TestDeviceCookieBehindHttps:
    @pytest.fixture
    def settings_overrides(self):
        return {"public_url": "https://auth.example.com"}

    async def test_r18_s19_the_device_cookie_is_secure_when_public_url_is_https(self, client, totp_user):
        response = await _verify(client, "anna@example.com", totp_code(totp_user.secret, 1))

        cookie = _device_cookie(response)
        assert cookie is not None and cookie["secure"] is True


async def test_r18_remembering_the_same_browser_again_replaces_its_device(client, anna, totp_user):
    await _remember(client, totp_user)
    first = await RememberedDevice.get(user_id=anna.id)

    # With the device cookie in the jar, the second factor is still asked while only recovery codes sign in
    # (S41, above); the user answers one and ticks the box again.
    await User.filter(id=anna.id).update(code_failure_streak=100)
    response = await _verify(client, "anna@example.com", totp_user.recovery_codes[0], "recovery_code")

    assert _device_cookie(response) is not None
    assert [d.id for d in await RememberedDevice.filter(user_id=anna.id)] != [first.id]
    assert await RememberedDevice.filter(user_id=anna.id).count() == 1
    assert (await AuditEvent.get(kind=AuditKind.DEVICE_FORGOTTEN, subject_id=anna.id)).data["reason"] == "replaced"
