"""One property per mutation: hostile arguments get a typed answer of the mutation's union and change nothing."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta

import pytest
from gql_server_sms.phone import normalize_phone_number
from hypothesis import assume, example, given, note
from hypothesis import strategies as st

from gql_server.auth.my_factors import clean_label
from gql_server.auth.results import InvalidInput
from gql_server.clock import utcnow
from gql_server.emails import MAX_EMAIL_LENGTH, looks_like_email, normalize_email
from gql_server.enums import ConversionState, TokenPurpose
from gql_server.limits import REMEMBER_DEVICE_MAX_DAYS, STEP_UP_WINDOW
from gql_server.mail import LOCALES
from gql_server.models import MailOutbox, Session, Token, User
from gql_server.passwords import PasswordRejected, check_new_password, normalize_password
from gql_server.plugin_api import InvalidEnrollmentInput
from gql_server.tokens import hash_token, issue_token

from ..flows import PASSWORD
from .answers import (
    ACCEPT_INVITATION,
    ADD_FACTOR,
    BEGIN_ENROLLMENT,
    BEGIN_REAUTHENTICATION,
    BEGIN_SECOND_FACTOR,
    CHANGE_PASSWORD,
    CONFIRM_EMAIL_CHANGE,
    CONFIRM_ENROLLMENT,
    CONFIRM_FACTOR,
    END_OTHER_SESSIONS,
    END_SESSION,
    FORGET_DEVICE,
    INVITE_USER,
    LOGIN,
    LOGOUT,
    REAUTHENTICATE,
    REGENERATE_RECOVERY_CODES,
    REMOVE_FACTOR,
    REMOVE_MEMBER,
    RENAME_FACTOR,
    REPORT_UNRECOGNIZED_CHANGE,
    REQUEST_CONVERSION,
    REQUEST_EMAIL_CHANGE,
    REQUEST_PASSWORD_RESET,
    RESEND_INVITATION,
    RESET_PASSWORD,
    SCHEMA,
    SEND_LOGIN_CODE,
    SEND_PASSWORD_RESET,
    SEND_REAUTHENTICATION_CODE,
    SET_MEMBER_LEVEL,
    START_CONVERSION,
    UPDATE_PROFILE,
    UPDATE_SETTINGS,
    VERIFY,
    members,
    typed,
)
from .strategies import (
    ADMIN,
    CODES,
    EMAILS,
    ENROLLABLE,
    FIXTURE_EMAILS,
    HOSTILE,
    HOSTILE_TEXT,
    KNOWN_METHODS,
    METHODS,
    NEW,
    OTHER,
    PASSWORD_TEXT,
    PASSWORDS,
    PENDING,
    PHONE_NUMBERS,
    Live,
    Mangled,
    either,
    mangled,
    same_id,
    tokens,
    uuid_spellings,
)
from .world import ALL_TOKENS, SESSIONS, not_a_right_code, not_an_alias, reset_code_attempts

# Part of `make test`; `make test-hostile` runs the package alone.
pytestmark = pytest.mark.hostile


@HOSTILE
@given(email=EMAILS, password=either(st.just(PASSWORD), HOSTILE_TEXT))
@example(email="kim.\u0430dmin@acme.example", password=PASSWORD)
@example(email="kim.admin\u200b@acme.example", password=PASSWORD)
@example(email="kim.admin\uff20acme.example", password=PASSWORD)
async def test_login(world, email, password):
    # Also the right password with a lookalike of an account's address: that is not the account, and
    # it does not count against the account either.
    not_an_alias(email)
    variables = {"email": email, "password": password}

    result = typed(await world.send(LOGIN, variables), "login", {"InvalidCredentials"})

    assert result["message"] == "Wrong email or password."
    await world.unchanged()


@HOSTILE
@given(challenge=either(st.just(Live("challenge")), tokens(*ALL_TOKENS)), method=METHODS)
async def test_send_login_code(world, challenge, method):
    # Known bug, pinned by test_send_login_code_with_a_method_id_longer_than_the_column.
    assume(not (isinstance(challenge, Live) and len(method) > 64))
    variables = {"challenge": world.token(challenge), "method": method}

    result = typed(await world.send(SEND_LOGIN_CODE, variables), "sendLoginCode", members("sendLoginCode"))

    # Kim's challenge is live, but Kim has no method that delivers codes.
    assert result["__typename"] == ("MethodNotAvailable" if isinstance(challenge, Live) else "ChallengeExpired")
    await world.unchanged()


@HOSTILE
@given(challenge=either(st.just(Live("challenge")), tokens(*ALL_TOKENS)), method=METHODS)
async def test_begin_second_factor(world, challenge, method):
    # No method of the world answers challenges (passkeys): a live challenge gets MethodNotAvailable, and
    # nothing is kept with it; anything else is no challenge.
    variables = {"challenge": world.token(challenge), "method": method}

    result = typed(await world.send(BEGIN_SECOND_FACTOR, variables), "beginSecondFactor", members("beginSecondFactor"))

    assert result["__typename"] == ("MethodNotAvailable" if isinstance(challenge, Live) else "ChallengeExpired")
    await world.unchanged()


@HOSTILE
@given(
    challenge=either(st.just(Live("challenge")), tokens(*ALL_TOKENS)),
    method=METHODS,
    code=CODES,
    remember=st.sampled_from(["left out", None, True, False]),
)
async def test_verify_second_factor(world, challenge, method, code, remember):
    # R18: rememberDevice (left out, null, true or false) remembers nothing without a right code.
    not_a_right_code(world, code)
    variables = {"challenge": world.token(challenge), "method": method, "code": code}
    if remember != "left out":
        variables["rememberDevice"] = remember

    result = typed(await world.send(VERIFY, variables), "verifySecondFactor", members("verifySecondFactor"))

    if not isinstance(challenge, Live):
        assert result["__typename"] == "ChallengeExpired"
    elif method in {"totp", "recovery_code"}:
        assert result["__typename"] == "InvalidCode"
    else:
        assert result["__typename"] == "MethodNotAvailable"
    await reset_code_attempts(world, "challenge")
    await world.unchanged()


@HOSTILE
@given(
    authorization=st.one_of(
        st.none(),
        st.binary(max_size=200),
        st.builds(b"Bearer ".__add__, st.binary(max_size=200)),
        st.builds(lambda s: b"Bearer " + s.encode("utf-8"), HOSTILE_TEXT),
        mangled(*SESSIONS),
    ),
    cookie=st.none() | st.binary(max_size=200) | st.builds(b"gql_session=".__add__, st.binary(max_size=200)),
)
async def test_logout(world, authorization, cookie):
    headers = _session_headers(world, authorization, cookie)
    note(f"headers: {headers!r}")

    response = await world.post(json.dumps({"query": LOGOUT}), headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"logout": False}}
    await world.unchanged()


@HOSTILE
@given(ticket=either(st.just(Live("ticket")), tokens(*ALL_TOKENS)), email=EMAILS)
async def test_request_conversion(world, ticket, email):
    # With a live ticket of Pat, who started converting: R4 only re-sends, to the address the conversion
    # started with, so every other address is refused. The ticket is made for the example and removed.
    not_an_alias(email)
    pending = await User.get(id=world.pending_id)
    live = await issue_token(pending, TokenPurpose.CONVERSION_TICKET, timedelta(minutes=5), {"resend_only": True})
    world.live["ticket"] = live.token
    try:
        variables = {"ticket": world.token(ticket), "email": email}
        response = await world.send(REQUEST_CONVERSION, variables)
    finally:
        await Token.filter(id=live.record.id).delete()

    if isinstance(ticket, Live):
        result = typed(response, "requestConversion", {"InvalidInput"})
        assert result["field"] == "email"
    else:
        typed(response, "requestConversion", {"ChallengeExpired"})
    await world.unchanged()


@HOSTILE
@given(email=EMAILS)
@example(email="0@0.:")
@example(email="a\x01@b.example")
async def test_request_conversion_with_a_live_ticket_of_a_password_user(world, email):
    # The address is the user's choice: a usable one gets the invitation, another account's the same
    # answer and a notice instead (R4: no enumeration), anything else InvalidInput. When it is not the
    # account's own, the account's own address is told (R13). Either way no other account is touched;
    # the test undoes what a usable address changes for this user, so the next example starts alike.
    user = await User.get(id=world.other_user_id)
    ticket = await issue_token(user, TokenPurpose.CONVERSION_TICKET, timedelta(minutes=5))
    mail_before = len(world.mailbox.messages)
    outbox_before = set(await MailOutbox.all().values_list("id", flat=True))
    try:
        variables = {"ticket": ticket.token, "email": email}
        result = typed(
            await world.send(REQUEST_CONVERSION, variables),
            "requestConversion",
            {"ConversionRequested", "InvalidInput"},
        )

        address = normalize_email(variables["email"])
        if result["__typename"] == "ConversionRequested":
            expected = {(address, "link_account" if address in FIXTURE_EMAILS and address != OTHER else "invitation")}
            if address != OTHER:
                expected.add((OTHER, "notice_invitation_elsewhere"))
            await mail_settled()
            sent = world.mailbox.messages[mail_before:]
            assert {(m["To"], m["X-Gql-Template"]) for m in sent} == expected
            assert (await User.get(id=user.id)).pending_email == address
    finally:
        await mail_settled()
        del world.mailbox.messages[mail_before:]
        await MailOutbox.exclude(id__in=list(outbox_before)).delete()
        purposes = (TokenPurpose.INVITATION, TokenPurpose.REPORT_CHANGE, TokenPurpose.LINK_ACCOUNT)
        await Token.filter(user_id=user.id, purpose__in=purposes).delete()
        await Token.filter(id=ticket.record.id).delete()
        await User.filter(id=user.id).update(conversion=ConversionState.NOT_STARTED, pending_email=None)
    await world.unchanged()


async def mail_settled() -> None:
    """Wait until the outbox has tried everything the request wrote (notices go out after the answer)."""
    async with asyncio.timeout(10):
        while await MailOutbox.filter(sent_at=None, failed_at=None).exists():  # noqa: ASYNC110 (rows, not an event)
            await asyncio.sleep(0.02)


@HOSTILE
@given(session=st.sampled_from([None, "admin_session", "pending_session"]) | mangled(*SESSIONS), email=EMAILS)
async def test_start_conversion(world, session, email):
    not_an_alias(email)
    bearer = world.token(session, header=True) if isinstance(session, Mangled) else world.live.get(session or "")

    result = typed(
        await world.send(START_CONVERSION, {"email": email}, bearer=bearer),
        "startConversion",
        members("startConversion"),
    )

    if session is None or isinstance(session, Mangled):
        assert result["__typename"] == "AuthenticationRequired"
    else:
        # Kim already signs in with two factors; Pat's conversion continues at its own address (R4).
        assert result["__typename"] == "InvalidInput", result
    await world.unchanged()


def _textable(phone_number: str | None) -> bool:
    """Whether the SMS method would take this number (and so begin an enrollment)."""
    try:
        normalize_phone_number(phone_number)
    except InvalidEnrollmentInput:
        return False
    return True


@HOSTILE
@given(
    invitation=either(st.sampled_from([Live("invitation"), Live("new_invitation")]), tokens(*ALL_TOKENS)),
    method=METHODS,
    phone_number=PHONE_NUMBERS,
)
async def test_begin_enrollment(world, invitation, method, phone_number):
    live = isinstance(invitation, Live)
    if live and method in ENROLLABLE - {"sms"}:
        # A live invitation and a real method begin an enrollment: that is the flow, not hostile input.
        method = method.upper()
    # A number that can receive a text would begin an enrollment too.
    assume(not (live and method == "sms" and _textable(phone_number)))
    variables = {"invitation": world.token(invitation), "method": method, "phoneNumber": phone_number}

    result = typed(await world.send(BEGIN_ENROLLMENT, variables), "beginEnrollment", members("beginEnrollment"))

    if not live:
        assert result["__typename"] == "ChallengeExpired"
    elif method == "sms":
        assert (result["__typename"], result.get("field")) == ("InvalidInput", "phoneNumber"), result
    else:
        assert result["__typename"] == "MethodNotAvailable"
    await world.unchanged()


@HOSTILE
@given(
    enrollment=either(st.sampled_from([Live("enrollment"), Live("new_enrollment")]), tokens(*ALL_TOKENS)),
    code=CODES,
    password=PASSWORDS,
)
async def test_confirm_enrollment(world, enrollment, code, password):
    not_a_right_code(world, code)
    variables = {"enrollment": world.token(enrollment), "code": code, "password": password}

    result = typed(await world.send(CONFIRM_ENROLLMENT, variables), "confirmEnrollment", members("confirmEnrollment"))

    if not isinstance(enrollment, Live):
        assert result["__typename"] == "ChallengeExpired"
    elif enrollment.name == "enrollment":
        # Pat has a password: the argument is ignored, and the code is wrong.
        assert result["__typename"] == "InvalidCode"
    else:
        # Eve's new account must choose a password first; a usable one gets as far as the (wrong) code.
        assert result["__typename"] in {"InvalidInput", "InvalidCode"}
        if result["__typename"] == "InvalidInput":
            assert result["field"] == "password"
    if isinstance(enrollment, Live):
        await Token.filter(token_hash=hash_token(world.live[enrollment.name])).update(attempts=0)
    await world.unchanged()


@HOSTILE
@given(
    session=st.sampled_from([None, "admin_session", "other_session", "pending_session"]) | mangled(*SESSIONS),
    customer=st.one_of(
        HOSTILE_TEXT,
        st.uuids().map(str),
        st.builds(lambda which, i: (which, i), st.sampled_from(["acme", "other"]), st.integers(0, 7)),
    ),
    enforce=st.none() | st.booleans(),
    allowed=st.none() | st.lists(st.sampled_from(KNOWN_METHODS) | HOSTILE_TEXT, max_size=5),
    # R18: 0..30 are the days; GraphQL's Int holds the rest of the range (32 bits).
    days=st.none() | st.integers(-(2**31), 2**31 - 1) | st.sampled_from([-1, 0, 30, 31]),
)
async def test_update_customer_settings(world, session, customer, enforce, allowed, days):
    if isinstance(customer, tuple):
        which, index = customer
        real = world.acme_id if which == "acme" else world.other_id
        spellings = [real, *uuid_spellings(real)]
        customer = spellings[index % len(spellings)]
    bearer = world.token(session, header=True) if isinstance(session, Mangled) else world.live.get(session or "")
    admin_of_acme = session == "admin_session" and same_id(customer, world.acme_id)
    bad_methods = allowed is not None and (not allowed or not set(allowed) <= ENROLLABLE)
    bad_days = days is not None and not 0 <= days <= REMEMBER_DEVICE_MAX_DAYS
    if admin_of_acme:
        # Kim may change Acme: only input that is refused (an unknown method, or none; days out of range)
        # is hostile here.
        assume(bad_methods or bad_days)
    settings = {"enforceTwoFactor": enforce, "allowedMethods": allowed, "rememberDeviceDays": days}
    variables = {"customerId": customer, "input": settings}

    result = typed(
        await world.send(UPDATE_SETTINGS, variables, bearer=bearer),
        "updateCustomerSettings",
        members("updateCustomerSettings"),
    )

    if session is None or isinstance(session, Mangled):
        assert result["__typename"] == "AuthenticationRequired"
    elif session == "pending_session":
        # Acme enforces two factors and Pat has not converted yet (R10).
        assert result["__typename"] == "AuthenticationRequired"
    elif admin_of_acme:
        field = "allowedMethods" if bad_methods else "rememberDeviceDays"
        assert (result["__typename"], result["field"]) == ("InvalidInput", field)
    else:
        assert result["__typename"] == "PermissionDenied"
    await world.unchanged()


@HOSTILE
@given(
    session=st.sampled_from([None, *SESSIONS]) | mangled(*SESSIONS),
    target=st.one_of(
        HOSTILE_TEXT,
        st.uuids().map(str),
        st.builds(lambda name, i: (name, i), st.sampled_from(SESSIONS), st.integers(0, 7)),
    ),
)
async def test_end_session(world, session, target):
    # R17: any id but one of the caller's own live sessions is false and ends nothing; the world's
    # sessions are each another account's, in every spelling (the caller's own would be ended, by design).
    if isinstance(target, tuple):
        name, index = target
        assume(name != session)
        real = str((await Session.get(token_hash=hash_token(world.live[name]))).id)
        spellings = [real, *uuid_spellings(real)]
        target = spellings[index % len(spellings)]
    bearer = world.token(session, header=True) if isinstance(session, Mangled) else world.live.get(session or "")

    response = await world.send(END_SESSION, {"id": target}, bearer=bearer)

    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"endSession": False}}
    await world.unchanged()


@HOSTILE
@given(
    session=st.sampled_from([None, *SESSIONS]) | mangled(*SESSIONS),
    target=st.one_of(HOSTILE_TEXT, st.uuids().map(str), st.integers(0, 7)),
    cookie=st.none() | st.binary(max_size=200) | st.builds(b"gql_device=".__add__, st.binary(max_size=200)),
)
async def test_forget_device(world, session, target, cookie):
    # R18: any id but one of the caller's own remembered devices is false and forgets nothing: Kim's device
    # in every spelling, from every other caller (from Kim's own session it would be forgotten, by design),
    # whatever device cookie the browser sends.
    if isinstance(target, int):
        spellings = [world.admin_device_id, *uuid_spellings(world.admin_device_id)]
        target = spellings[target % len(spellings)]
    # As `world.send` does: U+0000 is refused at the JSON boundary (test_regressions.py).
    target = target.replace("\x00", "\x01")
    assume(not (session == "admin_session" and same_id(target, world.admin_device_id)))
    bearer = None if session is None or isinstance(session, Mangled) else f"Bearer {world.live[session]}".encode()
    headers = _session_headers(world, session if isinstance(session, Mangled) else bearer, cookie)
    note(f"headers: {headers!r}")

    response = await world.post(json.dumps({"query": FORGET_DEVICE, "variables": {"id": target}}), headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"forgetDevice": False}}
    await world.unchanged()


@HOSTILE
@given(
    session=st.sampled_from([None, *SESSIONS]) | mangled(*SESSIONS),
    cookie=st.none() | st.binary(max_size=200) | st.builds(b"gql_session=".__add__, st.binary(max_size=200)),
)
async def test_end_other_sessions(world, session, cookie):
    # R17: each world account has one live session, so there is never another to end; a restricted
    # session (Pat's, R10) and a damaged token or cookie end nothing either.
    bearer = None if session is None or isinstance(session, Mangled) else f"Bearer {world.live[session]}".encode()
    headers = _session_headers(world, session if isinstance(session, Mangled) else bearer, cookie)
    note(f"headers: {headers!r}")

    response = await world.post(json.dumps({"query": END_OTHER_SESSIONS}), headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"endOtherSessions": 0}}
    await world.unchanged()


@HOSTILE
@given(
    session=st.sampled_from([None, *SESSIONS]) | mangled(*SESSIONS),
    locale=HOSTILE_TEXT | st.sampled_from(["sv", "FI", "fi-FI", "fi_FI", "en ", "\u0435n"]),
)
async def test_update_profile(world, session, locale):
    # R13: "fi" and "en" are the languages; anything else, from any caller, is refused and changes nothing.
    assume(locale not in LOCALES)
    bearer = world.token(session, header=True) if isinstance(session, Mangled) else world.live.get(session or "")

    result = typed(
        await world.send(UPDATE_PROFILE, {"locale": locale}, bearer=bearer),
        "updateProfile",
        {"InvalidInput", "AuthenticationRequired"},
    )

    if session is None or isinstance(session, Mangled):
        assert result["__typename"] == "AuthenticationRequired"
    elif result["__typename"] == "InvalidInput":
        assert result["field"] == "locale"
    await world.unchanged()


# R15: who may change factors, and Kim's session either recently verified or not (R14).
FACTOR_CALLERS = st.sampled_from([None, *SESSIONS, "stale_admin_session"]) | mangled(*SESSIONS)
# Labels: hostile text, and plain names (which a recently verified Kim would give her own factor).
LABELS = either(HOSTILE_TEXT, st.text(min_size=1, max_size=70))
NO_FACTOR = ("ReauthenticationRequired", ())
STALE = ("ReauthenticationRequired", ("totp", "recovery_code"))


async def _factor_caller(world, caller) -> str | None:
    """The bearer token of a factor operation's caller; "stale_admin_session" is Kim's session with its
    second factor verified longer ago than the step-up window (put back by `_fresh_again`)."""
    if isinstance(caller, Mangled):
        return world.token(caller, header=True)
    if caller == "stale_admin_session":
        stale = utcnow() - STEP_UP_WINDOW - timedelta(minutes=1)
        await Session.filter(token_hash=hash_token(world.live["admin_session"])).update(verified_at=stale)
        return world.live["admin_session"]
    return world.live.get(caller or "")


async def _fresh_again(world, verified_at) -> None:
    await Session.filter(token_hash=hash_token(world.live["admin_session"])).update(verified_at=verified_at)


def _refusal_of(caller, *, restricted: str) -> tuple[str, tuple[str, ...]] | None:
    """What R14 answers a caller other than Kim's recent session; None for Kim's recent session."""
    if caller is None or isinstance(caller, Mangled) or caller == "pending_session":
        # No session, a damaged one, or Pat's one-factor session that must convert (R10).
        return (restricted, ())
    if caller == "other_session":
        return NO_FACTOR
    return STALE if caller == "stale_admin_session" else None


def _answer(result) -> tuple[str, tuple[str, ...]]:
    return result["__typename"], tuple(result.get("methods", ()))


@HOSTILE
@given(caller=FACTOR_CALLERS, method=METHODS, phone_number=PHONE_NUMBERS)
async def test_add_factor(world, caller, method, phone_number):
    # R15: only a signed-in two-factor user begins adding a factor, and only with a method R5 allows.
    if caller in {"admin_session", "stale_admin_session"} and method in ENROLLABLE - {"sms"}:
        # Kim and a real method begin an enrollment: that is the flow, not hostile input.
        method = method.upper()
    assume(not (caller in {"admin_session", "stale_admin_session"} and method == "sms" and _textable(phone_number)))
    verified_at = (await Session.get(token_hash=hash_token(world.live["admin_session"]))).verified_at
    bearer = await _factor_caller(world, caller)

    response = await world.send(ADD_FACTOR, {"method": method, "phoneNumber": phone_number}, bearer=bearer)
    result = typed(response, "addFactor", members("addFactor"))

    refusal = _refusal_of(caller, restricted="ChallengeExpired")
    if refusal is not None:
        # R14 names adding a factor: a stale session steps up first; a password user's first factor comes
        # from converting (R8), so theirs lists no method; without a usable session there is no account.
        assert _answer(result) == refusal, result
    else:
        expected = ("InvalidInput", "phoneNumber") if method == "sms" else ("MethodNotAvailable", None)
        assert (result["__typename"], result.get("field")) == expected, result
    await _fresh_again(world, verified_at)
    await world.unchanged()


@HOSTILE
@given(
    caller=FACTOR_CALLERS,
    enrollment=either(
        st.sampled_from([Live("added_enrollment"), Live("enrollment"), Live("new_enrollment")]),
        tokens(*ALL_TOKENS),
    ),
    code=CODES,
    label=st.none() | LABELS,
)
async def test_confirm_factor(world, caller, enrollment, code, label):
    not_a_right_code(world, code)
    verified_at = (await Session.get(token_hash=hash_token(world.live["admin_session"]))).verified_at
    bearer = await _factor_caller(world, caller)
    variables = {"enrollment": world.token(enrollment), "code": code, "label": label}

    result = typed(
        await world.send(CONFIRM_FACTOR, variables, bearer=bearer), "confirmFactor", members("confirmFactor")
    )

    refusal = _refusal_of(caller, restricted="ChallengeExpired")
    if refusal is not None:
        assert _answer(result) == refusal, result
    elif isinstance(clean_label(label), InvalidInput):
        # The name is checked before a code attempt is spent.
        assert (result["__typename"], result["field"]) == ("InvalidInput", "label"), result
    elif enrollment == Live("added_enrollment"):
        assert result["__typename"] == "InvalidCode"
        await reset_code_attempts(world, "added_enrollment")
    else:
        # S15: an invitation's enrollment, or no enrollment at all, is not Kim's factor to add.
        assert result["__typename"] == "ChallengeExpired"
    await _fresh_again(world, verified_at)
    await world.unchanged()


def _factor_id(world, target) -> str:
    """An id argument: hostile text, a random id, or some spelling of Kim's factor's id."""
    if not isinstance(target, int):
        return str(target)
    spellings = [world.admin_factor_id, *uuid_spellings(world.admin_factor_id)]
    return spellings[target % len(spellings)]


FACTOR_IDS = st.one_of(HOSTILE_TEXT, st.uuids().map(str), st.integers(0, 7))


@HOSTILE
@given(caller=FACTOR_CALLERS, target=FACTOR_IDS, label=LABELS)
async def test_rename_factor(world, caller, target, label):
    factor_id = _factor_id(world, target)
    kims = same_id(factor_id, world.admin_factor_id)
    # Kim, recently verified, naming her own factor: that is the flow, not hostile input.
    assume(not (caller == "admin_session" and kims and not isinstance(clean_label(label), InvalidInput)))
    verified_at = (await Session.get(token_hash=hash_token(world.live["admin_session"]))).verified_at
    bearer = await _factor_caller(world, caller)

    response = await world.send(RENAME_FACTOR, {"id": factor_id, "label": label}, bearer=bearer)
    result = typed(response, "renameFactor", members("renameFactor"))

    refusal = _refusal_of(caller, restricted="AuthenticationRequired")
    if refusal is not None:
        assert _answer(result) == refusal, result
    elif isinstance(clean_label(label), InvalidInput):
        assert (result["__typename"], result["field"]) == ("InvalidInput", "label"), result
    else:
        # Malformed, unknown or another's: one answer (ids tell nothing about other accounts).
        assert (result["__typename"], result["field"]) == ("InvalidInput", "id"), result
    await _fresh_again(world, verified_at)
    await world.unchanged()


@HOSTILE
@given(caller=FACTOR_CALLERS, target=FACTOR_IDS)
async def test_remove_factor(world, caller, target):
    factor_id = _factor_id(world, target)
    verified_at = (await Session.get(token_hash=hash_token(world.live["admin_session"]))).verified_at
    bearer = await _factor_caller(world, caller)

    result = typed(
        await world.send(REMOVE_FACTOR, {"id": factor_id}, bearer=bearer), "removeFactor", members("removeFactor")
    )

    refusal = _refusal_of(caller, restricted="AuthenticationRequired")
    if refusal is not None:
        assert _answer(result) == refusal, result
    elif same_id(factor_id, world.admin_factor_id):
        # R9: Kim's only factor stays, however its id is spelt.
        assert result["__typename"] == "LastFactor"
    else:
        assert (result["__typename"], result["field"]) == ("InvalidInput", "id"), result
    await _fresh_again(world, verified_at)
    await world.unchanged()


@HOSTILE
@given(email=EMAILS)
async def test_request_password_reset(world, email):
    # R16: any address that is not a world account's gets the one answer, or InvalidInput when it is no
    # address at all, and nothing is written or sent (the world's own addresses would get their link).
    not_an_alias(email)

    result = typed(
        await world.send(REQUEST_PASSWORD_RESET, {"email": email}),
        "requestPasswordReset",
        {"PasswordResetRequested", "InvalidInput"},
    )

    if result["__typename"] == "InvalidInput":
        assert result["field"] == "email"
    await world.unchanged()


@HOSTILE
@given(session=st.sampled_from([None, *SESSIONS]) | mangled(*SESSIONS), method=METHODS, code=CODES)
async def test_reauthenticate(world, session, method, code):
    # R14: a wrong code counts as at login (the session's step-up budget, the user's lockout), which is
    # put back after each example; nothing else changes, and no code but a right one steps up.
    not_a_right_code(world, code)
    bearer = world.token(session, header=True) if isinstance(session, Mangled) else world.live.get(session or "")

    result = typed(
        await world.send(REAUTHENTICATE, {"method": method, "code": code}, bearer=bearer),
        "reauthenticate",
        {"InvalidCode", "MethodNotAvailable", "AuthenticationRequired"},
    )

    if session != "admin_session":
        # No session, a damaged one, Pat's restricted one (R10) or a password user's: nothing to step up.
        assert result["__typename"] in {"AuthenticationRequired", "MethodNotAvailable"}
    elif method in {"totp", "recovery_code"}:
        assert result["__typename"] == "InvalidCode"
    else:
        assert result["__typename"] == "MethodNotAvailable"
    await _reset_step_up(world)
    await world.unchanged()


@HOSTILE
@given(session=st.sampled_from([None, *SESSIONS]) | mangled(*SESSIONS), method=METHODS)
async def test_begin_reauthentication(world, session, method):
    # R14: only a two-factor session's own challenge-response method gets a challenge; the world has none.
    bearer = world.token(session, header=True) if isinstance(session, Mangled) else world.live.get(session or "")

    result = typed(
        await world.send(BEGIN_REAUTHENTICATION, {"method": method}, bearer=bearer),
        "beginReauthentication",
        {"ChallengeExpired", "MethodNotAvailable"},
    )

    if session != "admin_session":
        assert result["__typename"] == "ChallengeExpired"
    await world.unchanged()


@HOSTILE
@given(session=st.sampled_from([None, *SESSIONS]) | mangled(*SESSIONS), method=METHODS)
async def test_send_reauthentication_code(world, session, method):
    # R14: only a two-factor session's own delivering method gets a code; the world's admin has TOTP only.
    bearer = world.token(session, header=True) if isinstance(session, Mangled) else world.live.get(session or "")

    result = typed(
        await world.send(SEND_REAUTHENTICATION_CODE, {"method": method}, bearer=bearer),
        "sendReauthenticationCode",
        {"ChallengeExpired", "MethodNotAvailable"},
    )

    if session != "admin_session":
        assert result["__typename"] == "ChallengeExpired"
    await world.unchanged()


def _passes_s2(password: str) -> bool:
    """Whether S2/S31 let `password` be set."""
    try:
        check_new_password(password)
    except PasswordRejected:
        return False
    return True


def _is_password(typed: str) -> bool:
    """Whether `typed` is the world's PASSWORD (after NFKC, as it is checked, S31)."""
    return normalize_password(typed) == normalize_password(PASSWORD)


@HOSTILE
@given(
    authorization=st.one_of(
        st.none(),
        st.binary(max_size=200),
        st.builds(b"Bearer ".__add__, st.binary(max_size=200)),
        mangled(*SESSIONS),
        st.sampled_from(["pending_session", "other_session"]).map(lambda name: f"live:{name}".encode()),
    ),
)
async def test_regenerate_recovery_codes(world, authorization):
    # R15, R14: no session, a damaged one, Pat's restricted one (R10) and a password user's replace nothing.
    # (The admin's two-factor session is left out: its second factor is recent, so its codes would be
    # replaced by design; tests/test_my_factors.py covers it, stale and fresh.)
    if isinstance(authorization, bytes) and authorization.startswith(b"live:"):
        authorization = f"Bearer {world.live[authorization[5:].decode()]}".encode()
    headers = _session_headers(world, authorization, None)
    note(f"headers: {headers!r}")

    response = await world.post(json.dumps({"query": REGENERATE_RECOVERY_CODES}), headers)

    typed(response, "regenerateRecoveryCodes", {"AuthenticationRequired", "ReauthenticationRequired"})
    await world.unchanged()


async def _reset_step_up(world) -> None:
    """Put back what a wrong step-up code counts by design (R14: the session's budget, the step-up token,
    and the user's S6/S41 counters)."""
    await Session.filter(token_hash=hash_token(world.live["admin_session"])).update(step_up_failures=0)
    await Token.filter(purpose=TokenPurpose.REAUTHENTICATION).delete()
    await User.filter(id=world.admin_id).update(
        failed_code_attempts=0, code_lockouts=0, code_locked_until=None, code_failure_streak=0
    )


@HOSTILE
@given(
    session=either(st.sampled_from(SESSIONS), st.none() | mangled(*SESSIONS)),
    current=either(st.just(PASSWORD), PASSWORD_TEXT),
    new=either(st.text(min_size=12, max_size=40), PASSWORD_TEXT),
)
@example(session="other_session", current=PASSWORD, new="\uff43orrect horse battery")
@example(session="other_session", current="x" * 1025, new="a fine new passphrase")
@example(session="other_session", current="wrong", new=PASSWORD)
async def test_change_password(world, session, current, new):
    # What reaches the service (U+0000 is sent as U+0001, world.send).
    current, new = current.replace("\x00", "\x01"), new.replace("\x00", "\x01")
    # R16: the right current password and another acceptable one change the password: the flow, not hostile.
    assume(not (_is_password(current) and _passes_s2(new) and not _is_password(new)))
    bearer = world.token(session, header=True) if isinstance(session, Mangled) else world.live.get(session or "")
    try:
        result = typed(
            await world.send(CHANGE_PASSWORD, {"currentPassword": current, "newPassword": new}, bearer=bearer),
            "changePassword",
            {"AuthenticationRequired", "ReauthenticationRequired", "InvalidInput", "InvalidCredentials"},
        )
    finally:
        # A wrong current password counts toward the lockout by design (S4); put the rounds back.
        await User.filter(id__in=[world.admin_id, world.other_user_id]).update(
            failed_password_attempts=0, password_lockouts=0, password_locked_until=None
        )

    if session is None or isinstance(session, Mangled) or session == "pending_session":
        # Pat's session is restricted by enforcement (R10).
        assert result["__typename"] == "AuthenticationRequired"
    elif result["__typename"] == "ReauthenticationRequired":
        # Kim's step-up window may have passed while the examples ran.
        assert session == "admin_session" and result["methods"] == ["totp", "recovery_code"]
    elif not _passes_s2(new) or _is_password(current):
        # A refused new password is answered before the current one is looked at; with the right current
        # one, the only new password left is the same one again.
        assert (result["__typename"], result["field"]) == ("InvalidInput", "newPassword")
    else:
        assert result["__typename"] == "InvalidCredentials"
    await world.unchanged()


@HOSTILE
@given(session=either(st.sampled_from(SESSIONS), st.none() | mangled(*SESSIONS)), email=EMAILS)
@example(session="admin_session", email=ADMIN.upper())
@example(session="admin_session", email=OTHER)
@example(session="admin_session", email="kim.new@acme.example")
async def test_request_email_change(world, session, email):
    # R13: from Kim's stepped-up session a usable address gets the answer of every address (a link, or a
    # notice to its owner when it is a world account's) and Kim's own address a notice; anything else is
    # InvalidInput. The test undoes what a usable address writes, so that the next example starts alike.
    bearer = world.token(session, header=True) if isinstance(session, Mangled) else world.live.get(session or "")
    kim_session = Session.filter(token_hash=hash_token(world.live["admin_session"]))
    verified_at = (await kim_session.get()).verified_at
    await kim_session.update(verified_at=utcnow())
    mail_before = len(world.mailbox.messages)
    outbox_before = set(await MailOutbox.all().values_list("id", flat=True))
    try:
        result = typed(
            await world.send(REQUEST_EMAIL_CHANGE, {"newEmail": email}, bearer=bearer),
            "requestEmailChange",
            members("requestEmailChange") - {"TooManyAttempts"},
        )
        address = normalize_email(email.replace("\x00", "\x01")[: MAX_EMAIL_LENGTH + 1])
        if session is None or isinstance(session, Mangled) or session == "pending_session":
            assert result["__typename"] == "AuthenticationRequired"
        elif session == "other_session":
            # Paula signs in with a password: she changes her address by converting (R8).
            assert (result["__typename"], result["methods"]) == ("ReauthenticationRequired", [])
        elif not looks_like_email(address) or address == ADMIN:
            assert (result["__typename"], result["field"]) == ("InvalidInput", "newEmail")
        else:
            assert result["__typename"] == "EmailChangeRequested", result
            to_new = "email_change_address_in_use" if address in FIXTURE_EMAILS else "email_change"
            await mail_settled()
            sent = world.mailbox.messages[mail_before:]
            assert {(m["To"], m["X-Gql-Template"]) for m in sent} == {
                (address, to_new),
                (ADMIN, "notice_email_change_requested"),
            }
    finally:
        await mail_settled()
        del world.mailbox.messages[mail_before:]
        await MailOutbox.exclude(id__in=list(outbox_before)).delete()
        purposes = (TokenPurpose.EMAIL_CHANGE, TokenPurpose.REPORT_CHANGE)
        await Token.filter(user_id=world.admin_id, purpose__in=purposes).delete()
        await kim_session.update(verified_at=verified_at)
    await world.unchanged()


@HOSTILE
@given(token=tokens(*ALL_TOKENS))
async def test_confirm_email_change(world, token):
    # R13: only a live link mailed to a new address changes one; none of the world's tokens is one.
    result = typed(
        await world.send(CONFIRM_EMAIL_CHANGE, {"token": world.token(token)}),
        "confirmEmailChange",
        {"ChallengeExpired"},
    )

    assert result["message"]
    await world.unchanged()


@HOSTILE
@given(token=tokens(*ALL_TOKENS), new_password=PASSWORD_TEXT)
async def test_reset_password(world, token, new_password):
    # R16: no link but a live reset link sets a password: every other token (a session, a challenge, an
    # invitation, an enrollment), damaged or not, and any text is an unknown link, and nothing changes.
    result = typed(
        await world.send(RESET_PASSWORD, {"token": world.token(token), "newPassword": new_password}),
        "resetPassword",
        {"ChallengeExpired"},
    )

    assert result["__typename"] == "ChallengeExpired"
    await world.unchanged()


@HOSTILE
@given(token=tokens(*ALL_TOKENS))
async def test_report_unrecognized_change(world, token):
    # R13: only a live "this wasn't me" link ends sessions and locks a password; the world's other tokens,
    # damaged or not, and any text are unknown links, and nothing changes.
    result = typed(
        await world.send(REPORT_UNRECOGNIZED_CHANGE, {"token": world.token(token)}),
        "reportUnrecognizedChange",
        {"ChallengeExpired"},
    )

    assert result["__typename"] == "ChallengeExpired"
    await world.unchanged()


# --- R19, R20: what customer admins do, and accepting invitations -------------------------------------

CALLERS = st.sampled_from([None, "admin_session", "other_session", "pending_session"]) | mangled(*SESSIONS)
# A customer id: Acme's or Other's in some spelling, a random id, or any text.
CUSTOMER_IDS = st.one_of(
    HOSTILE_TEXT,
    st.uuids().map(str),
    st.builds(lambda which, i: (which, i), st.sampled_from(["acme", "other"]), st.integers(0, 7)),
)
# A user id: Kim's (Acme's only admin), Pat's (pending), Eve's (a new account), Paula's (Other's) in some
# spelling, a random id, or any text.
USER_IDS = st.one_of(
    HOSTILE_TEXT,
    st.uuids().map(str),
    st.builds(lambda who, i: (who, i), st.sampled_from(["admin", "pending", "new", "other"]), st.integers(0, 7)),
)
LEVELS = st.sampled_from(["CUSTOMER", "COMPANY"])


def _spelled(world, value: object, real: dict[str, str]) -> str:
    if not isinstance(value, tuple):
        return str(value)
    which, index = value
    spellings = [real[which], *uuid_spellings(real[which])]
    return spellings[index % len(spellings)]


async def _ids(world) -> dict[str, str]:
    new = await User.get(email=NEW)
    return {
        "acme": world.acme_id,
        "other": world.other_id,
        "admin": world.admin_id,
        "pending": world.pending_id,
        "new": str(new.id),
        "other_user": world.other_user_id,
    }


def _who(ids: dict[str, str], user: str) -> str | None:
    """Which of the world's users an id names, if any."""
    return next((name for name in ("admin", "pending", "new", "other_user") if same_id(user, ids[name])), None)


def _bearer(world, session):
    return world.token(session, header=True) if isinstance(session, Mangled) else world.live.get(session or "")


def _refused_caller(result, session, admin_of_acme: bool) -> bool:
    """The answer to anyone but Acme's admin acting on Acme: True when it was checked here."""
    if session is None or isinstance(session, Mangled) or session == "pending_session":
        # No session, a damaged one, or one that may only convert (R10: Acme enforces, Pat has not converted).
        assert result["__typename"] == "AuthenticationRequired"
        return True
    if not admin_of_acme:
        # Paula is Other's COMPANY-level member; Kim is no member of Other; unknown customers alike.
        assert result["__typename"] == "PermissionDenied"
        return True
    return False


@HOSTILE
@given(
    session=CALLERS,
    customer=CUSTOMER_IDS,
    email=EMAILS | st.sampled_from([ADMIN, PENDING, NEW, OTHER]),
    level=LEVELS,
    locale=st.none() | st.sampled_from(LOCALES) | HOSTILE_TEXT,
    login_method=st.none() | st.sampled_from(["PASSWORD", "TWO_FACTOR"]),
)
async def test_invite_user(world, session, customer, email, level, locale, login_method):
    ids = await _ids(world)
    customer = _spelled(world, customer, {"acme": world.acme_id, "other": world.other_id})
    admin_of_acme = session == "admin_session" and same_id(customer, world.acme_id)
    address = normalize_email(email[: MAX_EMAIL_LENGTH + 1])
    bad_email = len(address) > MAX_EMAIL_LENGTH or not looks_like_email(address) or address in {ADMIN, PENDING, NEW}
    bad_locale = locale is not None and locale not in LOCALES
    # Acme enforces two factors: no new password accounts (R19).
    bad_method = login_method == "PASSWORD"
    if admin_of_acme:
        # Kim may invite to Acme: only input that is refused is hostile here (a member already included).
        assume(bad_email or bad_locale or bad_method)
    variables = {
        "customerId": customer,
        "email": email,
        "level": level,
        "locale": locale,
        "loginMethod": login_method,
    }

    result = typed(
        await world.send(INVITE_USER, variables, bearer=_bearer(world, session)), "inviteUser", members("inviteUser")
    )

    if not _refused_caller(result, session, admin_of_acme):
        field = "email" if (bad_email and not looks_like_email(address)) or len(address) > MAX_EMAIL_LENGTH else None
        field = field or ("locale" if bad_locale else "loginMethod" if bad_method else "email")
        assert (result["__typename"], result["field"]) == ("InvalidInput", field)
    assert ids == await _ids(world)
    await world.unchanged()


@HOSTILE
@given(session=CALLERS, customer=CUSTOMER_IDS, user=USER_IDS)
async def test_resend_invitation(world, session, customer, user):
    ids = await _ids(world)
    customer = _spelled(world, customer, ids)
    user = _spelled(world, user, ids)
    admin_of_acme = session == "admin_session" and same_id(customer, world.acme_id)
    if admin_of_acme:
        # Pat's and Eve's invitations Kim may send again; everyone else has none to re-send.
        assume(_who(ids, user) not in {"pending", "new"})

    result = typed(
        await world.send(RESEND_INVITATION, {"customerId": customer, "userId": user}, bearer=_bearer(world, session)),
        "resendInvitation",
        members("resendInvitation"),
    )

    if not _refused_caller(result, session, admin_of_acme):
        assert (result["__typename"], result["field"]) == ("InvalidInput", "userId")
    await world.unchanged()


@HOSTILE
@given(session=CALLERS, customer=CUSTOMER_IDS, user=USER_IDS)
async def test_remove_member(world, session, customer, user):
    ids = await _ids(world)
    customer = _spelled(world, customer, ids)
    user = _spelled(world, user, ids)
    admin_of_acme = session == "admin_session" and same_id(customer, world.acme_id)
    who = _who(ids, user)
    if admin_of_acme:
        # Kim may remove Pat and Eve; Kim herself is Acme's last administrator.
        assume(who not in {"pending", "new"})

    result = typed(
        await world.send(REMOVE_MEMBER, {"customerId": customer, "userId": user}, bearer=_bearer(world, session)),
        "removeMember",
        members("removeMember"),
    )

    if not _refused_caller(result, session, admin_of_acme):
        if who == "admin":
            assert result["__typename"] == "LastAdministrator"
        else:
            assert (result["__typename"], result["field"]) == ("InvalidInput", "userId")
    await world.unchanged()


@HOSTILE
@given(session=CALLERS, customer=CUSTOMER_IDS, user=USER_IDS, level=LEVELS)
async def test_set_member_level(world, session, customer, user, level):
    ids = await _ids(world)
    customer = _spelled(world, customer, ids)
    user = _spelled(world, user, ids)
    admin_of_acme = session == "admin_session" and same_id(customer, world.acme_id)
    who = _who(ids, user)
    if admin_of_acme:
        # Kim may change Pat's and Eve's levels (COMPANY now); Kim stays Acme's administrator.
        assume(who not in {"pending", "new"} or level == "COMPANY")

    result = typed(
        await world.send(
            SET_MEMBER_LEVEL, {"customerId": customer, "userId": user, "level": level}, bearer=_bearer(world, session)
        ),
        "setMemberLevel",
        members("setMemberLevel"),
    )

    if not _refused_caller(result, session, admin_of_acme):
        if who == "admin" and level == "COMPANY":
            assert result["__typename"] == "LastAdministrator"
        elif who is not None and who != "other_user":
            # The level it has already: nothing to change.
            assert result["__typename"] == "MemberUpdated"
        else:
            assert (result["__typename"], result["field"]) == ("InvalidInput", "userId")
    await world.unchanged()


@HOSTILE
@given(session=CALLERS, customer=CUSTOMER_IDS, user=USER_IDS)
async def test_send_password_reset(world, session, customer, user):
    ids = await _ids(world)
    customer = _spelled(world, customer, ids)
    user = _spelled(world, user, ids)
    admin_of_acme = session == "admin_session" and same_id(customer, world.acme_id)
    if admin_of_acme:
        # Pat is a password member of Acme alone: Kim may send her a link. Kim and Eve are two-factor (R9).
        assume(_who(ids, user) != "pending")

    result = typed(
        await world.send(SEND_PASSWORD_RESET, {"customerId": customer, "userId": user}, bearer=_bearer(world, session)),
        "sendPasswordReset",
        members("sendPasswordReset"),
    )

    if not _refused_caller(result, session, admin_of_acme):
        assert (result["__typename"], result["field"]) == ("InvalidInput", "userId")
    await world.unchanged()


@HOSTILE
@given(session=st.sampled_from([None, *SESSIONS]) | mangled(*SESSIONS), token=tokens(*ALL_TOKENS))
async def test_accept_invitation(world, session, token):
    # R19, R20: only a live JOIN_CUSTOMER or LINK_ACCOUNT link, from the named account's session, does
    # anything; none of the world's tokens (an enrollment invitation included) is one.
    result = typed(
        await world.send(ACCEPT_INVITATION, {"invitation": world.token(token)}, bearer=_bearer(world, session)),
        "acceptInvitation",
        {"AuthenticationRequired", "ChallengeExpired"},
    )

    expected = "AuthenticationRequired" if session is None or isinstance(session, Mangled) else "ChallengeExpired"
    assert result["__typename"] == expected
    await world.unchanged()


def _session_headers(world, authorization: bytes | Mangled | None, cookie: bytes | None) -> dict[str, bytes]:
    """The Authorization (raw bytes, or a damaged session token) and Cookie headers of a request; examples
    whose headers hold a line break are skipped (no HTTP client can send them)."""
    headers: dict[str, bytes] = {}
    if isinstance(authorization, Mangled):
        headers["authorization"] = b"Bearer " + world.token(authorization, header=True).encode("utf-8")
    elif authorization is not None:
        headers["authorization"] = authorization
    if cookie is not None:
        headers["cookie"] = cookie
    assume(b"\r" not in b"".join(headers.values()) and b"\n" not in b"".join(headers.values()))
    return headers


def test_every_mutation_of_the_schema_has_its_property():
    # A new mutation comes with its hostile-input property here, named after it (issue 14's rule).
    named = {re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), f) for f in SCHEMA.mutation_type.fields}
    missing = sorted(name for name in named if not callable(globals().get(f"test_{name}")))

    assert missing == []
