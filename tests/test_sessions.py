"""Sessions: S16 (tokens), S17 (expiry), S18 (logout), S19 (cookie)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gql_server.api.context import SESSION_COOKIE
from gql_server.clock import utcnow
from gql_server.models import AuditEvent, Session
from gql_server.tokens import hash_token

from .graphql import operation

PASSWORD = "correct horse battery"


@pytest.fixture
async def anna(make_customer, make_user):
    return await make_user(await make_customer(), "anna@example.com", PASSWORD)


async def test_s16_session_tokens_are_random_new_each_login_and_stored_hashed(client, anna):
    first = await client.login_token("anna@example.com", PASSWORD)
    second = await client.login_token("anna@example.com", PASSWORD)

    assert first != second
    assert len(first) >= 43  # 32 random bytes in URL-safe base64
    stored = await Session.filter(user_id=anna.id).values_list("token_hash", flat=True)
    assert sorted(stored) == sorted([hash_token(first), hash_token(second)])
    assert first not in stored


async def test_s16_bearer_header_and_cookie_both_carry_the_session(client, anna):
    token = await client.login_token("anna@example.com", PASSWORD)

    with_cookie = (await client.run("Viewer"))["viewer"]
    client.forget_cookies()
    anonymous = (await client.run("Viewer"))["viewer"]
    with_bearer = (await client.run("Viewer", bearer=token))["viewer"]

    assert with_cookie["user"]["email"] == with_bearer["user"]["email"] == "anna@example.com"
    assert anonymous is None
    assert (await client.run("Viewer", bearer="not-a-token"))["viewer"] is None


async def test_s17_idle_timeout_ends_a_session(client, anna):
    token = await client.login_token("anna@example.com", PASSWORD)
    await Session.filter(user_id=anna.id).update(last_seen_at=utcnow() - timedelta(minutes=31))

    assert (await client.run("Viewer", bearer=token))["viewer"] is None


async def test_s17_use_keeps_a_session_alive_and_moves_its_expiry(client, anna):
    token = await client.login_token("anna@example.com", PASSWORD)
    await Session.filter(user_id=anna.id).update(last_seen_at=utcnow() - timedelta(minutes=29))

    viewer = (await client.run("Viewer", bearer=token))["viewer"]

    assert viewer is not None
    session = await Session.get(user_id=anna.id)
    assert utcnow() - session.last_seen_at < timedelta(seconds=5)


async def test_s17_absolute_timeout_ends_even_a_busy_session(client, anna):
    token = await client.login_token("anna@example.com", PASSWORD)
    session = await Session.get(user_id=anna.id)
    assert session.expires_at - session.created_at == timedelta(hours=12)
    await Session.filter(id=session.id).update(expires_at=utcnow() - timedelta(seconds=1))

    assert (await client.run("Viewer", bearer=token))["viewer"] is None


async def test_s17_session_reports_the_earlier_of_idle_and_absolute_expiry(client, anna):
    result = await client.login("anna@example.com", PASSWORD)

    session = await Session.get(user_id=anna.id)
    reported = result["session"]["expiresAt"]
    assert reported == (session.last_seen_at + timedelta(minutes=30)).isoformat()


async def test_s18_logout_ends_the_session_server_side(client, anna):
    token = await client.login_token("anna@example.com", PASSWORD)

    response = await client.post(operation("Logout"), bearer=token)

    assert response.json()["data"]["logout"] is True
    assert (await Session.get(user_id=anna.id)).ended_at is not None
    assert (await client.run("Viewer", bearer=token))["viewer"] is None
    assert (await client.run("Logout", bearer=token))["logout"] is False
    cleared = response.headers["set-cookie"]
    assert cleared.startswith(f"{SESSION_COOKIE}=") and "Max-Age=0" in cleared


async def test_ending_every_session_signs_everyone_out_and_is_audited(client, anna, operator, make_customer, make_user):
    await make_user(await make_customer("Beta Oy"), "bea@example.com", PASSWORD)
    tokens = [await client.login_token(email, PASSWORD) for email in ("anna@example.com", "bea@example.com")]
    await client.run("Logout", bearer=tokens[0])  # already ended: not counted again

    ended = await operator.end_all_sessions()

    assert ended == 1
    assert [(await client.run("Viewer", bearer=token))["viewer"] for token in tokens] == [None, None]
    assert await Session.filter(ended_at=None).count() == 0
    event = await AuditEvent.filter(kind="sessions_ended").get()
    assert event.data == {"sessions": 1}
    # A new login works as before.
    assert (await client.run("Viewer", bearer=await client.login_token("anna@example.com", PASSWORD)))["viewer"]


async def test_s19_cookie_is_httponly_lax_and_path_root(client, anna):
    response = await client.post(operation("Login"), {"email": "anna@example.com", "password": PASSWORD})

    cookie = response.headers["set-cookie"]
    token = response.json()["data"]["login"]["token"]
    assert cookie.startswith(f"{SESSION_COOKIE}={token};")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # PUBLIC_URL is http here


class TestSecureCookieBehindHttps:
    @pytest.fixture
    def settings_overrides(self):
        return {"public_url": "https://auth.example.com"}

    async def test_s19_cookie_is_secure_when_public_url_is_https(self, client, anna):
        response = await client.post(operation("Login"), {"email": "anna@example.com", "password": PASSWORD})

        assert "Secure" in response.headers["set-cookie"]
