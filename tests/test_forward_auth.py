"""Forward auth (issue 18): `GET /auth/check`, asked by a reverse proxy before each request to another service,
answers 200 with the user's headers for a session that satisfies the policy and the route's requirements, 401
without a usable session (R10's restricted one included), 403 when the route asks more, 400 for requirements
the proxy's configuration got wrong. Driven over HTTP like a proxy (the nginx one: test_forward_auth_nginx.py).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from gql_server.clock import utcnow
from gql_server.enums import Assurance, MembershipLevel
from gql_server.limits import SESSION_TOUCH_INTERVAL
from gql_server.models import Customer, PendingMembership, Session, User
from gql_server.sessions import create_session
from gql_server.tokens import hash_token

from .flows import PASSWORD, convert
from .test_statement_budget import statements

CHECK = "/auth/check"
IDENTITY = ("x-auth-user-id", "x-auth-user-email", "x-auth-assurance", "x-auth-memberships")


@pytest.fixture
async def relaxed(make_customer) -> Customer:
    """A customer that does not enforce two factors: its password users get usable sessions."""
    return await make_customer("Relaxed Oy")


@pytest.fixture
async def ville(relaxed, make_user) -> User:
    """A company-level member of `relaxed`, signing in with a password."""
    return await make_user(relaxed, "ville@example.com", PASSWORD)


async def _check(client, params=None, *, bearer=None, method="GET", headers=None):
    sent = dict(headers or {})
    if bearer:
        sent["Authorization"] = f"Bearer {bearer}"
    return await client.http.request(method, CHECK, params=params, headers=sent)


def _assert_refused(response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["x-auth-error"] == reason
    assert response.json() == {"error": reason}
    assert not set(IDENTITY) & set(response.headers)
    _assert_quiet(response)


def _assert_quiet(response) -> None:
    """Nothing may keep the answer, and the check never sets or clears a cookie."""
    assert response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers


# --- who the session belongs to -------------------------------------------------------------------------


async def test_a_password_session_by_bearer_passes_with_the_users_headers(client, relaxed, ville):
    token = await client.login_token("ville@example.com", PASSWORD)
    client.forget_cookies()

    response = await _check(client, bearer=token)

    assert response.status_code == 200
    assert response.headers["x-auth-user-id"] == str(ville.id)
    assert response.headers["x-auth-user-email"] == "ville@example.com"
    assert response.headers["x-auth-assurance"] == "PASSWORD"
    assert response.headers["x-auth-memberships"] == f"{relaxed.id}:COMPANY"
    assert response.content == b""
    assert "x-auth-error" not in response.headers
    _assert_quiet(response)


async def test_the_session_cookie_a_login_set_passes_as_the_bearer_does(client, ville):
    await client.login_token("ville@example.com", PASSWORD)  # the cookie stays in the client's jar

    response = await _check(client)

    assert response.status_code == 200
    assert response.headers["x-auth-user-id"] == str(ville.id)


async def test_the_bearer_header_decides_over_the_cookie_as_for_graphql(client, relaxed, ville, make_user):
    other = await make_user(relaxed, "olli@example.com", PASSWORD)
    await client.login_token("ville@example.com", PASSWORD)  # ville's cookie in the jar
    olli = await client.login_token("olli@example.com", PASSWORD)
    await client.login_token("ville@example.com", PASSWORD)

    assert (await _check(client, bearer=olli)).headers["x-auth-user-id"] == str(other.id)
    # A bearer token of no session is not made good by a cookie: the request named its credential.
    _assert_refused(await _check(client, bearer="not-a-session"), 401, "unauthenticated")


async def test_memberships_list_every_customer_with_its_level_sorted_by_id(client, services, make_customer, make_user):
    customers = [await make_customer(f"Customer {n}") for n in range(3)]
    user = await make_user(customers[0], "multi@example.com", PASSWORD, MembershipLevel.CUSTOMER)
    await services.operator.add_membership(
        user_id=str(user.id), customer_id=str(customers[1].id), level=MembershipLevel.COMPANY
    )
    token = await client.login_token("multi@example.com", PASSWORD)

    response = await _check(client, bearer=token)

    levels = {str(customers[0].id): "CUSTOMER", str(customers[1].id): "COMPANY"}
    expected = ",".join(f"{cid}:{levels[cid]}" for cid in sorted(levels))
    assert response.headers["x-auth-memberships"] == expected
    assert response.headers["x-auth-user-id"] == str(user.id)


async def test_an_address_outside_ascii_is_percent_encoded_utf8_and_ascii_reads_as_it_is(client, relaxed, make_user):
    await make_user(relaxed, "päivi@esimerkki.fi", PASSWORD)
    await make_user(relaxed, "o'brien+tag@example.com", PASSWORD)

    paivi = await _check(client, bearer=await client.login_token("päivi@esimerkki.fi", PASSWORD))
    obrien = await _check(client, bearer=await client.login_token("o'brien+tag@example.com", PASSWORD))

    assert paivi.headers["x-auth-user-email"] == "p%C3%A4ivi@esimerkki.fi"
    assert obrien.headers["x-auth-user-email"] == "o'brien+tag@example.com"


# --- no usable session: 401 -----------------------------------------------------------------------------


async def test_without_a_session_the_answer_is_401_with_a_bearer_challenge(client):
    response = await _check(client)

    _assert_refused(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_an_unknown_token_is_401(client, ville):
    _assert_refused(await _check(client, bearer="x" * 43), 401, "unauthenticated")
    _assert_refused(await _check(client, headers={"Cookie": "gql_session=nothing"}), 401, "unauthenticated")


async def test_a_session_ended_by_logout_is_401(client, ville):
    token = await client.login_token("ville@example.com", PASSWORD)
    assert (await _check(client, bearer=token)).status_code == 200

    await client.run("Logout", bearer=token)

    _assert_refused(await _check(client, bearer=token), 401, "unauthenticated")


async def test_a_session_past_its_idle_or_its_absolute_limit_is_401(client, settings, ville):
    idle = await client.login_token("ville@example.com", PASSWORD)
    absolute = await client.login_token("ville@example.com", PASSWORD)
    now = utcnow()
    await Session.filter(token_hash=hash_token(idle)).update(last_seen_at=now - settings.session_idle)
    await Session.filter(token_hash=hash_token(absolute)).update(expires_at=now - timedelta(seconds=1))

    _assert_refused(await _check(client, bearer=idle), 401, "unauthenticated")
    _assert_refused(await _check(client, bearer=absolute), 401, "unauthenticated")


async def test_r10_a_restricted_session_is_not_authorised(client, relaxed, ville):
    token = await client.login_token("ville@example.com", PASSWORD)
    assert (await _check(client, bearer=token)).status_code == 200

    await Customer.filter(id=relaxed.id).update(enforce_two_factor=True)  # R10: at once

    _assert_refused(await _check(client, bearer=token), 401, "conversion_required")
    # Whatever the route asks: a restricted session passes nothing.
    _assert_refused(await _check(client, {"customer": str(relaxed.id)}, bearer=token), 401, "conversion_required")


async def test_r10_a_one_factor_session_of_a_two_factor_account_is_not_authorised(client, services, ville):
    # Made directly: the flows end such sessions at conversion, but the check must not depend on that.
    await User.filter(id=ville.id).update(login_method="TWO_FACTOR", conversion="COMPLETED")
    session = await create_session(await User.get(id=ville.id), Assurance.PASSWORD, services.sessions)

    _assert_refused(await _check(client, bearer=session.token), 401, "conversion_required")


# --- what a route asks: 403 -----------------------------------------------------------------------------


async def test_a_route_asking_two_factors_refuses_a_password_session_with_403(client, ville):
    token = await client.login_token("ville@example.com", PASSWORD)

    _assert_refused(await _check(client, {"assurance": "TWO_FACTOR"}, bearer=token), 403, "two_factor_required")
    assert (await _check(client, {"assurance": "PASSWORD"}, bearer=token)).status_code == 200


async def test_a_converted_users_two_factor_session_passes_a_two_factor_route(client, mailbox, acme, anna):
    converted = await convert(client, mailbox, "anna@example.com")
    client.forget_cookies()

    response = await _check(client, {"assurance": "TWO_FACTOR", "customer": str(acme.id)}, bearer=converted.token)

    assert response.status_code == 200, response.text
    assert response.headers["x-auth-assurance"] == "TWO_FACTOR"
    assert response.headers["x-auth-user-id"] == str(anna.id)
    assert response.headers["x-auth-memberships"] == f"{acme.id}:COMPANY"


async def test_a_route_asking_for_a_customer_passes_its_members_only(client, make_customer, relaxed, ville):
    other = await make_customer("Other Oy")
    token = await client.login_token("ville@example.com", PASSWORD)

    assert (await _check(client, {"customer": str(relaxed.id)}, bearer=token)).status_code == 200
    _assert_refused(await _check(client, {"customer": str(other.id)}, bearer=token), 403, "not_a_member")
    _assert_refused(await _check(client, {"customer": str(uuid.uuid4())}, bearer=token), 403, "not_a_member")


async def test_r19_an_invitation_not_accepted_yet_is_no_membership(client, make_customer, ville):
    other = await make_customer("Other Oy")
    await PendingMembership.create(user=ville, customer=other, level=MembershipLevel.CUSTOMER, email=ville.email)
    token = await client.login_token("ville@example.com", PASSWORD)

    _assert_refused(await _check(client, {"customer": str(other.id)}, bearer=token), 403, "not_a_member")
    assert str(other.id) not in (await _check(client, bearer=token)).headers["x-auth-memberships"]


async def test_a_level_is_a_least_level_customer_level_administers(client, relaxed, ville, make_user):
    await make_user(relaxed, "admin@example.com", PASSWORD, MembershipLevel.CUSTOMER)
    member = await client.login_token("ville@example.com", PASSWORD)
    admin = await client.login_token("admin@example.com", PASSWORD)
    customer_level = {"customer": str(relaxed.id), "level": "CUSTOMER"}
    company_level = {"customer": str(relaxed.id), "level": "COMPANY"}

    _assert_refused(await _check(client, customer_level, bearer=member), 403, "level_too_low")
    assert (await _check(client, customer_level, bearer=admin)).status_code == 200
    assert (await _check(client, company_level, bearer=member)).status_code == 200
    assert (await _check(client, company_level, bearer=admin)).status_code == 200


async def test_every_requirement_at_once(client, mailbox, acme, anna):
    converted = await convert(client, mailbox, "anna@example.com")
    params = {"assurance": "TWO_FACTOR", "customer": str(acme.id), "level": "CUSTOMER"}

    _assert_refused(await _check(client, params, bearer=converted.token), 403, "level_too_low")


# --- the proxy's configuration got it wrong: 400 --------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("asurance=TWO_FACTOR", "asurance"),  # a typo must not open the route to everyone
        ("assurance=two_factor", "assurance"),
        ("assurance=", "assurance"),
        ("assurance=PASSWORD&assurance=TWO_FACTOR", "assurance"),
        ("customer=acme", "customer"),
        ("customer=", "customer"),
        ("level=CUSTOMER", "level"),
        ("customer=3f6c2a52-3f3c-4d7e-9a55-0b1f3cb0e6a1&level=ADMIN", "level"),
        ("token=abc", "token"),
    ],
)
async def test_a_requirement_that_is_not_understood_is_400_never_ignored(client, ville, query, parameter):
    token = await client.login_token("ville@example.com", PASSWORD)

    for bearer in (token, None):  # the same answer signed in or not: it is the configuration that is wrong
        response = await client.http.get(
            f"{CHECK}?{query}", headers={"Authorization": f"Bearer {bearer}"} if bearer else {}
        )
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["error"] == "invalid_parameter"
        assert body["parameter"] == parameter
        assert body["message"]
        assert response.headers["x-auth-error"] == "invalid_parameter"
        assert not set(IDENTITY) & set(response.headers)
        _assert_quiet(response)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_every_method_is_checked_alike_as_nginx_keeps_the_checked_requests(client, ville, method):
    token = await client.login_token("ville@example.com", PASSWORD)
    client.forget_cookies()

    passed = await _check(client, bearer=token, method=method)
    refused = await _check(client, method=method)

    assert passed.status_code == 200
    assert passed.headers["x-auth-user-id"] == str(ville.id)
    _assert_refused(refused, 401, "unauthenticated")


# --- HEAD, and what the check leaves alone --------------------------------------------------------------


async def test_head_answers_as_get_does_without_a_body(client, ville):
    token = await client.login_token("ville@example.com", PASSWORD)
    client.forget_cookies()

    passed = await _check(client, bearer=token, method="HEAD")
    refused = await _check(client, method="HEAD")
    too_weak = await _check(client, {"assurance": "TWO_FACTOR"}, bearer=token, method="HEAD")

    assert passed.status_code == 200
    assert passed.headers["x-auth-user-id"] == str(ville.id)
    assert passed.headers["x-auth-assurance"] == "PASSWORD"
    assert (refused.status_code, refused.headers["x-auth-error"]) == (401, "unauthenticated")
    assert (too_weak.status_code, too_weak.headers["x-auth-error"]) == (403, "two_factor_required")
    for response in (passed, refused, too_weak):
        assert response.content == b""
        _assert_quiet(response)


async def test_the_check_extends_a_session_no_more_than_any_request_does(client, ville):
    token = await client.login_token("ville@example.com", PASSWORD)
    rows = Session.filter(token_hash=hash_token(token))
    before = await rows.get()

    for _ in range(3):
        assert (await _check(client, bearer=token)).status_code == 200

    after = await rows.get()
    # Within the touch interval nothing is written; the absolute limit never moves.
    assert (after.last_seen_at, after.expires_at) == (before.last_seen_at, before.expires_at)

    earlier = utcnow() - SESSION_TOUCH_INTERVAL - timedelta(seconds=1)
    await rows.update(last_seen_at=earlier)
    assert (await _check(client, bearer=token)).status_code == 200
    touched = await rows.get()
    # Past it, the same touch every GraphQL request gives (P2: at most once a minute).
    assert touched.last_seen_at > earlier
    assert touched.expires_at == before.expires_at


async def test_the_check_is_one_session_lookup_and_one_for_the_memberships(client, settings, mailbox, acme, anna):
    converted = await convert(client, mailbox, "anna@example.com")
    client.forget_cookies()
    await _check(client, bearer=converted.token)  # the first one warms what is built once

    async with statements(settings.database_url) as seen:
        response = await _check(client, bearer=converted.token)

    assert response.status_code == 200
    assert len(seen) == 2, "\n".join(seen)


async def test_a_password_session_adds_one_query_for_r10(client, settings, ville):
    token = await client.login_token("ville@example.com", PASSWORD)
    await _check(client, bearer=token)

    async with statements(settings.database_url) as seen:
        response = await _check(client, bearer=token)

    assert response.status_code == 200
    assert len(seen) == 3, "\n".join(seen)


async def test_the_access_line_says_why_a_check_refused_and_never_holds_the_token(client, caplog, relaxed, ville):
    caplog.set_level("INFO", logger="gql_server.access")
    token = await client.login_token("ville@example.com", PASSWORD)
    client.forget_cookies()
    await _check(client, {"assurance": "TWO_FACTOR"}, bearer=token)
    await Customer.filter(id=relaxed.id).update(enforce_two_factor=True)
    await _check(client, bearer=token)
    await _check(client)

    lines = [r for r in caplog.records if r.name == "gql_server.access" and getattr(r, "path", "") == CHECK]
    assert [(r.status, r.outcome) for r in lines] == [
        (403, "two_factor_required"),
        (401, "conversion_required"),
        (401, "unauthenticated"),
    ]
    assert token not in caplog.text
