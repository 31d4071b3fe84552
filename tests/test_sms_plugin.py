"""The third-party `sms` method (plugins/gql-server-sms), driven over GraphQL like any frontend would.

Codes go to a real HTTP server on 127.0.0.1 standing in for the SMS gateway's webhook. The core's
rules apply to sms exactly as to the built-in methods: R5 (which methods may be enrolled), R6
(two-factor login), S5 (five wrong codes end a challenge), S10 (codes are replaced, single use),
S14 (the factor is active only after a valid code), S23 (its state is encrypted at rest).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

if importlib.util.find_spec("gql_server_sms") is None:
    _MISSING = "gql-server-sms is not installed: run `.venv/bin/pip install -e plugins/gql-server-sms`"
    if os.environ.get("CI"):
        pytest.fail(f"{_MISSING} (CI must run the sms plugin tests)", pytrace=False)
    pytest.skip(_MISSING, allow_module_level=True)

from gql_server_sms import SmsMethod, mask_phone_number, normalize_phone_number

from gql_server.enums import TokenPurpose
from gql_server.models import EnrolledFactor, OneTimeCode, Token, User
from gql_server.plugin_api import Account
from gql_server.plugins import collect_methods, create_plugin_manager
from gql_server.tokens import hash_token

from .flows import PASSWORD, challenge, request_invitation, verify
from .mailbox import body

EMAIL = "anna@example.com"
PHONE = "+358 40 123 4567"
E164 = "+358401234567"
MASKED = "+358 •••••••67"

BEGIN_SMS = """
mutation ($invitation: String!, $phoneNumber: String) {
  beginEnrollment(invitation: $invitation, method: "sms", phoneNumber: $phoneNumber) {
    __typename
    ... on EnrollmentStarted { enrollment sentTo method { id displayName } }
    ... on InvalidInput { field message }
    ... on Error { message }
  }
}
"""


# --- the webhook -------------------------------------------------------------------------------


@dataclass
class Gateway:
    """A stand-in SMS gateway: records every webhook POST and answers with `status`."""

    url: str = ""
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> dict[str, Any]:
        """The one message received since the last take (the test fails on none or several)."""
        with self.lock:
            messages, self.received[:] = list(self.received), []
        assert len(messages) == 1, messages
        return messages[0]

    def take_code(self, phone: str = E164) -> str:
        """The six-digit code of the one message received, checking it went to `phone`."""
        message = self.take()
        assert message["to"] == phone
        return code_in_text(message["text"])


def code_in_text(text: str) -> str:
    """The single six-digit code in a message's text."""
    codes = re.findall(r"(?<!\d)\d{6}(?!\d)", text)
    assert len(codes) == 1, text
    return str(codes[0])


@pytest.fixture(autouse=True)
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """A real HTTP server on a free port of 127.0.0.1, set as the webhook before the app is built."""
    gw = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            payload = json.loads(self.rfile.read(length))
            with gw.lock:
                gw.received.append(payload)
                gw.content_types.append(self.headers.get("Content-Type", ""))
            answer = b'{"ok": true}' if gw.status < 300 else b'{"error": "gateway down"}'
            self.send_response(gw.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # shutdown() waits for the serving loop's next poll: 0.5 s by default, after every test of the module.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), name="sms-webhook", daemon=True)
    thread.start()
    gw.url = f"http://127.0.0.1:{server.server_address[1]}/sms"
    monkeypatch.setenv("GQL_SERVER_SMS_WEBHOOK_URL", gw.url)
    try:
        yield gw
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- users and flows ---------------------------------------------------------------------------


@pytest.fixture
async def anna(acme, make_user):
    return await make_user(acme, EMAIL, PASSWORD)


async def begin_sms(client, invitation: str, phone: str | None = PHONE) -> dict[str, Any]:
    """beginEnrollment(method: "sms", phoneNumber: ...) as a raw document."""
    data = await client.execute(BEGIN_SMS, {"invitation": invitation, "phoneNumber": phone})
    result: dict[str, Any] = data["beginEnrollment"]
    return result


async def enroll_sms(client, mailbox, gateway: Gateway) -> dict[str, Any]:
    """Anna converts with a text message: the EnrollmentCompleted result."""
    invitation = await request_invitation(client, mailbox, EMAIL)
    begun = await begin_sms(client, invitation)
    assert begun["__typename"] == "EnrollmentStarted", begun
    code = gateway.take_code()
    done = (await client.run("ConfirmEnrollment", enrollment=begun["enrollment"], code=code))["confirmEnrollment"]
    assert done["__typename"] == "EnrollmentCompleted", done
    return done


@pytest.fixture
async def sms_user(client, mailbox, gateway, anna) -> dict[str, Any]:
    """Anna, converted with the sms method."""
    return await enroll_sms(client, mailbox, gateway)


async def send_login_code(client, token: str) -> dict[str, Any]:
    """sendLoginCode(method: "sms")."""
    result: dict[str, Any] = (await client.run("SendLoginCode", challenge=token, method="sms"))["sendLoginCode"]
    return result


def other_than(code: str) -> str:
    """A six-digit code that is not `code`."""
    return "000000" if code != "000000" else "111111"


# --- the package and its registration -----------------------------------------------------------


def test_the_entry_point_registers_sms_and_the_disable_list_hides_it():
    assert isinstance(collect_methods(create_plugin_manager())["sms"], SmsMethod)
    assert "sms" not in collect_methods(create_plugin_manager(disabled=["sms"]))


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("+358 40 123 4567", "+358401234567"),
        ("00358 40 123 4567", "+358401234567"),
        ("+358-40-123.45.67", "+358401234567"),
        (" +44 (0)7911 123456 ", "+447911123456"),
    ],
)
def test_numbers_are_normalised_to_e164(typed, e164):
    assert normalize_phone_number(typed) == e164


def test_the_masked_number_shows_the_country_code_and_the_last_two_digits_only():
    assert mask_phone_number(E164) == MASKED
    assert mask_phone_number("+12025550143") == "+1 ••••••••43"


async def test_without_a_webhook_url_sending_fails_clearly(monkeypatch):
    monkeypatch.delenv("GQL_SERVER_SMS_WEBHOOK_URL")
    method = SmsMethod()
    draft = await method.begin_enrollment(Account("1", EMAIL, "gql_server", phone_number=PHONE))

    with pytest.raises(RuntimeError, match="GQL_SERVER_SMS_WEBHOOK_URL"):
        _ = method.webhook_url
    assert draft.state == {"phone": E164} and draft.sent_to == MASKED


# --- over GraphQL ------------------------------------------------------------------------------


async def test_second_factor_methods_lists_sms(client):
    methods = (await client.run("SecondFactorMethods"))["secondFactorMethods"]
    sms = next(method for method in methods if method["id"] == "sms")
    ui = sms.pop("ui")

    # A code field with a "send code" button, and the package's own words in both of the web client's languages.
    assert (ui["prompt"], ui["sendsCodes"], ui["inputMode"]) == ("CODE", True, "numeric")
    assert {(s["language"], s["name"]) for s in ui["strings"]} == {("en", "Text message"), ("fi", "Tekstiviesti")}
    assert {
        "id": "sms",
        "displayName": "Text message",
        "channel": "sms",
        "phishingResistant": False,
        "enrollable": True,
        "capabilities": {
            "kind": "POSSESSION",
            "phishingResistant": False,
            "hardwareBound": False,
            "deliversCodes": True,
            "browserApi": None,
        },
        "enrollmentInput": {
            "type": "object",
            "properties": {"phoneNumber": {"type": "string", "maxLength": 64, "description": "Where codes go"}},
            "additionalProperties": False,
        },
    } == sms


@pytest.mark.parametrize("settings_overrides", [{"gql_server_disabled_plugins": "sms"}])
async def test_gql_server_disabled_plugins_sms_removes_the_method(client, mailbox, anna):
    methods = (await client.run("SecondFactorMethods"))["secondFactorMethods"]
    invitation = await request_invitation(client, mailbox, EMAIL)

    assert "sms" not in {m["id"] for m in methods}
    assert (await begin_sms(client, invitation))["__typename"] == "MethodNotAvailable"


async def test_r5_sms_is_offered_unless_a_customer_disallows_it(client, mailbox, gateway, acme, anna):
    invitation = await request_invitation(client, mailbox, EMAIL)
    offered = (await client.run("Invitation", token=invitation))["invitation"]["methods"]
    acme.allowed_methods = ["totp"]
    await acme.save()

    assert "sms" in {m["id"] for m in offered}
    assert (await begin_sms(client, invitation))["__typename"] == "MethodNotAvailable"
    assert gateway.received == []


async def test_r5_s14_s23_enrollment_by_sms_end_to_end(client, mailbox, gateway, anna):
    invitation = await request_invitation(client, mailbox, EMAIL)

    begun = await begin_sms(client, invitation)
    message = gateway.take()
    code = code_in_text(message["text"])
    done = (await client.run("ConfirmEnrollment", enrollment=begun["enrollment"], code=code))["confirmEnrollment"]

    assert begun["__typename"] == "EnrollmentStarted", begun
    assert begun["sentTo"] == MASKED and begun["method"] == {"id": "sms", "displayName": "Text message"}
    assert set(message) == {"to", "text"} and message["to"] == E164
    assert gateway.content_types == ["application/json"]
    assert message["text"].startswith("Your gql_server code to confirm this phone number is ")
    assert done["__typename"] == "EnrollmentCompleted", done
    assert done["session"]["assurance"] == "TWO_FACTOR"
    assert [f["method"]["id"] for f in done["user"]["secondFactors"]] == ["sms"]
    factor = await EnrolledFactor.get(user_id=anna.id)
    assert E164 not in factor.state_encrypted and "401234567" not in factor.state_encrypted
    assert "Text message" in body(await mailbox.next_to(EMAIL, "factor_added"))


async def test_s14_a_wrong_enrollment_code_activates_nothing(client, mailbox, gateway, anna):
    invitation = await request_invitation(client, mailbox, EMAIL)
    begun = await begin_sms(client, invitation)
    code = gateway.take_code()

    wrong = await client.run("ConfirmEnrollment", enrollment=begun["enrollment"], code=other_than(code))
    factors_after_wrong = await EnrolledFactor.filter(user_id=anna.id).count()
    right = await client.run("ConfirmEnrollment", enrollment=begun["enrollment"], code=code)

    assert wrong["confirmEnrollment"]["__typename"] == "InvalidCode"
    assert wrong["confirmEnrollment"]["attemptsLeft"] == 4
    assert factors_after_wrong == 0
    assert right["confirmEnrollment"]["__typename"] == "EnrollmentCompleted"


@pytest.mark.parametrize(
    "typed",
    [
        None,  # missing
        "   ",  # blank
        "040 123 4567",  # no country code
        "+358 40",  # too short
        "+358 4O 123 4567",  # a letter O, not a zero
        "+358 40 123 4567 ext. 9",  # an extension
        "+358 9 1234 5678",  # a landline
        "+358 600 12345",  # premium rate
        "not a number",
    ],
)
async def test_an_invalid_or_missing_phone_number_is_invalid_input_and_stores_nothing(
    client, mailbox, gateway, anna, typed
):
    invitation = await request_invitation(client, mailbox, EMAIL)

    result = await begin_sms(client, invitation, typed)

    assert result["__typename"] == "InvalidInput", result
    assert result["field"] == "phoneNumber" and result["message"]
    assert await Token.filter(user_id=anna.id, purpose=TokenPurpose.ENROLLMENT).count() == 0
    assert await EnrolledFactor.filter(user_id=anna.id).count() == 0
    assert await OneTimeCode.all().count() == 0
    assert gateway.received == []
    # The invitation is still good: the right number enrolls.
    assert (await begin_sms(client, invitation))["__typename"] == "EnrollmentStarted"


async def test_r6_login_by_sms(client, gateway, sms_user):
    login = await client.login(EMAIL, PASSWORD)
    assert login["__typename"] == "SecondFactorRequired", login
    assert [m["id"] for m in login["methods"]] == ["sms", "recovery_code"]
    assert login["methods"][0]["channel"] == "sms"

    sent = await send_login_code(client, login["challenge"])
    message = gateway.take()
    result = await verify(client, login["challenge"], "sms", code_in_text(message["text"]))

    assert sent["__typename"] == "CodeSent" and sent["sentTo"] == MASKED
    assert message["to"] == E164
    assert message["text"].startswith("Your gql_server login code is ")
    assert "expires in 10 minutes" in message["text"]
    assert result["__typename"] == "LoginSuccess", result
    assert result["session"]["assurance"] == "TWO_FACTOR"


async def test_s5_five_wrong_sms_codes_end_the_challenge(client, gateway, sms_user):
    token = await challenge(client, EMAIL)
    await send_login_code(client, token)
    code = gateway.take_code()

    lefts = [(await verify(client, token, "sms", other_than(code)))["attemptsLeft"] for _ in range(5)]
    dead = await verify(client, token, "sms", code)
    no_more_codes = await send_login_code(client, token)

    assert lefts == [4, 3, 2, 1, 0]
    assert dead["__typename"] == "ChallengeExpired"
    assert no_more_codes["__typename"] == "ChallengeExpired"
    assert gateway.received == []


async def test_s8_s10_an_sms_code_works_once_and_only_for_its_challenge(client, gateway, sms_user):
    first = await challenge(client, EMAIL)
    await send_login_code(client, first)
    code = gateway.take_code()
    second = await challenge(client, EMAIL)

    elsewhere = await verify(client, second, "sms", code)
    used = await verify(client, first, "sms", code)
    again = await verify(client, first, "sms", code)

    assert elsewhere["__typename"] == "InvalidCode"  # a code belongs to the challenge it was sent for
    assert used["__typename"] == "LoginSuccess"
    assert again["__typename"] == "ChallengeExpired"


async def test_s10_a_resent_sms_code_replaces_the_previous_one(client, gateway, sms_user):
    token = await challenge(client, EMAIL)
    await send_login_code(client, token)
    first = gateway.take_code()
    await send_login_code(client, token)
    second = gateway.take_code()

    stored = await OneTimeCode.filter(token__token_hash=hash_token(token)).order_by("created_at")
    assert [c.method for c in stored] == ["sms", "sms"]
    assert stored[0].used_at is not None and stored[1].used_at is None
    assert {first, second}.isdisjoint({c.code_digest for c in stored})
    if first != second:
        assert (await verify(client, token, "sms", first))["__typename"] == "InvalidCode"
    assert (await verify(client, token, "sms", second))["__typename"] == "LoginSuccess"


async def test_a_webhook_answering_500_gives_method_not_available_and_no_usable_code(client, gateway, sms_user, caplog):
    token = await challenge(client, EMAIL)
    gateway.status = 500

    sent = await send_login_code(client, token)
    code = gateway.take_code()  # the gateway got the request, but refused it

    assert sent["__typename"] == "MethodNotAvailable", sent
    assert "method sms failed to deliver a code" in caplog.text
    assert await OneTimeCode.filter(token__token_hash=hash_token(token), used_at=None).count() == 0
    assert (await verify(client, token, "sms", code))["__typename"] == "InvalidCode"


async def test_a_webhook_answering_500_during_enrollment_gives_method_not_available(client, mailbox, gateway, anna):
    invitation = await request_invitation(client, mailbox, EMAIL)
    gateway.status = 500

    result = await begin_sms(client, invitation)

    assert result["__typename"] == "MethodNotAvailable", result
    assert await OneTimeCode.all().count() == 0
    assert await EnrolledFactor.filter(user_id=anna.id).count() == 0


async def test_without_a_webhook_url_sms_is_not_available(client, mailbox, gateway, monkeypatch, anna, caplog):
    invitation = await request_invitation(client, mailbox, EMAIL)
    monkeypatch.delenv("GQL_SERVER_SMS_WEBHOOK_URL")

    result = await begin_sms(client, invitation)

    assert result["__typename"] == "MethodNotAvailable", result
    assert "GQL_SERVER_SMS_WEBHOOK_URL is not set" in caplog.text
    assert gateway.received == []


async def test_users_with_locale_fi_get_the_text_in_finnish(client, mailbox, gateway, anna):
    await User.filter(id=anna.id).update(locale="fi")
    invitation = await request_invitation(client, mailbox, EMAIL)

    begun = await begin_sms(client, invitation)
    enrollment_text = gateway.take()["text"]
    code = code_in_text(enrollment_text)
    await client.run("ConfirmEnrollment", enrollment=begun["enrollment"], code=code)
    token = await challenge(client, EMAIL)
    await send_login_code(client, token)
    login_text = gateway.take()["text"]

    assert enrollment_text == (
        f"gql_server-koodisi tämän puhelinnumeron vahvistamiseen on {code}. Koodi vanhenee 10 minuutin kuluttua."
    )
    login_code = code_in_text(login_text)
    assert login_text == (
        f"gql_server-kirjautumiskoodisi on {login_code}. Koodi vanhenee 10 minuutin kuluttua. "
        "Älä kerro sitä kenellekään."
    )
    assert (await verify(client, token, "sms", login_code))["__typename"] == "LoginSuccess"
