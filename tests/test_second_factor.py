"""Two-factor login: R6, R7, R9, R12 (codes) and S5-S11, with real SMTP and real TOTP codes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pyotp
import pytest

from gql_server.audit import AuditKind
from gql_server.clock import utcnow
from gql_server.enums import Assurance
from gql_server.models import AuditEvent, OneTimeCode, RecoveryCode, Token, User
from gql_server.sessions import create_session
from gql_server.tokens import hash_token

from .flows import PASSWORD, challenge, convert, totp_code, verify
from .mailbox import body, code_in

WRONG = "000000"


@pytest.fixture
async def totp_user(client, mailbox, anna):
    """Anna, converted with an authenticator app."""
    return await convert(client, mailbox, "anna@example.com", "totp")


def wrong_code(secret: str) -> str:
    """A six-digit code that is none of the codes valid around now."""
    valid = {totp_code(secret, step) for step in (-1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in valid)


async def test_r6_converted_user_logs_in_with_two_factors_whatever_the_setting(client, acme, totp_user):
    acme.enforce_two_factor = False
    await acme.save()

    login = await client.login("anna@example.com", PASSWORD)

    assert login["__typename"] == "SecondFactorRequired"
    assert [m["id"] for m in login["methods"]] == ["totp", "recovery_code"]
    # The enrollment code's step was used up; the app's next code logs in (one step of drift).
    result = await verify(client, login["challenge"], "totp", totp_code(totp_user.secret, 1))
    assert result["__typename"] == "LoginSuccess"
    assert result["session"]["assurance"] == "TWO_FACTOR"
    assert result["user"]["loginMethod"] == "TWO_FACTOR"


async def test_r7_r4_r9_enforce_convert_unenforce(client, mailbox, acme, anna, make_user):
    await make_user(acme, "bea@example.com", PASSWORD)
    cai = await make_user(acme, "cai@example.com", PASSWORD)
    await convert(client, mailbox, "anna@example.com")
    ticket = (await client.login("cai@example.com", PASSWORD))["ticket"]
    await client.run("RequestConversion", ticket=ticket, email="cai@example.com")

    acme.enforce_two_factor = False
    await acme.save()

    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "SecondFactorRequired"
    assert (await client.login("bea@example.com", PASSWORD))["__typename"] == "LoginSuccess"
    assert (await client.login("cai@example.com", PASSWORD))["__typename"] == "ConversionPending"
    assert (await User.get(id=cai.id)).conversion.value == "PENDING"


async def test_s8_a_totp_code_is_accepted_once(client, totp_user):
    code = totp_code(totp_user.secret, 1)
    first = await verify(client, await challenge(client, "anna@example.com"), "totp", code)

    replayed = await verify(client, await challenge(client, "anna@example.com"), "totp", code)

    assert first["__typename"] == "LoginSuccess"
    assert replayed["__typename"] == "InvalidCode"
    assert await AuditEvent.filter(kind=AuditKind.REPLAY_REFUSED.value).count() == 1
    # The client can tell the user to wait for the next code instead of "not right" (issue 18).
    assert replayed["reusedCode"] is True


async def test_s8_a_used_code_says_so_and_a_wrong_one_does_not(client, totp_user):
    # The code just accepted (as right after enrolling, within the same 30 s) is typed again.
    code = totp_code(totp_user.secret, 1)
    assert (await verify(client, await challenge(client, "anna@example.com"), "totp", code))["__typename"] == (
        "LoginSuccess"
    )
    token = await challenge(client, "anna@example.com")

    wrong = await verify(client, token, "totp", wrong_code(totp_user.secret))
    reused = await verify(client, token, "totp", code)

    assert (wrong["__typename"], wrong["reusedCode"], wrong["attemptsLeft"]) == ("InvalidCode", False, 4)
    assert (reused["__typename"], reused["reusedCode"], reused["attemptsLeft"]) == ("InvalidCode", True, 3)
    assert "not right" in wrong["message"] and "used already" in reused["message"]


async def test_s8_the_enrollment_code_cannot_be_replayed_at_login(client, totp_user):
    result = await verify(client, await challenge(client, "anna@example.com"), "totp", totp_code(totp_user.secret))

    assert result["__typename"] == "InvalidCode"


async def test_s8_ten_parallel_uses_of_one_code_exactly_one_succeeds(client, totp_user):
    challenges = [await challenge(client, "anna@example.com") for _ in range(10)]
    code = totp_code(totp_user.secret, 1)

    results = await asyncio.gather(*(verify(client, c, "totp", code) for c in challenges))

    kinds = [r["__typename"] for r in results]
    assert kinds.count("LoginSuccess") == 1
    assert set(kinds) == {"LoginSuccess", "InvalidCode"}


async def test_s8_ten_parallel_uses_on_one_challenge_exactly_one_succeeds(client, totp_user):
    token = await challenge(client, "anna@example.com")
    code = totp_code(totp_user.secret, 1)

    results = await asyncio.gather(*(verify(client, token, "totp", code) for _ in range(10)))

    assert [r["__typename"] for r in results].count("LoginSuccess") == 1


async def test_r12_s5_a_challenge_dies_after_five_wrong_codes(client, totp_user):
    token = await challenge(client, "anna@example.com")
    wrong = wrong_code(totp_user.secret)

    lefts = [(await verify(client, token, "totp", wrong))["attemptsLeft"] for _ in range(5)]
    dead = await verify(client, token, "totp", totp_code(totp_user.secret, 1))

    assert lefts == [4, 3, 2, 1, 0]
    assert dead["__typename"] == "ChallengeExpired"
    # A new login gives a new challenge, and the right code works there.
    fresh = await verify(client, await challenge(client, "anna@example.com"), "totp", totp_code(totp_user.secret, 1))
    assert fresh["__typename"] == "LoginSuccess"


async def test_r12_s6_ten_wrong_codes_across_challenges_lock_the_step(client, anna, totp_user):
    wrong = wrong_code(totp_user.secret)
    for _ in range(2):
        token = await challenge(client, "anna@example.com")
        for _ in range(5):
            await verify(client, token, "totp", wrong)

    locked = await verify(client, await challenge(client, "anna@example.com"), "totp", totp_code(totp_user.secret, 1))

    assert locked["__typename"] == "TooManyAttempts"
    assert 50 <= locked["retryAfterSeconds"] <= 61
    assert (await User.get(id=anna.id)).code_lockouts == 1
    assert await AuditEvent.filter(kind=AuditKind.SECOND_FACTOR_LOCKOUT.value).count() == 1


async def test_s5_s7_thirty_aliased_verifications_evaluate_at_most_five_codes(client, anna, totp_user):
    token = await challenge(client, "anna@example.com")
    wrong = wrong_code(totp_user.secret)
    fields = " ".join(
        f'v{i}: verifySecondFactor(challenge: "{token}", method: "totp", code: "{wrong}") {{ __typename }}'
        for i in range(30)
    )

    response = await client.post(f"mutation {{ {fields} }}")

    assert response.json()["data"] is None
    row = await Token.get(token_hash=hash_token(token))
    assert row.attempts <= 5
    assert (await User.get(id=anna.id)).failed_code_attempts <= 5


async def test_s7_each_aliased_verification_is_one_attempt(client, anna, totp_user):
    token = await challenge(client, "anna@example.com")
    wrong = wrong_code(totp_user.secret)
    fields = " ".join(
        f'v{i}: verifySecondFactor(challenge: "{token}", method: "totp", code: "{wrong}") {{ __typename }}'
        for i in range(5)
    )

    data = (await client.post(f"mutation {{ {fields} }}")).json()["data"]

    assert [data[f"v{i}"]["__typename"] for i in range(5)] == ["InvalidCode"] * 5
    assert (await Token.get(token_hash=hash_token(token))).attempts == 5


async def test_s9_totp_parameters(totp_user):
    uri = pyotp.parse_uri(totp_user.begun["provisioningUri"])

    assert isinstance(uri, pyotp.TOTP)
    assert len(totp_user.secret) == 32  # 160 bits of base32
    assert (uri.digits, uri.interval, uri.digest().name) == (6, 30, "sha1")
    assert uri.issuer == "gql_server" and uri.name == "anna@example.com"


async def test_s10_email_codes_are_sent_replaced_single_use_and_expire(client, mailbox, anna):
    await convert(client, mailbox, "anna@example.com", "email_code")
    login = await client.login("anna@example.com", PASSWORD)
    assert [m["id"] for m in login["methods"]] == ["email_code", "recovery_code"]
    token = login["challenge"]

    sent = (await client.run("SendLoginCode", challenge=token, method="email_code"))["sendLoginCode"]
    first = code_in(await mailbox.next_to("anna@example.com", "login_code"))
    await client.run("SendLoginCode", challenge=token, method="email_code")
    second = code_in(await mailbox.next_to("anna@example.com", "login_code"))

    assert sent["__typename"] == "CodeSent" and sent["sentTo"] == "a***@example.com"
    stored = await OneTimeCode.filter(token__token_hash=hash_token(token)).order_by("created_at")
    assert len(stored) == 2 and stored[0].used_at is not None  # the re-send replaced the first
    assert stored[1].expires_at - stored[1].created_at == timedelta(minutes=10)
    assert first not in {c.code_digest for c in stored} and second not in {c.code_digest for c in stored}
    if first != second:
        assert (await verify(client, token, "email_code", first))["__typename"] == "InvalidCode"
    ok = await verify(client, token, "email_code", second)
    assert ok["__typename"] == "LoginSuccess"
    assert (await Token.get(token_hash=hash_token(token))).attempts == (2 if first != second else 1)


async def test_s10_resending_does_not_reset_the_attempt_count(client, mailbox, anna):
    await convert(client, mailbox, "anna@example.com", "email_code")
    token = await challenge(client, "anna@example.com")
    await client.run("SendLoginCode", challenge=token, method="email_code")
    code = code_in(await mailbox.next_to("anna@example.com", "login_code"))
    wrong = "123456" if code != "123456" else "654321"
    for _ in range(3):
        await verify(client, token, "email_code", wrong)

    await client.run("SendLoginCode", challenge=token, method="email_code")
    code = code_in(await mailbox.next_to("anna@example.com", "login_code"))
    wrong = "123456" if code != "123456" else "654321"

    assert (await verify(client, token, "email_code", wrong))["attemptsLeft"] == 1


async def test_s10_an_expired_email_code_is_refused(client, mailbox, anna):
    await convert(client, mailbox, "anna@example.com", "email_code")
    token = await challenge(client, "anna@example.com")
    await client.run("SendLoginCode", challenge=token, method="email_code")
    code = code_in(await mailbox.next_to("anna@example.com", "login_code"))
    await OneTimeCode.filter(used_at=None).update(expires_at=utcnow() - timedelta(seconds=1))

    assert (await verify(client, token, "email_code", code))["__typename"] == "InvalidCode"


async def test_s10_codes_are_only_sent_for_enrolled_delivering_methods(client, totp_user):
    token = await challenge(client, "anna@example.com")

    for method in ("email_code", "totp", "recovery_code", "carrier_pigeon"):
        result = (await client.run("SendLoginCode", challenge=token, method=method))["sendLoginCode"]
        assert result["__typename"] == "MethodNotAvailable", method
    expired = (await client.run("SendLoginCode", challenge="nope", method="email_code"))["sendLoginCode"]
    assert expired["__typename"] == "ChallengeExpired"


async def test_s11_recovery_codes_work_once_are_hashed_and_notify(client, mailbox, anna, totp_user):
    code = totp_user.recovery_codes[3]
    digests = await RecoveryCode.filter(user_id=anna.id).values_list("code_digest", flat=True)
    assert len(digests) == 10 and code not in digests and code.replace("-", "") not in digests

    used = await verify(client, await challenge(client, "anna@example.com"), "recovery_code", code.upper())
    again = await verify(client, await challenge(client, "anna@example.com"), "recovery_code", code)

    assert used["__typename"] == "LoginSuccess"
    assert again["__typename"] == "InvalidCode"
    notice = await mailbox.next_to("anna@example.com", "recovery_code_used")
    assert "9" in body(notice)


async def test_s11_recovery_codes_are_at_least_64_bits(totp_user):
    for code in totp_user.recovery_codes:
        assert len(code.replace("-", "")) * 5 >= 64  # base32: five bits a character


async def test_unknown_method_or_challenge(client, totp_user):
    token = await challenge(client, "anna@example.com")

    unknown = await verify(client, token, "email_code", "123456")
    expired = await verify(client, "not-a-challenge", "totp", "123456")

    assert unknown["__typename"] == "MethodNotAvailable"
    assert expired["__typename"] == "ChallengeExpired"
    assert (await Token.get(token_hash=hash_token(token))).attempts == 0  # not counted


async def test_s16_challenge_is_not_a_session(client, totp_user):
    token = await challenge(client, "anna@example.com")

    assert (await client.run("Viewer", bearer=token))["viewer"] is None


RECOVERY_CODES_LEFT = "query { viewer { recoveryCodesLeft } }"


async def test_r15_recovery_codes_left_counts_down_with_each_use(client, mailbox, anna, totp_user):
    before = (await client.execute(RECOVERY_CODES_LEFT, bearer=totp_user.token))["viewer"]

    used = await verify(
        client, await challenge(client, "anna@example.com"), "recovery_code", totp_user.recovery_codes[0]
    )
    after = (await client.execute(RECOVERY_CODES_LEFT, bearer=used["token"]))["viewer"]

    assert before == {"recoveryCodesLeft": 10}
    assert after == {"recoveryCodesLeft": 9}


async def test_r15_a_restricted_session_sees_no_recovery_codes(client, services, anna, totp_user):
    # S20/S30: a one-factor session of a two-factor account reads nothing of its factors.
    session = await create_session(await User.get(id=anna.id), Assurance.PASSWORD, services.sessions)

    viewer = (await client.execute(RECOVERY_CODES_LEFT, bearer=session.token))["viewer"]

    assert viewer == {"recoveryCodesLeft": 0}
