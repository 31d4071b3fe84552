"""issue 16's proof: an RFC 4226 HOTP method written as a third party would write it (tests/hotp_plugin,
from docs/plugins.md and `gql-server new-plugin hotp`), tested only through the plugin API and the installed
test kit (gql_server.testing): the RFC's test vectors, enrollment and login, the look-ahead window, replays,
and resynchronisation with two consecutive codes. Its counter moves through `Verified` (S8's update)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from gql_server_hotp import LOOK_AHEAD, RESYNC_WINDOW, HotpMethod, code_at, hotp

from gql_server.testing import GraphQLClient, Mailbox, enroll, log_in, request_invitation

from .test_plugin_contract import _core_imports

EMAIL = "anna@example.com"
# RFC 4226 appendix D: the secret "12345678901234567890" and its codes for the counts 0 to 9.
RFC_SECRET = b"12345678901234567890"
RFC_CODES = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]


@pytest.fixture
def gql_settings_overrides() -> dict[str, str]:
    """The package is not installed: the service loads its module by name."""
    return {"gql_server_plugins": "gql_server_hotp"}


async def _token(client: GraphQLClient, mailbox: Mailbox, make_customer, make_user) -> str:
    """A user who enrolled a token, proving it with its first code (counter 0); the token's secret."""
    customer = await make_customer("Acme Oy", enforce=True)
    await make_user(customer, EMAIL)
    invitation = await request_invitation(client, mailbox, EMAIL)
    enrolled = await enroll(client, mailbox, invitation, "hotp", code=lambda begun: code_at(begun["secret"], 0))
    assert enrolled.begun["provisioningUri"].startswith("otpauth://hotp/")
    assert enrolled.secret is not None
    client.forget_cookies()
    return enrolled.secret


async def _log_in(client: GraphQLClient, mailbox: Mailbox, code: str) -> str:
    result = await log_in(client, mailbox, EMAIL, "hotp", code=code)
    client.forget_cookies()
    return str(result["__typename"])


@pytest.mark.parametrize("count", range(10))
def test_rfc_4226_appendix_d(count: int) -> None:
    assert hotp(RFC_SECRET, count) == RFC_CODES[count]
    assert code_at(base64.b32encode(RFC_SECRET).decode(), count) == RFC_CODES[count]


def test_the_package_imports_only_the_plugin_api() -> None:
    import gql_server_hotp

    assert _core_imports(Path(str(gql_server_hotp.__file__))) == {"gql_server.plugin_api"}


async def test_the_service_offers_it_as_a_hardware_token(gql_client):
    methods = {m["id"]: m for m in (await gql_client.run("SecondFactorMethods"))["secondFactorMethods"]}

    assert methods["hotp"]["capabilities"]["hardwareBound"] is True
    assert methods["hotp"]["capabilities"]["deliversCodes"] is False
    # Its own words, which the web client shows in place of any of its own (it knows no method by id).
    assert {(s["language"], s["label"]) for s in methods["hotp"]["ui"]["strings"]} == {
        ("en", "Code from your token"),
        ("fi", "Koodi laiteavaimesta"),
    }


async def test_enroll_and_log_in(gql_client, gql_mailbox, gql_make_customer, gql_make_user):
    secret = await _token(gql_client, gql_mailbox, gql_make_customer, gql_make_user)

    result = await log_in(gql_client, gql_mailbox, EMAIL, "hotp", code=code_at(secret, 1))

    assert result["__typename"] == "LoginSuccess", result
    assert result["session"]["assurance"] == "TWO_FACTOR"


async def test_a_code_within_the_look_ahead_window_is_accepted_and_the_window_follows_it(
    gql_client, gql_mailbox, gql_make_customer, gql_make_user
):
    secret = await _token(gql_client, gql_mailbox, gql_make_customer, gql_make_user)

    # The token was pressed LOOK_AHEAD times without the service seeing it: expected is 1, shown 1 + LOOK_AHEAD.
    assert await _log_in(gql_client, gql_mailbox, code_at(secret, 1 + LOOK_AHEAD)) == "LoginSuccess"
    assert await _log_in(gql_client, gql_mailbox, code_at(secret, 2 + LOOK_AHEAD)) == "LoginSuccess"
    # The codes it skipped are behind the counter now.
    assert await _log_in(gql_client, gql_mailbox, code_at(secret, 5)) == "InvalidCode"


async def test_a_replayed_code_is_refused(gql_client, gql_mailbox, gql_make_customer, gql_make_user):
    secret = await _token(gql_client, gql_mailbox, gql_make_customer, gql_make_user)
    assert await _log_in(gql_client, gql_mailbox, code_at(secret, 1)) == "LoginSuccess"

    assert await _log_in(gql_client, gql_mailbox, code_at(secret, 1)) == "InvalidCode"
    # So is the enrollment's code, and the next code still works.
    assert await _log_in(gql_client, gql_mailbox, code_at(secret, 0)) == "InvalidCode"
    assert await _log_in(gql_client, gql_mailbox, code_at(secret, 2)) == "LoginSuccess"


async def test_a_code_beyond_the_window_is_refused_and_moves_nothing(
    gql_client, gql_mailbox, gql_make_customer, gql_make_user
):
    secret = await _token(gql_client, gql_mailbox, gql_make_customer, gql_make_user)

    assert await _log_in(gql_client, gql_mailbox, code_at(secret, 2 + LOOK_AHEAD)) == "InvalidCode"
    assert await _log_in(gql_client, gql_mailbox, code_at(secret, 1)) == "LoginSuccess"


async def test_two_consecutive_codes_resynchronise_the_token(gql_client, gql_mailbox, gql_make_customer, gql_make_user):
    secret = await _token(gql_client, gql_mailbox, gql_make_customer, gql_make_user)
    far = 1 + RESYNC_WINDOW - 1
    assert await _log_in(gql_client, gql_mailbox, code_at(secret, far)) == "InvalidCode"
    # Two codes that do not follow each other resynchronise nothing.
    assert await _log_in(gql_client, gql_mailbox, f"{code_at(secret, far)} {code_at(secret, far + 2)}") == "InvalidCode"

    together = f"{code_at(secret, far)} {code_at(secret, far + 1)}"
    assert await _log_in(gql_client, gql_mailbox, together) == "LoginSuccess"

    assert await _log_in(gql_client, gql_mailbox, together) == "InvalidCode"
    assert await _log_in(gql_client, gql_mailbox, code_at(secret, far + 2)) == "LoginSuccess"


async def test_resynchronisation_has_a_limit_too() -> None:
    secret = base64.b32encode(RFC_SECRET).decode()
    state = {"secret": secret, "counter": "0"}
    method = HotpMethod()

    at_the_edge = await method.verify(state, code_at(secret, RESYNC_WINDOW) + code_at(secret, RESYNC_WINDOW + 1))
    beyond = await method.verify(state, code_at(secret, RESYNC_WINDOW + 1) + code_at(secret, RESYNC_WINDOW + 2))

    assert at_the_edge is not None and at_the_edge.counter == RESYNC_WINDOW + 1
    assert at_the_edge.state == {"secret": secret, "counter": str(RESYNC_WINDOW + 2)}
    assert beyond is None


async def test_verify_answers_the_matched_counter_and_the_next_one_as_state() -> None:
    secret = base64.b32encode(RFC_SECRET).decode()
    method = HotpMethod()

    verified = await method.verify({"secret": secret, "counter": "3"}, " 969 429 ")

    assert verified is not None and verified.counter == 3 and verified.state == {"secret": secret, "counter": "4"}
    for wrong in ("", "96942", "9694290", "abcdef", RFC_CODES[2]):
        assert await method.verify({"secret": secret, "counter": "3"}, wrong) is None
