"""Issue 16: challenge-response methods (passkeys, security keys). The client asks for a challenge
(beginEnrollment's options, beginSecondFactor, beginReauthentication) and answers with a structured response,
sent as JSON text where other methods send a code; the core keeps the challenge's pending part with the
login challenge (encrypted), counts attempts and guards replays as for codes. Shown with `echokey`, a toy
key in tests/plugin_fakes.py whose use count must grow (as WebAuthn's signature counter)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gql_server.models import AuditEvent, EnrolledFactor

from .flows import PASSWORD, challenge, request_invitation, verify
from .plugin_fakes import sign
from .test_plugin_kit import FAKES


@pytest.fixture
def settings_overrides():
    return FAKES


async def _enrolled(client, mailbox, make_user, acme) -> str:
    """Anna's echokey, enrolled from her invitation; its secret (what the toy key signs with)."""
    await make_user(acme, "anna@example.com", PASSWORD)
    invitation = await request_invitation(client, mailbox, "anna@example.com")
    begun = (await client.run("BeginEnrollment", invitation=invitation, method="echokey"))["beginEnrollment"]
    assert begun["__typename"] == "EnrollmentStarted", begun
    options = begun["options"]
    response = json.dumps({"signature": sign(options["secret"], options["challenge"], 0)})
    done = (await client.run("ConfirmEnrollment", enrollment=begun["enrollment"], code=response))["confirmEnrollment"]
    assert done["__typename"] == "EnrollmentCompleted", done
    return str(options["secret"])


async def _begin(client, token: str) -> dict[str, Any]:
    result: dict[str, Any] = (await client.run("BeginSecondFactor", challenge=token, method="echokey"))[
        "beginSecondFactor"
    ]
    return result


def _answer(secret: str, options: dict[str, Any], count: int) -> str:
    return json.dumps({"signature": sign(secret, options["challenge"], count), "count": count})


async def test_a_key_is_enrolled_with_its_response_and_signs_in(client, mailbox, make_user, acme):
    secret = await _enrolled(client, mailbox, make_user, acme)
    token = await challenge(client, "anna@example.com")

    begun = await _begin(client, token)
    signed_in = await verify(client, token, "echokey", _answer(secret, begun["options"], 1))

    assert begun["__typename"] == "SecondFactorChallenge" and begun["options"]["keys"] == 1
    assert signed_in["__typename"] == "LoginSuccess"
    assert (await EnrolledFactor.get(method="echokey")).last_counter == 1


async def test_a_wrong_or_malformed_registration_enrolls_nothing(client, mailbox, make_user, acme):
    await make_user(acme, "anna@example.com", PASSWORD)
    invitation = await request_invitation(client, mailbox, "anna@example.com")
    begun = (await client.run("BeginEnrollment", invitation=invitation, method="echokey"))["beginEnrollment"]

    for code in ("123456", "[1, 2]", "{", json.dumps({"signature": "forged"})):
        done = (await client.run("ConfirmEnrollment", enrollment=begun["enrollment"], code=code))["confirmEnrollment"]
        assert done["__typename"] == "InvalidCode", (code, done)
    assert not await EnrolledFactor.filter(method="echokey").exists()


async def test_only_the_latest_challenge_is_answered(client, mailbox, make_user, acme):
    secret = await _enrolled(client, mailbox, make_user, acme)
    token = await challenge(client, "anna@example.com")
    first = await _begin(client, token)
    second = await _begin(client, token)

    stale = await verify(client, token, "echokey", _answer(secret, first["options"], 1))
    fresh = await verify(client, token, "echokey", _answer(secret, second["options"], 1))

    assert (stale["__typename"], stale["attemptsLeft"]) == ("InvalidCode", 4)
    assert fresh["__typename"] == "LoginSuccess"


async def test_a_cloned_key_whose_count_goes_back_is_refused(client, mailbox, make_user, acme):
    secret = await _enrolled(client, mailbox, make_user, acme)
    token = await challenge(client, "anna@example.com")
    assert (await verify(client, token, "echokey", _answer(secret, (await _begin(client, token))["options"], 5)))[
        "__typename"
    ] == "LoginSuccess"
    token = await challenge(client, "anna@example.com")

    cloned = await verify(client, token, "echokey", _answer(secret, (await _begin(client, token))["options"], 5))

    # A right signature with a count at or below the last one: the replay guard refuses it (S8).
    assert cloned["__typename"] == "InvalidCode"
    assert await AuditEvent.filter(kind="replay_refused").count() == 1


@pytest.mark.parametrize("code", ["", "not json", "[]", '{"count": true}', '{"count": 1, "signature": "x"}'])
async def test_anything_but_a_right_response_is_a_wrong_code(client, mailbox, make_user, acme, code):
    await _enrolled(client, mailbox, make_user, acme)
    token = await challenge(client, "anna@example.com")
    await _begin(client, token)

    result = await verify(client, token, "echokey", code)

    assert result["__typename"] == "InvalidCode"


async def test_a_response_without_a_challenge_begun_is_wrong(client, mailbox, make_user, acme):
    secret = await _enrolled(client, mailbox, make_user, acme)
    token = await challenge(client, "anna@example.com")

    result = await verify(client, token, "echokey", _answer(secret, {"challenge": "guessed"}, 1))

    assert result["__typename"] == "InvalidCode"


async def test_begin_second_factor_only_for_challenge_response_methods(client, mailbox, make_user, acme):
    await _enrolled(client, mailbox, make_user, acme)
    token = await challenge(client, "anna@example.com")

    assert (await client.run("BeginSecondFactor", challenge=token, method="totp"))["beginSecondFactor"][
        "__typename"
    ] == "MethodNotAvailable"
    assert (await client.run("BeginSecondFactor", challenge="nope", method="echokey"))["beginSecondFactor"][
        "__typename"
    ] == "ChallengeExpired"


async def test_a_key_steps_up_too(client, mailbox, make_user, acme):
    secret = await _enrolled(client, mailbox, make_user, acme)
    token = await challenge(client, "anna@example.com")
    session = (await verify(client, token, "echokey", _answer(secret, (await _begin(client, token))["options"], 1)))[
        "token"
    ]

    begun = (await client.run("BeginReauthentication", bearer=session, method="echokey"))["beginReauthentication"]
    stepped = (
        await client.run("Reauthenticate", bearer=session, method="echokey", code=_answer(secret, begun["options"], 2))
    )["reauthenticate"]

    assert begun["__typename"] == "SecondFactorChallenge"
    assert stepped["__typename"] == "Reauthenticated"
    client.forget_cookies()
    nobody = (await client.run("BeginReauthentication", method="echokey"))["beginReauthentication"]
    assert nobody["__typename"] == "ChallengeExpired"


async def test_challenges_begun_at_once_for_two_methods_both_stay(client, mailbox, make_user, acme):
    secret = await _enrolled(client, mailbox, make_user, acme)
    session = (
        await verify(
            client,
            (t := await challenge(client, "anna@example.com")),
            "echokey",
            _answer(secret, (await _begin(client, t))["options"], 1),
        )
    )["token"]
    added = (await client.run("AddFactor", bearer=session, method="echokey2"))["addFactor"]
    options = added["options"]
    confirmed = (
        await client.run(
            "ConfirmFactor",
            bearer=session,
            enrollment=added["enrollment"],
            code=json.dumps({"signature": sign(options["secret"], options["challenge"], 0)}),
        )
    )["confirmFactor"]
    assert confirmed["__typename"] == "FactorAdded", confirmed
    client.forget_cookies()
    token = await challenge(client, "anna@example.com")

    first, _ = await asyncio.gather(
        _begin(client, token),
        client.run("BeginSecondFactor", challenge=token, method="echokey2"),
    )

    assert (await verify(client, token, "echokey", _answer(secret, first["options"], 2)))[
        "__typename"
    ] == "LoginSuccess"


async def test_challenges_per_login_are_bounded(client, mailbox, make_user, acme):
    await _enrolled(client, mailbox, make_user, acme)
    token = await challenge(client, "anna@example.com")

    answers = [(await _begin(client, token))["__typename"] for _ in range(11)]

    assert answers == ["SecondFactorChallenge"] * 10 + ["TooManyAttempts"]


async def test_options_a_client_cannot_be_sent_are_the_plugins_failure(client, mailbox, make_user, acme, caplog):
    await _enrolled(client, mailbox, make_user, acme)
    # Anna's echokey factor, relabelled as the method whose options are not JSON.
    await EnrolledFactor.filter(method="echokey").update(method="badoptions")
    token = await challenge(client, "anna@example.com")

    answer = (await client.run("BeginSecondFactor", challenge=token, method="badoptions"))["beginSecondFactor"]

    assert answer["__typename"] == "MethodNotAvailable"
    assert "method badoptions answered begin_challenge" in caplog.text
