"""gql_server.testing, the pytest plugin installed with the package, used only through its gql_* fixtures
and helpers, as a plugin author's suite uses it (docs/plugins.md, "Testing a plugin").

Here the kit is told this suite's databases by tests/conftest.py, so these run on SQLite and PostgreSQL; the
kit on its own (its SQLite database, cheap hashing) runs the tests `gql-server new-plugin` writes
(tests/test_new_plugin.py) and the HOTP method's (tests/hotp_plugin).
"""

from __future__ import annotations

import json
import time

import pyotp
import pytest

import gql_server.pytest_entry
import gql_server.testing
from gql_server.testing import PASSWORD, enroll, log_in, request_invitation

from .plugin_fakes import sign

# The cost parameters of the kit's cheap argon2id, as they stand in a stored hash.
CHEAP = "$m=8,t=1,p=1$"


def test_the_kit_is_a_pytest_plugin_of_the_installed_package(pytestconfig: pytest.Config) -> None:
    # The entry point loads the kit, as a plugin of its own, when the testing extra is installed.
    assert pytestconfig.pluginmanager.get_plugin("gql_server") is gql_server.pytest_entry
    assert pytestconfig.pluginmanager.get_plugin("gql_server.testing") is gql_server.testing


async def test_an_app_on_a_fresh_database_with_its_mail_going_to_the_mailbox(
    gql_client, gql_mailbox, gql_make_customer, gql_make_user, gql_settings
):
    assert gql_settings.smtp_url == gql_mailbox.url
    acme = await gql_make_customer("Acme Oy", enforce=True)
    await gql_make_user(acme, "anna@example.com")

    invitation = await request_invitation(gql_client, gql_mailbox, "anna@example.com")

    assert invitation
    methods = (await gql_client.run("SecondFactorMethods"))["secondFactorMethods"]
    assert {"totp", "email_code", "recovery_code"} <= {m["id"] for m in methods}


async def test_a_code_checking_method_with_a_code_function(gql_client, gql_mailbox, gql_make_customer, gql_make_user):
    acme = await gql_make_customer(enforce=True)
    await gql_make_user(acme, "anna@example.com", PASSWORD)
    invitation = await request_invitation(gql_client, gql_mailbox, "anna@example.com")

    enrolled = await enroll(gql_client, gql_mailbox, invitation, "totp", code=lambda begun: _totp(begun["secret"]))
    assert enrolled.result["user"]["secondFactors"][0]["method"]["id"] == "totp"
    assert enrolled.secret and len(enrolled.recovery_codes) == 10
    gql_client.forget_cookies()

    # The next step's code: the one enrollment used is refused as a replay (S8).
    result = await log_in(gql_client, gql_mailbox, "anna@example.com", "totp", code=lambda: _totp(enrolled.secret, 1))

    assert result["__typename"] == "LoginSuccess", result
    assert result["session"]["assurance"] == "TWO_FACTOR"


async def test_a_code_delivering_method_reads_its_codes_from_the_mail(
    gql_client, gql_mailbox, gql_make_customer, gql_make_user
):
    acme = await gql_make_customer(enforce=True)
    await gql_make_user(acme, "bea@example.com", PASSWORD)
    invitation = await request_invitation(gql_client, gql_mailbox, "bea@example.com")

    await enroll(gql_client, gql_mailbox, invitation, "email_code")
    gql_client.forget_cookies()
    result = await log_in(gql_client, gql_mailbox, "bea@example.com", "email_code")

    assert result["__typename"] == "LoginSuccess", result


async def test_a_wrong_code_is_the_service_s_answer_not_a_failure_of_the_helper(
    gql_client, gql_mailbox, gql_make_customer, gql_make_user
):
    acme = await gql_make_customer(enforce=True)
    await gql_make_user(acme, "cid@example.com")
    invitation = await request_invitation(gql_client, gql_mailbox, "cid@example.com")
    await enroll(gql_client, gql_mailbox, invitation, "email_code")

    result = await log_in(gql_client, gql_mailbox, "cid@example.com", "email_code", code="000000", send_code=True)

    assert result["__typename"] == "InvalidCode", result


class TestOverrides:
    @pytest.fixture
    def settings_overrides(self):
        return {"gql_server_disabled_plugins": "email_code"}

    @pytest.fixture
    def gql_password_hasher(self):
        return None

    async def test_settings_and_the_hasher_are_the_suite_s_to_change(
        self, gql_client, gql_make_customer, gql_make_user
    ):
        methods = (await gql_client.run("SecondFactorMethods"))["secondFactorMethods"]
        assert "email_code" not in {m["id"] for m in methods}
        user = await gql_make_user(await gql_make_customer())
        assert CHEAP not in user.password_hash


def _totp(secret: str | None, steps_ahead: int = 0) -> str:
    assert secret is not None
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


class TestChallengeResponse:
    """A challenge-response method (tests/plugin_fakes.py's toy key) through the kit: enroll's code function
    gets the options, log_in's `respond` answers beginSecondFactor's."""

    @pytest.fixture
    def settings_overrides(self):
        return {"gql_server_plugins": "tests.plugin_fakes"}

    async def test_enroll_and_log_in_with_a_response(self, gql_client, gql_mailbox, gql_make_customer, gql_make_user):
        acme = await gql_make_customer(enforce=True)
        await gql_make_user(acme, "anna@example.com", PASSWORD)
        invitation = await request_invitation(gql_client, gql_mailbox, "anna@example.com")

        def register(begun: dict) -> str:
            options = begun["options"]
            return json.dumps({"signature": sign(options["secret"], options["challenge"], 0)})

        enrolled = await enroll(gql_client, gql_mailbox, invitation, "echokey", code=register)
        secret = enrolled.begun["options"]["secret"]
        gql_client.forget_cookies()

        result = await log_in(
            gql_client,
            gql_mailbox,
            "anna@example.com",
            "echokey",
            respond=lambda options: json.dumps({"signature": sign(secret, options["challenge"], 1), "count": 1}),
        )

        assert result["__typename"] == "LoginSuccess", result
