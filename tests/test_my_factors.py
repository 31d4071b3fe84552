"""R15: a two-factor user's own factors and recovery codes, each change behind step-up (R14), announced to
the account's address with a "this wasn't me" link (R13, S14), and audited."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from gql_server.audit import AuditKind
from gql_server.clock import utcnow
from gql_server.enums import MembershipLevel, TokenPurpose
from gql_server.limits import ENROLLMENT_ATTEMPTS, ENROLLMENTS_PER_HOUR, FACTOR_LABEL_MAX_LENGTH, STEP_UP_WINDOW
from gql_server.models import AuditEvent, EnrolledFactor, Session, Token, User
from gql_server.tokens import hash_token

from .flows import PASSWORD, challenge, convert, request_invitation, totp_code, verify
from .mailbox import body, code_in, link_token_in


async def _age(token: str) -> None:
    """The session's second factor was verified longer ago than the step-up window."""
    await Session.filter(token_hash=hash_token(token)).update(
        verified_at=utcnow() - STEP_UP_WINDOW - timedelta(seconds=1)
    )


@pytest.fixture
async def totp_user(client, mailbox, anna):
    """Anna, converted with an authenticator app (her session from the enrollment is verified now)."""
    return await convert(client, mailbox, "anna@example.com", "totp")


async def test_r15_r14_new_recovery_codes_need_a_recent_second_factor(client, mailbox, totp_user):
    await _age(totp_user.token)

    refused = (await client.run("RegenerateRecoveryCodes", bearer=totp_user.token))["regenerateRecoveryCodes"]
    assert refused["__typename"] == "ReauthenticationRequired"
    assert refused["methods"] == ["totp", "recovery_code"]
    assert (await client.run("Viewer", bearer=totp_user.token))["viewer"]["user"]["email"] == "anna@example.com"

    stepped = await client.run(
        "Reauthenticate", bearer=totp_user.token, method="totp", code=totp_code(totp_user.secret, 1)
    )
    assert stepped["reauthenticate"]["__typename"] == "Reauthenticated"
    replaced = (await client.run("RegenerateRecoveryCodes", bearer=totp_user.token))["regenerateRecoveryCodes"]

    assert replaced["__typename"] == "RecoveryCodesReplaced"
    new_codes = replaced["recoveryCodes"]
    assert len(new_codes) == len(totp_user.recovery_codes) and not set(new_codes) & set(totp_user.recovery_codes)
    # S11: the old set is gone, the new one signs in.
    old = await verify(
        client, await challenge(client, "anna@example.com"), "recovery_code", totp_user.recovery_codes[0]
    )
    assert old["__typename"] == "InvalidCode"
    new = await verify(client, await challenge(client, "anna@example.com"), "recovery_code", new_codes[0])
    assert new["__typename"] == "LoginSuccess"
    # S14, R13: the account's address is told, with a "this wasn't me" link.
    notice = await mailbox.next_to("anna@example.com", "recovery_codes_replaced")
    assert link_token_in(notice, "report")
    assert await AuditEvent.filter(kind=AuditKind.RECOVERY_CODES_REPLACED.value).count() == 1


async def test_r15_r14_a_password_user_has_no_recovery_codes_to_replace(client, make_customer, make_user):
    open_customer = await make_customer("Open Oy")
    await make_user(open_customer, "pekka@example.com", PASSWORD, MembershipLevel.COMPANY)
    token = await client.login_token("pekka@example.com", PASSWORD)

    refused = (await client.run("RegenerateRecoveryCodes", bearer=token))["regenerateRecoveryCodes"]

    assert refused == {
        "__typename": "ReauthenticationRequired",
        "message": "This needs a second factor, and this account has none yet.",
        "methods": [],
    }
    client.forget_cookies()
    anonymous = (await client.run("RegenerateRecoveryCodes"))["regenerateRecoveryCodes"]
    assert anonymous["__typename"] == "AuthenticationRequired"


# --- R15: adding, renaming and removing factors ------------------------------------------------------


async def _add(client, token: str, method: str = "totp") -> dict:
    begun = (await client.run("AddFactor", bearer=token, method=method))["addFactor"]
    assert begun["__typename"] == "EnrollmentStarted", begun
    return begun


async def _confirm(client, token: str, enrollment: str, code: str, label: str | None = None) -> dict:
    variables = {"enrollment": enrollment, "code": code, "label": label}
    return (await client.run("ConfirmFactor", bearer=token, **variables))["confirmFactor"]


async def _rename(client, token: str, factor_id: str, label: str) -> dict:
    return (await client.run("RenameFactor", bearer=token, id=factor_id, label=label))["renameFactor"]


async def _remove(client, token: str, factor_id: str) -> dict:
    return (await client.run("RemoveFactor", bearer=token, id=factor_id))["removeFactor"]


async def _factors(client, token: str) -> list[dict]:
    viewer = (await client.run("Viewer", bearer=token))["viewer"]
    factors: list[dict] = viewer["user"]["secondFactors"]
    return factors


async def _added_totp(client, mailbox, token: str, label: str | None = None) -> tuple[dict, str]:
    """A second authenticator app, confirmed: the new factor and its secret (its code of now is used)."""
    begun = await _add(client, token)
    added = await _confirm(client, token, begun["enrollment"], totp_code(begun["secret"]), label)
    assert added["__typename"] == "FactorAdded", added
    await mailbox.next_to("anna@example.com", "notice_factor_added")
    return added["factor"], begun["secret"]


async def _attempts(enrollment: str) -> int:
    return (await Token.get(token_hash=hash_token(enrollment))).attempts


async def test_r15_s14_a_second_authenticator_app_signs_in(client, mailbox, totp_user):
    begun = await _add(client, totp_user.token)
    assert begun["method"]["id"] == "totp" and begun["secret"] and begun["provisioningUri"] and begun["qrCodeSvg"]
    code = totp_code(begun["secret"])

    added = await _confirm(client, totp_user.token, begun["enrollment"], code, "  work phone ")

    assert added["__typename"] == "FactorAdded"
    assert (added["factor"]["method"]["id"], added["factor"]["label"]) == ("totp", "work phone")
    assert [(f["method"]["id"], f["label"]) for f in await _factors(client, totp_user.token)] == [
        ("totp", None),
        ("totp", "work phone"),
    ]
    # S14, R13: the account's address is told, with a "this wasn't me" link.
    notice = await mailbox.next_to("anna@example.com", "notice_factor_added")
    assert link_token_in(notice, "report") and 'Authenticator app "work phone"' in body(notice)
    added_events = await AuditEvent.filter(kind=AuditKind.FACTOR_ADDED.value, actor_id=totp_user.result["user"]["id"])
    assert [e.data["factor"] for e in added_events] == [added["factor"]["id"]]
    # The enrollment is used; S8: the code that proved the factor does not sign in; the next one does.
    assert (await _confirm(client, totp_user.token, begun["enrollment"], code))["__typename"] == "ChallengeExpired"
    replayed = await verify(client, await challenge(client, "anna@example.com"), "totp", code)
    assert replayed["__typename"] == "InvalidCode"
    signed_in = await verify(client, await challenge(client, "anna@example.com"), "totp", totp_code(begun["secret"], 1))
    assert signed_in["__typename"] == "LoginSuccess"


async def test_r15_an_email_factor_is_proved_with_a_mailed_code_and_signs_in(client, mailbox, totp_user):
    begun = await _add(client, totp_user.token, "email_code")
    assert begun["sentTo"] and begun["secret"] is None
    code = code_in(await mailbox.next_to("anna@example.com", "enrollment_code"))
    wrong = "000000" if code != "000000" else "111111"
    refused = await _confirm(client, totp_user.token, begun["enrollment"], wrong)
    assert (refused["__typename"], refused["attemptsLeft"]) == ("InvalidCode", ENROLLMENT_ATTEMPTS - 1)

    added = await _confirm(client, totp_user.token, begun["enrollment"], code)

    assert (added["__typename"], added["factor"]["label"]) == ("FactorAdded", None)
    await mailbox.next_to("anna@example.com", "notice_factor_added")
    login = await challenge(client, "anna@example.com")
    sent = (await client.run("SendLoginCode", challenge=login, method="email_code"))["sendLoginCode"]
    assert sent["__typename"] == "CodeSent"
    login_code = code_in(await mailbox.next_to("anna@example.com", "login_code"))
    assert (await verify(client, login, "email_code", login_code))["__typename"] == "LoginSuccess"


async def test_r15_r14_adding_confirming_renaming_and_removing_need_a_recent_second_factor(client, mailbox, totp_user):
    # Begun while the second factor was recent; by the confirmation it is not.
    begun = await _add(client, totp_user.token)
    await _age(totp_user.token)
    factor_id = (await _factors(client, totp_user.token))[0]["id"]
    # Beginning needs it too (R14 names adding a factor): a stale or remembered-browser session could
    # otherwise have codes texted or mailed anywhere, and spend the user's hourly enrollments.
    stale_add = (await client.run("AddFactor", bearer=totp_user.token, method="totp"))["addFactor"]
    assert (stale_add["__typename"], stale_add["methods"]) == ("ReauthenticationRequired", ["totp", "recovery_code"])
    assert await Token.filter(purpose=TokenPurpose.ENROLLMENT, used_at=None).count() == 1

    refusals = [
        await _confirm(client, totp_user.token, begun["enrollment"], totp_code(begun["secret"])),
        await _rename(client, totp_user.token, factor_id, "phone"),
        await _remove(client, totp_user.token, factor_id),
    ]

    assert [(r["__typename"], r["methods"]) for r in refusals] == [
        ("ReauthenticationRequired", ["totp", "recovery_code"])
    ] * 3
    assert await _attempts(begun["enrollment"]) == 0
    assert [f["label"] for f in await _factors(client, totp_user.token)] == [None]
    stepped = await client.run(
        "Reauthenticate", bearer=totp_user.token, method="totp", code=totp_code(totp_user.secret, 1)
    )
    assert stepped["reauthenticate"]["__typename"] == "Reauthenticated"
    # The same enrollment, now allowed.
    added = await _confirm(client, totp_user.token, begun["enrollment"], totp_code(begun["secret"]))
    assert added["__typename"] == "FactorAdded"
    renamed = await _rename(client, totp_user.token, factor_id, "phone")
    assert renamed["__typename"] == "FactorUpdated"
    assert [f["label"] for f in renamed["user"]["secondFactors"]] == ["phone", None]
    removed = await _remove(client, totp_user.token, factor_id)
    assert [f["id"] for f in removed["user"]["secondFactors"]] == [added["factor"]["id"]]


async def test_r15_r9_the_last_factor_stays(client, mailbox, totp_user):
    only = (await _factors(client, totp_user.token))[0]["id"]

    refused = await _remove(client, totp_user.token, only)

    # Recovery codes are no factor: they are for a lost one.
    assert refused == {
        "__typename": "LastFactor",
        "message": "This is your last second factor: add another one before you remove it.",
    }
    assert [f["id"] for f in await _factors(client, totp_user.token)] == [only]
    assert not await AuditEvent.filter(kind=AuditKind.FACTOR_REMOVED.value).exists()


async def test_r15_r9_parallel_removals_of_the_last_two_factors_leave_one(client, mailbox, totp_user):
    await _added_totp(client, mailbox, totp_user.token)
    ids = [f["id"] for f in await _factors(client, totp_user.token)]

    results = await asyncio.gather(*(_remove(client, totp_user.token, i) for i in ids))

    assert sorted(r["__typename"] for r in results) == ["FactorUpdated", "LastFactor"]
    assert await EnrolledFactor.filter(user_id=totp_user.result["user"]["id"]).count() == 1
    await mailbox.next_to("anna@example.com", "notice_factor_removed")


async def test_r15_s18_removing_a_factor_ends_the_other_sessions_not_this_one(client, mailbox, totp_user):
    new_factor, new_secret = await _added_totp(client, mailbox, totp_user.token)
    other = await verify(client, await challenge(client, "anna@example.com"), "totp", totp_code(new_secret, 1))
    assert other["__typename"] == "LoginSuccess"

    removed = await _remove(client, other["token"], (await _factors(client, other["token"]))[0]["id"])

    assert removed["__typename"] == "FactorUpdated"
    # The session that removed it (just stepped up) stays; the one from the enrollment reads nothing.
    assert (await client.run("Viewer", bearer=other["token"]))["viewer"]["user"]["email"] == "anna@example.com"
    client.forget_cookies()
    assert (await client.run("Viewer", bearer=totp_user.token))["viewer"] is None
    notice = await mailbox.next_to("anna@example.com", "notice_factor_removed")
    assert link_token_in(notice, "report") and "Authenticator app" in body(notice)
    event = await AuditEvent.get(kind=AuditKind.FACTOR_REMOVED.value)
    assert (event.data["method"], event.data["sessions_ended"]) == ("totp", 1)
    # The factor that is left signs in.
    assert [f["id"] for f in await _factors(client, other["token"])] == [new_factor["id"]]


async def test_r15_renaming_is_announced_and_audited(client, mailbox, totp_user):
    factor_id = (await _factors(client, totp_user.token))[0]["id"]

    renamed = await _rename(client, totp_user.token, factor_id, " laptop ")

    assert renamed["__typename"] == "FactorUpdated"
    assert renamed["user"]["secondFactors"][0]["label"] == "laptop"
    notice = await mailbox.next_to("anna@example.com", "notice_factor_renamed")
    assert link_token_in(notice, "report") and '"laptop"' in body(notice)
    assert await AuditEvent.filter(kind=AuditKind.FACTOR_RENAMED.value).count() == 1
    # The same name again changes nothing, and says nothing.
    assert (await _rename(client, totp_user.token, factor_id, "laptop"))["__typename"] == "FactorUpdated"
    assert await AuditEvent.filter(kind=AuditKind.FACTOR_RENAMED.value).count() == 1
    # R13: "this wasn't me" signs the account out everywhere, this session included.
    reported = await client.run("ReportUnrecognizedChange", token=link_token_in(notice, "report"))
    assert reported["reportUnrecognizedChange"]["__typename"] == "ChangeReported"
    client.forget_cookies()
    assert (await client.run("Viewer", bearer=totp_user.token))["viewer"] is None


@pytest.mark.parametrize(
    "label",
    ["", "   ", "x" * (FACTOR_LABEL_MAX_LENGTH + 1), "work\nphone", "tab\there", "\u202ephone", "a\u200bb"],
)
async def test_r15_a_label_is_checked_before_anything_is_spent(client, mailbox, totp_user, label):
    factor_id = (await _factors(client, totp_user.token))[0]["id"]
    begun = await _add(client, totp_user.token)

    confirmed = await _confirm(client, totp_user.token, begun["enrollment"], totp_code(begun["secret"]), label)
    renamed = await _rename(client, totp_user.token, factor_id, label)

    for refused in (confirmed, renamed):
        assert (refused["__typename"], refused["field"]) == ("InvalidInput", "label"), refused
    assert await _attempts(begun["enrollment"]) == 0
    assert [f["label"] for f in await _factors(client, totp_user.token)] == [None]


async def test_r15_the_longest_label_and_emoji_are_names(client, mailbox, totp_user):
    factor_id = (await _factors(client, totp_user.token))[0]["id"]
    for label in ("x" * FACTOR_LABEL_MAX_LENGTH, "👩\u200d💻 työkone"):
        renamed = await _rename(client, totp_user.token, factor_id, label)
        assert renamed["user"]["secondFactors"][0]["label"] == label, renamed


async def test_r15_s15_another_users_factor_or_enrollment_is_no_ones(client, mailbox, totp_user, acme, make_user):
    await make_user(acme, "bea@example.com", PASSWORD)
    bea = await convert(client, mailbox, "bea@example.com", "totp")
    beas_factor = (await _factors(client, bea.token))[0]["id"]
    beas_enrollment = await _add(client, bea.token)

    answers = [
        await _rename(client, totp_user.token, beas_factor, "mine"),
        await _remove(client, totp_user.token, beas_factor),
        await _remove(client, totp_user.token, str(uuid.uuid4())),
        await _remove(client, totp_user.token, "not-an-id"),
    ]
    stolen = await _confirm(
        client, totp_user.token, beas_enrollment["enrollment"], totp_code(beas_enrollment["secret"])
    )

    # One answer for any id that is not one of the caller's factors: ids tell nothing about other accounts.
    assert {(a["__typename"], a["field"], a["message"]) for a in answers} == {
        ("InvalidInput", "id", "No such factor of yours.")
    }
    assert stolen["__typename"] == "ChallengeExpired"
    assert await _attempts(beas_enrollment["enrollment"]) == 0
    assert [(f["id"], f["label"]) for f in await _factors(client, bea.token)] == [(beas_factor, None)]
    assert len(await _factors(client, totp_user.token)) == 1


async def test_r15_s15_an_added_factors_enrollment_and_an_invitations_are_not_interchangeable(
    client, mailbox, totp_user, acme, make_user
):
    await make_user(acme, "bea@example.com", PASSWORD)
    invitation = await request_invitation(client, mailbox, "bea@example.com")
    invited = (await client.run("BeginEnrollment", invitation=invitation, method="totp"))["beginEnrollment"]
    added = await _add(client, totp_user.token)

    as_invitation = (
        await client.run("ConfirmEnrollment", enrollment=added["enrollment"], code=totp_code(added["secret"]))
    )["confirmEnrollment"]
    as_added = await _confirm(client, totp_user.token, invited["enrollment"], totp_code(invited["secret"]))

    assert (as_invitation["__typename"], as_added["__typename"]) == ("ChallengeExpired", "ChallengeExpired")
    assert await _attempts(added["enrollment"]) == await _attempts(invited["enrollment"]) == 0
    stored = await Token.get(token_hash=hash_token(added["enrollment"]))
    assert (stored.purpose, stored.data["add_factor"]) == (TokenPurpose.ENROLLMENT, True)


async def test_r15_r14_a_password_user_adds_no_factor_and_has_none_to_change(client, make_customer, make_user):
    open_customer = await make_customer("Open Oy")
    await make_user(open_customer, "pekka@example.com", PASSWORD, MembershipLevel.COMPANY)
    token = await client.login_token("pekka@example.com", PASSWORD)
    no_factor = {
        "__typename": "ReauthenticationRequired",
        "message": "This needs a second factor, and this account has none yet.",
        "methods": [],
    }

    # R8: a password user's first factor comes from converting.
    added = (await client.run("AddFactor", bearer=token, method="totp"))["addFactor"]
    assert {k: added[k] for k in ("__typename", "methods")} == {"__typename": "ReauthenticationRequired", "methods": []}
    assert await _confirm(client, token, "no-such-enrollment", "123456") == no_factor
    assert await _rename(client, token, str(uuid.uuid4()), "phone") == no_factor
    assert await _remove(client, token, str(uuid.uuid4())) == no_factor
    client.forget_cookies()
    assert (await client.run("AddFactor", method="totp"))["addFactor"]["__typename"] == "ChallengeExpired"
    assert (await _confirm(client, "", "nope", "123456"))["__typename"] == "ChallengeExpired"
    for anonymous in (await _rename(client, "", str(uuid.uuid4()), "x"), await _remove(client, "", "x")):
        assert anonymous["__typename"] == "AuthenticationRequired"
    assert not await Token.filter(purpose=TokenPurpose.ENROLLMENT).exists()
    assert await User.filter(email="pekka@example.com", login_method="PASSWORD").exists()


async def test_r15_r9_a_factor_whose_method_is_gone_does_not_count(client, mailbox, totp_user):
    # A factor of a plugin no longer installed cannot sign in: the one that can stays (R9).
    user_id = totp_user.result["user"]["id"]
    await EnrolledFactor.create(user_id=user_id, method="gone", state_encrypted="", created_at=utcnow())
    factors = await _factors(client, totp_user.token)
    assert [f["method"]["id"] for f in factors] == ["totp", "gone"]

    assert (await _remove(client, totp_user.token, factors[0]["id"]))["__typename"] == "LastFactor"
    assert (await _remove(client, totp_user.token, factors[1]["id"]))["__typename"] == "FactorUpdated"
    assert [f["method"]["id"] for f in await _factors(client, totp_user.token)] == ["totp"]


async def test_r15_s15_adding_factors_counts_against_the_hourly_enrollment_limit(client, mailbox, totp_user):
    # The conversion's own enrollment counts too: the limit is the user's, whichever flow issues them.
    answers = [
        (await client.run("AddFactor", bearer=totp_user.token, method="totp"))["addFactor"]["__typename"]
        for _ in range(ENROLLMENTS_PER_HOUR)
    ]

    assert answers == ["EnrollmentStarted"] * (ENROLLMENTS_PER_HOUR - 1) + ["TooManyAttempts"]
    assert await Token.filter(purpose=TokenPurpose.ENROLLMENT).count() == ENROLLMENTS_PER_HOUR
