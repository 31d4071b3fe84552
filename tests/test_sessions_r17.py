"""R17: a user sees their live sessions (created, last seen, address, browser, assurance, which is this
one) and ends one or all the others; a restricted session (R10, S30) sees and ends nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx

from gql_server.api.context import SESSION_COOKIE
from gql_server.audit import AuditKind
from gql_server.clock import utcnow
from gql_server.enums import Assurance, MembershipLevel, TokenPurpose
from gql_server.limits import RESET_LIFETIME, SESSION_USER_AGENT_MAX_LENGTH
from gql_server.models import AuditEvent, Customer, Session, User
from gql_server.sessions import create_session
from gql_server.tokens import hash_token, issue_token

from .flows import PASSWORD, challenge, convert, totp_code, verify
from .graphql import GraphQLClient, operation

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Safari/604.1"

Browser = Callable[[str, str], Any]


@asynccontextmanager
async def _browser(app: Any, address: str, user_agent: str) -> AsyncIterator[GraphQLClient]:
    """A second client: its own address, User-Agent and cookie jar."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    headers = {"User-Agent": user_agent}
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers) as http:
        yield GraphQLClient(http)


async def _sessions(client: GraphQLClient, token: str) -> list[dict[str, Any]] | None:
    viewer = (await client.run("Sessions", bearer=token))["viewer"]
    return None if viewer is None else list(viewer["sessions"])


async def _two_logins(app: Any, client: GraphQLClient, email: str) -> tuple[str, str]:
    """A login from the test's client (Firefox) and one from a phone elsewhere; both tokens."""
    client.http.headers["User-Agent"] = FIREFOX
    here = await client.login_token(email, PASSWORD)
    async with _browser(app, "198.51.100.23", PHONE) as phone:
        there = await phone.login_token(email, PASSWORD)
    return here, there


async def _password_user(make_customer: Callable[..., Awaitable[Customer]], make_user: Any, email: str) -> User:
    user: User = await make_user(await make_customer("Open Oy"), email, PASSWORD, MembershipLevel.COMPANY)
    return user


async def test_r17_the_viewer_lists_each_live_session_with_its_client(app, client, make_customer, make_user):
    await _password_user(make_customer, make_user, "anna@example.com")
    before = utcnow()
    here, there = await _two_logins(app, client, "anna@example.com")

    listed = await _sessions(client, here)

    assert listed is not None
    assert len(listed) == 2
    mine = {s["current"]: s for s in listed}
    assert (mine[True]["ipAddress"], mine[True]["userAgent"]) == ("203.0.113.7", FIREFOX)
    assert (mine[False]["ipAddress"], mine[False]["userAgent"]) == ("198.51.100.23", PHONE)
    for shown in listed:
        assert shown["assurance"] == "PASSWORD"
        assert shown["createdAt"] >= before.isoformat()[:19]
        assert shown["lastSeenAt"] >= shown["createdAt"]
        assert shown["expiresAt"] > shown["lastSeenAt"]
    # The same list from the other session, with the other one current.
    other_view = await _sessions(client, there)
    assert other_view is not None
    assert {s["id"]: s["current"] for s in other_view} == {s["id"]: not s["current"] for s in listed}


async def test_r17_ended_expired_and_idle_sessions_are_not_listed(app, client, services, make_customer, make_user):
    anna = await _password_user(make_customer, make_user, "anna@example.com")
    here, _ = await _two_logins(app, client, "anna@example.com")
    user = await User.get(id=anna.id)
    ended = await create_session(user, Assurance.PASSWORD, services.sessions)
    await Session.filter(id=ended.session.id).update(ended_at=utcnow())
    expired = await create_session(user, Assurance.PASSWORD, services.sessions)
    await Session.filter(id=expired.session.id).update(expires_at=utcnow() - timedelta(seconds=1))
    idle = await create_session(user, Assurance.PASSWORD, services.sessions)
    await Session.filter(id=idle.session.id).update(last_seen_at=utcnow() - services.sessions.idle)

    listed = await _sessions(client, here)

    assert listed is not None
    assert len(listed) == 2
    gone = {str(ended.session.id), str(expired.session.id), str(idle.session.id)}
    assert not gone & {s["id"] for s in listed}


async def test_r17_a_long_user_agent_is_cut_to_its_bound(app, make_customer, make_user):
    await _password_user(make_customer, make_user, "anna@example.com")
    async with _browser(app, "198.51.100.24", "x" * (SESSION_USER_AGENT_MAX_LENGTH + 100)) as browser:
        token = await browser.login_token("anna@example.com", PASSWORD)
        listed = await _sessions(browser, token)

    assert listed is not None
    assert listed[0]["userAgent"] == "x" * SESSION_USER_AGENT_MAX_LENGTH


async def test_r17_a_two_factor_login_and_a_conversion_record_the_client(
    app, client, mailbox, make_customer, make_user
):
    acme = await make_customer("Acme Oy", enforce=True)
    await make_user(acme, "anna@example.com", PASSWORD)
    client.http.headers["User-Agent"] = FIREFOX
    converted = await convert(client, mailbox, "anna@example.com")
    async with _browser(app, "2001:db8::17", PHONE) as phone:
        result = await verify(
            phone, await challenge(phone, "anna@example.com"), "totp", totp_code(converted.secret or "", 1)
        )
    assert result["__typename"] == "LoginSuccess", result

    listed = await _sessions(client, converted.token)

    assert listed is not None
    shown = {(s["current"], s["assurance"], s["ipAddress"], s["userAgent"]) for s in listed}
    assert shown == {
        (True, "TWO_FACTOR", "203.0.113.7", FIREFOX),  # enrollment completion (confirmEnrollment)
        (False, "TWO_FACTOR", "2001:db8::17", PHONE),  # verifySecondFactor
    }


async def test_r17_a_password_reset_session_records_the_client(app, make_customer, make_user):
    anna = await _password_user(make_customer, make_user, "anna@example.com")
    reset = await issue_token(anna, TokenPurpose.PASSWORD_RESET, RESET_LIFETIME)

    async with _browser(app, "198.51.100.25", PHONE) as phone:
        answer = (await phone.run("ResetPassword", token=reset.token, newPassword="a brand new passphrase"))[
            "resetPassword"
        ]
        assert answer["__typename"] == "LoginSuccess", answer
        listed = await _sessions(phone, answer["token"])

    assert listed is not None
    assert [(s["ipAddress"], s["userAgent"]) for s in listed] == [("198.51.100.25", PHONE)]


async def test_r17_ending_an_own_other_session(app, client, make_customer, make_user):
    anna = await _password_user(make_customer, make_user, "anna@example.com")
    here, there = await _two_logins(app, client, "anna@example.com")
    other_id = str((await Session.get(token_hash=hash_token(there))).id)

    assert (await client.run("EndSession", bearer=here, id=other_id))["endSession"] is True

    # That session reads nothing from now on; this one goes on, and lists only itself.
    assert (await client.run("Viewer", bearer=there))["viewer"] is None
    listed = await _sessions(client, here)
    assert listed is not None
    assert [s["current"] for s in listed] == [True]
    # Ending it again is no longer possible.
    assert (await client.run("EndSession", bearer=here, id=other_id))["endSession"] is False
    events = await AuditEvent.filter(kind=AuditKind.SESSION_ENDED.value)
    assert [(e.subject_id, e.actor_id, e.data) for e in events] == [
        (anna.id, anna.id, {"session": other_id, "current": False, "ip": "203.0.113.7"})
    ]


async def test_r17_another_users_session_or_a_malformed_id_is_false_and_changes_nothing(
    app, client, make_customer, make_user
):
    await _password_user(make_customer, make_user, "anna@example.com")
    await _password_user(make_customer, make_user, "bert@example.com")
    anna_token = await client.login_token("anna@example.com", PASSWORD)
    bert_token = await client.login_token("bert@example.com", PASSWORD)
    bert_id = str((await Session.get(token_hash=hash_token(bert_token))).id)

    for wrong in (bert_id, bert_id.upper(), "not-an-id", "", "00000000-0000-0000-0000-000000000000", "\u00e4" * 300):
        assert (await client.run("EndSession", bearer=anna_token, id=wrong))["endSession"] is False, wrong

    assert (await client.run("Viewer", bearer=bert_token))["viewer"] is not None
    assert await Session.filter(ended_at__isnull=False).count() == 0
    assert not await AuditEvent.filter(kind=AuditKind.SESSION_ENDED.value).exists()


async def test_r17_end_other_sessions_keeps_only_the_current_one(app, client, make_customer, make_user):
    anna = await _password_user(make_customer, make_user, "anna@example.com")
    here, there = await _two_logins(app, client, "anna@example.com")
    third = await client.login_token("anna@example.com", PASSWORD)
    bert = await _password_user(make_customer, make_user, "bert@example.com")
    bert_token = await client.login_token("bert@example.com", PASSWORD)

    assert (await client.run("EndOtherSessions", bearer=here))["endOtherSessions"] == 2

    # An old session ended this way reads nothing; the current one and other users' sessions go on.
    assert (await client.run("Viewer", bearer=there))["viewer"] is None
    assert (await client.run("Viewer", bearer=third))["viewer"] is None
    assert (await client.run("Viewer", bearer=here))["viewer"]["user"]["email"] == "anna@example.com"
    assert (await client.run("Viewer", bearer=bert_token))["viewer"]["user"]["email"] == bert.email
    assert (await client.run("EndOtherSessions", bearer=here))["endOtherSessions"] == 0
    events = await AuditEvent.filter(kind=AuditKind.OTHER_SESSIONS_ENDED.value)
    assert [(e.subject_id, e.actor_id, e.data) for e in events] == [
        (anna.id, anna.id, {"sessions": 2, "ip": "203.0.113.7"})
    ]


async def test_r17_without_a_session_nothing_is_ended(app, client, make_customer, make_user):
    await _password_user(make_customer, make_user, "anna@example.com")
    token = await client.login_token("anna@example.com", PASSWORD)
    session_id = str((await Session.get(token_hash=hash_token(token))).id)
    client.forget_cookies()

    assert (await client.run("EndSession", id=session_id))["endSession"] is False
    assert (await client.run("EndOtherSessions"))["endOtherSessions"] == 0
    assert (await client.run("Sessions"))["viewer"] is None
    assert (await client.run("Viewer", bearer=token))["viewer"] is not None


async def test_r17_a_restricted_session_lists_and_ends_nothing(app, client, make_customer, make_user):
    # R10: the customer starts enforcing while Anna holds two one-factor sessions; S30: such a session
    # reads nothing beyond `viewer` itself, so it neither sees nor ends sessions.
    acme = await make_customer("Acme Oy")
    await make_user(acme, "anna@example.com", PASSWORD)
    here, there = await _two_logins(app, client, "anna@example.com")
    there_id = str((await Session.get(token_hash=hash_token(there))).id)
    await Customer.filter(id=acme.id).update(enforce_two_factor=True)

    assert await _sessions(client, here) == []
    assert (await client.run("EndSession", bearer=here, id=there_id))["endSession"] is False
    assert (await client.run("EndOtherSessions", bearer=here))["endOtherSessions"] == 0

    assert (await client.run("Viewer", bearer=there))["viewer"]["requirement"] == "CONVERSION"
    assert await Session.filter(ended_at__isnull=False).count() == 0
    kinds = {AuditKind.SESSION_ENDED.value, AuditKind.OTHER_SESSIONS_ENDED.value}
    assert not await AuditEvent.filter(kind__in=kinds).exists()


async def test_r17_ending_the_current_session_by_id_signs_this_browser_out(app, client, make_customer, make_user):
    await _password_user(make_customer, make_user, "anna@example.com")
    token = await client.login_token("anna@example.com", PASSWORD)
    listed = await _sessions(client, token)
    assert listed is not None
    current = next(s["id"] for s in listed if s["current"])

    response = await client.post(operation("EndSession"), {"id": current}, bearer=token)

    assert response.json()["data"]["endSession"] is True
    # As logout does (S18, S19): the session is over server-side, and the browser's cookie goes with it.
    cleared = response.headers["set-cookie"]
    assert cleared.startswith(f"{SESSION_COOKIE}=") and "Max-Age=0" in cleared
    assert (await client.run("Viewer", bearer=token))["viewer"] is None
