"""What holds whatever a caller does: R9 (no way back), S14/S18 on operator resets, S23 (secrets
encrypted at rest), S24 (hashes only), and plugins that can only tighten the policy or fail alone.
"""

from __future__ import annotations

import pytest
from graphql import build_schema as parse_sdl
from tortoise import connections

from gql_server.crypto import Keyring, StateUnreadable
from gql_server.enums import ConversionState, LoginMethod, MembershipLevel
from gql_server.hookspecs import hookimpl
from gql_server.models import EnrolledFactor, Session, User
from gql_server.plugin_api import PolicyRequirement

from .flows import PASSWORD, challenge, convert, enroll, request_invitation, totp_code, verify
from .mailbox import code_in, invitation_token_in
from .test_schema import SCHEMA_FILE


@pytest.fixture
async def anna(acme, make_user):
    return await make_user(acme, "anna@example.com", PASSWORD, MembershipLevel.CUSTOMER)


def test_r9_the_api_has_no_way_back():
    mutations = set(parse_sdl(SCHEMA_FILE.read_text()).mutation_type.fields)

    assert mutations == {
        "login", "sendLoginCode", "verifySecondFactor", "logout", "requestConversion", "startConversion",
        "beginEnrollment", "confirmEnrollment", "updateCustomerSettings",
        # R13: neither returns anyone to PASSWORD; resetPassword still asks for the second factor
        # (tests/test_change_notices.py).
        "reportUnrecognizedChange", "resetPassword",
        # R17: they only end the viewer's own sessions; a new login still asks for every factor.
        "endSession", "endOtherSessions",
        # R16: a link to the account's own address; what it leads to is resetPassword's (above).
        "requestPasswordReset",
        # R13: the user's language only.
        "updateProfile",
        # R14: a second factor verified again; it changes no factor and no login method.
        "reauthenticate", "sendReauthenticationCode",
        # R15: a new set of recovery codes (S11), behind step-up; the factors stay.
        "regenerateRecoveryCodes",
        # R16: a new password with the current one; the login method, the factors and the second step of a
        # two-factor login stay (tests/test_password_change.py).
        "changePassword",
        # R13: only the account's address changes, proven by its mailbox; the login method and factors stay.
        "requestEmailChange", "confirmEmailChange",
        # R15: adding a factor only adds one (the account stays TWO_FACTOR); renaming changes a name;
        # removing refuses the last factor (LastFactor, R9: tests/test_my_factors.py), all behind step-up.
        "addFactor", "confirmFactor", "renameFactor", "removeFactor",
        # R18: forgetting a remembered browser only takes a shortcut away; the factors and the login
        # method stay, and a remembered browser skips the factor only for a two-factor user after the
        # right password (verifySecondFactor's rememberDevice, above).
        "forgetDevice",
        # R19: an admin's actions take places in a customer and send links to the member's own address; a
        # new account starts as the state machine allows (INITIAL), and a two-factor user's password and
        # factors are refused (sendPasswordReset: tests/test_member_admin.py). No login method goes back.
        "inviteUser", "resendInvitation", "removeMember", "setMemberLevel", "sendPasswordReset",
        # R19, R20: joining adds a membership; a link moves memberships into the signed-in account and
        # deletes the converting one (which never had a factor); no account goes back to PASSWORD.
        "acceptInvitation",
        # Issue 16: a challenge for a challenge-response method (a passkey); what answers it is
        # verifySecondFactor's or reauthenticate's, above, and a factor is never made or removed by them.
        "beginSecondFactor", "beginReauthentication",
    }  # fmt: skip
    # updateCustomerSettings only takes the customer's settings, never a user's method or factors
    # (rememberDeviceDays lets a browser skip the second factor of a two-factor user, never the password,
    # and never makes anyone a password user again: tests/test_remembered_devices.py; requirePhishingResistantAdmins
    # only narrows the methods administrators use, never below one they have: tests/test_phishing_resistant_admins.py).
    schema = parse_sdl(SCHEMA_FILE.read_text())
    assert set(schema.type_map["CustomerSettingsInput"].fields) == {
        "enforceTwoFactor",
        "allowedMethods",
        "rememberDeviceDays",
        "requirePhishingResistantAdmins",
    }


async def test_r9_an_admin_switching_enforcement_off_changes_no_converted_user(
    client, mailbox, acme, anna, converted_session
):
    converted = await convert(client, mailbox, "anna@example.com")
    admin = await converted_session(await User.get(email="anna@example.com"))

    await client.run("UpdateCustomerSettings", bearer=admin, customerId=str(acme.id), input={"enforceTwoFactor": False})

    user = await User.get(email="anna@example.com")
    assert (user.login_method, user.conversion) == (LoginMethod.TWO_FACTOR, ConversionState.COMPLETED)
    assert await EnrolledFactor.filter(user_id=user.id).count() == 1
    assert converted.token


async def test_r9_s18_operator_reset_keeps_the_user_two_factor_and_ends_sessions(client, mailbox, operator, anna):
    converted = await convert(client, mailbox, "anna@example.com")

    await operator.reset_factors("anna@example.com")

    user = await User.get(id=anna.id)
    assert user.login_method is LoginMethod.TWO_FACTOR
    assert not await EnrolledFactor.filter(user_id=user.id).exists()
    assert not await Session.filter(user_id=user.id, ended_at=None).exists()
    assert (await client.run("Viewer", bearer=converted.token))["viewer"] is None
    await mailbox.next_to("anna@example.com", "factor_removed")  # S14
    invitation = invitation_token_in(await mailbox.next_to("anna@example.com", "invitation"))
    # Without a factor, the password only re-sends the invitation; the invitation restores a factor, with
    # the account's password too (S34: tests/test_operator_reset.py).
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "ConversionPending"
    again = await enroll(client, mailbox, invitation, "totp", password=PASSWORD)
    assert again.result["user"]["loginMethod"] == "TWO_FACTOR"
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "SecondFactorRequired"


async def test_s23_totp_secrets_are_encrypted_with_a_key_outside_the_database(client, mailbox, anna, settings):
    converted = await convert(client, mailbox, "anna@example.com")
    factor = await EnrolledFactor.get(user_id=anna.id)

    assert converted.secret not in factor.state_encrypted
    assert Keyring(settings.resolved_secret_key).decrypt_state(factor.state_encrypted) == {"secret": converted.secret}
    with pytest.raises(StateUnreadable):
        Keyring("another-secret-key-of-at-least-32-characters").decrypt_state(factor.state_encrypted)


async def test_s24_no_token_code_or_secret_is_stored_in_clear(client, mailbox, acme, anna, settings, make_user):
    login = await client.login("anna@example.com", PASSWORD)
    secrets = [login["ticket"]]
    await client.run("RequestConversion", ticket=login["ticket"], email="anna@example.com")
    invitation = invitation_token_in(await mailbox.next_to("anna@example.com", "invitation"))
    begun = (await client.run("BeginEnrollment", invitation=invitation, method="email_code"))["beginEnrollment"]
    enrollment_code = code_in(await mailbox.next_to("anna@example.com", "enrollment_code"))
    done = (await client.run("ConfirmEnrollment", enrollment=begun["enrollment"], code=enrollment_code))[
        "confirmEnrollment"
    ]
    login_challenge = await challenge(client, "anna@example.com")
    await client.run("SendLoginCode", challenge=login_challenge, method="email_code")
    login_code = code_in(await mailbox.next_to("anna@example.com", "login_code"))
    session = (await verify(client, login_challenge, "email_code", login_code))["token"]
    await make_user(acme, "bea@example.com", PASSWORD)
    bea = await convert(client, mailbox, "bea@example.com", "totp")
    secrets += [invitation, begun["enrollment"], enrollment_code, login_challenge, login_code, session]
    secrets += [done["token"], *done["recoveryCodes"], *(c.replace("-", "") for c in done["recoveryCodes"])]
    secrets += [bea.secret or "", PASSWORD]

    dump = await _dump_database(settings.database_url)

    leaked = [s for s in secrets if s and s in dump]
    assert leaked == []


async def _dump_database(url: str) -> str:
    connection = connections.get(url.split(":", 1)[0])
    if url.startswith("sqlite"):
        tables = [
            r["name"] for r in await connection.execute_query_dict("SELECT name FROM sqlite_master WHERE type='table'")
        ]
    else:
        rows = await connection.execute_query_dict("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [r["tablename"] for r in rows]
    text = []
    for table in tables:
        text += [repr(row) for row in await connection.execute_query_dict(f'SELECT * FROM "{table}"')]  # noqa: S608
    return "\n".join(text)


class RequireTotpForAdmins:
    """A third-party policy: customer-level members must use an authenticator app, enforced or not."""

    @hookimpl
    def policy_requirements(self, user, customers):
        if user.email.startswith("admin@"):
            return PolicyRequirement(reason="admins use an app", two_factor=True, allowed_methods=frozenset({"totp"}))
        return None


class TriesToRelax:
    """A plugin that answers nonsense and one that raises: neither can relax the policy nor break it."""

    @hookimpl
    def policy_requirements(self, user, customers):
        return {"two_factor": False}


class Raises:
    @hookimpl
    def policy_requirements(self, user, customers):
        raise RuntimeError("policy plugin down")


@pytest.fixture
def policy_plugins(services):
    plugins = {"admins-totp": RequireTotpForAdmins(), "relax": TriesToRelax(), "raises": Raises()}
    for name, plugin in plugins.items():
        services.plugins.register(plugin, name=name)
    try:
        yield
    finally:
        for name in plugins:
            services.plugins.unregister(name=name)


async def test_policy_plugins_can_only_tighten(client, mailbox, make_customer, make_user, policy_plugins):
    relaxed = await make_customer("Relaxed Oy")
    await make_user(relaxed, "admin@relaxed.example", PASSWORD, MembershipLevel.CUSTOMER)
    await make_user(relaxed, "worker@relaxed.example", PASSWORD)

    admin_login = await client.login("admin@relaxed.example", PASSWORD)
    worker_login = await client.login("worker@relaxed.example", PASSWORD)

    assert admin_login["__typename"] == "ConversionRequired"
    assert worker_login["__typename"] == "LoginSuccess"
    invitation = await request_invitation(client, mailbox, "admin@relaxed.example")
    shown = (await client.run("Invitation", token=invitation))["invitation"]
    assert [m["id"] for m in shown["methods"]] == ["totp"]


class BrokenTotp:
    """A method plugin whose verify raises: never a valid code, and the other methods keep working."""

    id = "totp"
    display_name = "Broken"
    channel = "authenticator_app"
    phishing_resistant = False
    enrollable = True

    async def begin_enrollment(self, account):
        raise RuntimeError("down")

    async def verify(self, state, code):
        raise RuntimeError("down")


async def test_a_failing_method_plugin_never_counts_as_a_valid_code(client, mailbox, services, anna, caplog):
    converted = await convert(client, mailbox, "anna@example.com")
    methods = services.second_factor._core.methods
    original = methods["totp"]
    methods["totp"] = BrokenTotp()  # type: ignore[index]
    try:
        result = await verify(
            client, await challenge(client, "anna@example.com"), "totp", totp_code(converted.secret, 1)
        )
        recovered = await verify(
            client, await challenge(client, "anna@example.com"), "recovery_code", converted.recovery_codes[0]
        )
    finally:
        methods["totp"] = original  # type: ignore[index]

    assert result["__typename"] == "InvalidCode"
    assert recovered["__typename"] == "LoginSuccess"
    assert "method totp failed to verify a code" in caplog.text
