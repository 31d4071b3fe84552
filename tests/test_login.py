"""The password step and what the policy makes of it: R2, R3, R4 (login side), R7, R10."""

from __future__ import annotations

from gql_server.enums import ConversionState, MembershipLevel
from gql_server.models import Session, Token, User
from gql_server.tokens import hash_token

from .graphql import operation

PASSWORD = "correct horse battery"


async def test_r7_password_login_without_enforcement(client, make_customer, make_user):
    customer = await make_customer()
    await make_user(customer, "anna@example.com", PASSWORD)

    result = await client.login("Anna@Example.com ", PASSWORD)

    assert result["__typename"] == "LoginSuccess"
    assert result["session"]["assurance"] == "PASSWORD"
    assert result["user"]["email"] == "anna@example.com"
    assert result["user"]["loginMethod"] == "PASSWORD"
    assert result["user"]["lastLoginAt"] is not None
    viewer = (await client.run("Viewer"))["viewer"]
    assert viewer["requirement"] == "NONE"
    assert viewer["user"]["memberships"] == [
        {"level": "COMPANY", "customer": {"id": str(customer.id), "name": "Acme Oy"}}
    ]


async def test_r3_enforced_password_login_gets_ticket_not_session(client, make_customer, make_user):
    customer = await make_customer(enforce=True)
    user = await make_user(customer, "anna@example.com", PASSWORD)

    response = await client.post(operation("Login"), {"email": "anna@example.com", "password": PASSWORD})

    result = response.json()["data"]["login"]
    assert result["__typename"] == "ConversionRequired"
    assert result["email"] == "anna@example.com"
    assert len(result["ticket"]) >= 22  # >= 128 bits, URL-safe base64
    assert "set-cookie" not in response.headers
    assert await Session.filter(user_id=user.id).count() == 0
    # S12/S16: the ticket is stored hashed and is not a session token.
    assert await Token.filter(token_hash=hash_token(result["ticket"])).exists()
    assert (await client.run("Viewer", bearer=result["ticket"]))["viewer"] is None


async def test_r3_wrong_password_under_enforcement_is_invalid_credentials(client, make_customer, make_user):
    customer = await make_customer(enforce=True)
    await make_user(customer, "anna@example.com", PASSWORD)

    wrong = await client.post(operation("Login"), {"email": "anna@example.com", "password": "nope-nope"})
    unknown = await client.post(operation("Login"), {"email": "ghost@example.com", "password": "nope-nope"})

    assert wrong.json()["data"]["login"]["__typename"] == "InvalidCredentials"
    assert wrong.content == unknown.content


async def test_r2_any_enforcing_customer_requires_conversion(client, operator, make_customer, make_user):
    relaxed = await make_customer("Relaxed Oy")
    strict = await make_customer("Strict Oy", enforce=True)
    user = await make_user(relaxed, "anna@example.com", PASSWORD)
    await operator.add_membership(user_id=str(user.id), customer_id=str(strict.id), level=MembershipLevel.COMPANY)

    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "ConversionRequired"


async def test_r7_switching_enforcement_off_restores_password_login(client, make_customer, make_user):
    customer = await make_customer(enforce=True)
    await make_user(customer, "anna@example.com", PASSWORD)
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "ConversionRequired"

    customer.enforce_two_factor = False
    await customer.save()

    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "LoginSuccess"


async def test_r7_pending_conversion_unaffected_by_enforcement_off(client, make_customer, make_user):
    customer = await make_customer(enforce=False)
    user = await make_user(customer, "anna@example.com", PASSWORD)
    # A conversion started earlier (the invitation went to a new address).
    await User.filter(id=user.id).update(conversion=ConversionState.PENDING, pending_email="anna.new@example.org")

    result = await client.login("anna@example.com", PASSWORD)

    assert result["__typename"] == "ConversionPending"
    assert result["sentTo"] == "a***@example.org"
    assert await Session.filter(user_id=user.id).count() == 0


async def test_r10_enforcement_applies_to_existing_password_sessions(client, make_customer, make_user):
    customer = await make_customer()
    await make_user(customer, "anna@example.com", PASSWORD)
    token = await client.login_token("anna@example.com", PASSWORD)
    customer_query = {"id": str(customer.id)}
    assert (await client.run("Customer", bearer=token, **customer_query))["customer"] is not None

    customer.enforce_two_factor = True
    await customer.save()

    # S20: the session still shows who is signed in and that conversion is required, nothing else.
    viewer = (await client.run("Viewer", bearer=token))["viewer"]
    assert viewer["requirement"] == "CONVERSION"
    assert (await client.run("Customer", bearer=token, **customer_query))["customer"] is None


async def test_s22_bad_input_types_get_a_clear_error_and_change_nothing(client):
    response = await client.post(operation("Login"), {"email": 42, "password": None})

    assert response.status_code == 200
    errors = response.json()["errors"]
    assert "Variable '$password'" in errors[0]["message"] or "$email" in errors[0]["message"]
    assert "Traceback" not in response.text


async def test_overlong_password_is_refused_without_hashing(client, services, make_customer, make_user):
    customer = await make_customer()
    await make_user(customer, "anna@example.com", PASSWORD)
    checks_before = services.passwords.stats.checks

    result = await client.login("anna@example.com", "x" * 5000)

    assert result["__typename"] == "InvalidCredentials"
    assert services.passwords.stats.checks == checks_before
