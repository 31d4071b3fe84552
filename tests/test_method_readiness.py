"""A method that cannot work is not offered (issue 18): the readiness check of the method contract
(`problem()`, docs/plugins.md "Readiness"), shown with the SMS package installed and no gateway configured.

Users who already have a factor of such a method keep it and keep signing in with their other factors or a
recovery code; nothing of the factor changes, so it works again once the method does.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import pytest

from gql_server.crypto import Keyring
from gql_server.models import EnrolledFactor
from gql_server.plugin_api import problem_of
from gql_server.plugins import create_plugin_manager, describe, method_set, warn_unready

from .conftest import SECRET
from .flows import PASSWORD, challenge, convert, request_invitation, verify

if importlib.util.find_spec("gql_server_sms") is None:
    pytest.skip("gql-server-sms is not installed", allow_module_level=True)

from gql_server_sms import SmsMethod

EMAIL = "anna@example.com"
WEBHOOK = "GQL_SERVER_SMS_WEBHOOK_URL"
SMS_STATE = {"phone": "+358401234567"}
PROBLEM = "GQL_SERVER_SMS_WEBHOOK_URL is not set, so no text message can be sent"

SEND_CODE = """
mutation ($challenge: String!, $method: String!) {
  sendLoginCode(challenge: $challenge, method: $method) { __typename ... on Error { message } }
}
"""
FACTORS = "{ viewer { user { secondFactors { method { id displayName } usable } } } }"


@pytest.fixture(autouse=True)
def no_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SMS package is installed, and GQL_SERVER_SMS_WEBHOOK_URL is not set (before the app is built)."""
    monkeypatch.delenv(WEBHOOK, raising=False)


def test_the_sms_method_says_why_it_cannot_work_until_its_webhook_is_set(monkeypatch):
    assert problem_of(SmsMethod()) == PROBLEM
    assert problem_of(SmsMethod("ftp://gateway.example/sms")) == f"{WEBHOOK} must be an http:// or https:// URL"
    assert problem_of(SmsMethod("https://gateway.example/sms")) is None
    monkeypatch.setenv(WEBHOOK, "https://gateway.example/sms")
    assert problem_of(SmsMethod()) is None


def test_a_method_without_a_check_is_ready_and_a_check_that_fails_is_a_problem(caplog):
    class Broken(SmsMethod):
        def problem(self) -> str | None:
            raise RuntimeError("boom")

    class Odd(SmsMethod):
        def problem(self) -> Any:
            return 42

    class Plain:
        id = "plain"
        display_name = "Plain"
        channel = "authenticator_app"
        phishing_resistant = False
        enrollable = True

    from gql_server.plugins import readiness_problem

    assert problem_of(Plain()) is None
    assert readiness_problem(Broken()) == "its readiness check failed (RuntimeError)"
    assert "readiness check (problem()) failed" in caplog.text
    assert problem_of(Odd()) == "its readiness check answered 42, not text or None"


def test_the_plugin_listing_shows_it_inactive_with_the_reason():
    listed = describe(create_plugin_manager())
    sms = next(m for m in listed["methods"] if m["id"] == "sms")
    totp = next(m for m in listed["methods"] if m["id"] == "totp")

    assert (sms["active"], sms["problem"]) == (False, PROBLEM)
    assert totp["active"] is True and "problem" not in totp


def test_it_is_said_in_one_line_naming_it_and_why_a_warning_in_production(caplog):
    found = method_set(create_plugin_manager())
    assert "sms" not in found.usable and found.unready["sms"][1] == PROBLEM

    with caplog.at_level(logging.INFO):
        warn_unready(found, production=True)
        warn_unready(found, production=False)

    production, development = caplog.records[-2:]
    for line in (production, development):
        assert "sms" in line.getMessage() and PROBLEM in line.getMessage()
    # A configuration to fix in production; in development, how an installed package without its gateway is.
    assert (production.levelno, development.levelno) == (logging.WARNING, logging.INFO)


async def test_it_is_not_offered_and_choosing_it_logs_no_error(client, mailbox, anna, caplog):
    methods = [m["id"] for m in (await client.run("SecondFactorMethods"))["secondFactorMethods"]]
    invitation = await request_invitation(client, mailbox, EMAIL)
    offered = [m["id"] for m in (await client.run("Invitation", token=invitation))["invitation"]["methods"]]

    begun = await client.run("BeginEnrollment", invitation=invitation, method="sms", phoneNumber="+358 40 123 4567")

    assert "sms" not in methods and "totp" in methods
    assert "sms" not in offered and "totp" in offered
    assert begun["beginEnrollment"]["__typename"] == "MethodNotAvailable"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def _give_sms_factor(user_id: object) -> EnrolledFactor:
    """A factor of the sms method, enrolled while its gateway was configured (as the core stores one)."""
    from gql_server.clock import utcnow

    state = Keyring(SECRET).encrypt_state(SMS_STATE)
    return await EnrolledFactor.create(
        user_id=user_id, method="sms", state_encrypted=state, created_at=utcnow(), label="work phone"
    )


async def test_a_user_with_a_factor_of_it_signs_in_with_the_other_factor_and_keeps_it(client, mailbox, anna, caplog):
    converted = await convert(client, mailbox, EMAIL)
    factor = await _give_sms_factor(anna.id)
    token = await challenge(client, EMAIL)
    login = await client.login(EMAIL, PASSWORD)

    sent = (await client.execute(SEND_CODE, {"challenge": token, "method": "sms"}))["sendLoginCode"]
    typed = await verify(client, token, "sms", "123456")
    shown = await client.execute(FACTORS, bearer=converted.token)

    offered = [m["id"] for m in login["methods"]]
    assert offered == ["totp", "recovery_code"]
    assert sent["__typename"] == "MethodNotAvailable" and typed["__typename"] == "MethodNotAvailable"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # Shown on the account with its own name, as not usable now; kept exactly as it was.
    factors = shown["viewer"]["user"]["secondFactors"]
    assert {"method": {"id": "sms", "displayName": "Text message"}, "usable": False} in factors
    assert {"method": {"id": "totp", "displayName": "Authenticator app"}, "usable": True} in factors
    kept = await EnrolledFactor.get(id=factor.id)
    assert (kept.state_encrypted, kept.last_counter, kept.label) == (factor.state_encrypted, None, "work phone")
    assert Keyring(SECRET).decrypt_state(kept.state_encrypted) == SMS_STATE


async def test_a_user_whose_only_factor_cannot_work_signs_in_with_a_recovery_code(client, mailbox, anna):
    converted = await convert(client, mailbox, EMAIL)
    # Her only factor is an sms one (as if she had enrolled it while the gateway was configured).
    await EnrolledFactor.filter(user_id=anna.id).delete()
    await _give_sms_factor(anna.id)
    token = await challenge(client, EMAIL)
    login = await client.login(EMAIL, PASSWORD)

    signed_in = await verify(client, token, "recovery_code", converted.recovery_codes[0])

    assert [m["id"] for m in login["methods"]] == ["recovery_code"]
    assert signed_in["__typename"] == "LoginSuccess", signed_in
    assert await EnrolledFactor.filter(user_id=anna.id, method="sms").count() == 1


async def test_r9_the_last_usable_factor_stays_while_only_an_unusable_one_would_remain(client, mailbox, anna):
    converted = await convert(client, mailbox, EMAIL)
    sms = await _give_sms_factor(anna.id)
    totp = await EnrolledFactor.get(user_id=anna.id, method="totp")

    kept = (await client.run("RemoveFactor", bearer=converted.token, id=str(totp.id)))["removeFactor"]
    # The unusable one may go: she keeps signing in with her app.
    removed = (await client.run("RemoveFactor", bearer=converted.token, id=str(sms.id)))["removeFactor"]

    assert kept["__typename"] == "LastFactor", kept
    assert removed["__typename"] == "FactorUpdated", removed
    assert await EnrolledFactor.filter(user_id=anna.id).values_list("method", flat=True) == ["totp"]
    # The notice names it as the user knows it (her language's name, her label).
    notice = await mailbox.next_to(EMAIL, "notice_factor_removed")
    assert 'Text message "work phone"' in str(notice.get_body(preferencelist=("plain",)).get_content())
