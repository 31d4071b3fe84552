"""R11: before enforcing, an admin sees who would have to convert, with method and state."""

from __future__ import annotations

from gql_server.enums import ConversionState, LoginMethod, MembershipLevel
from gql_server.models import User

from .graphql import operation

PASSWORD = "correct horse battery"


async def test_r11_admin_sees_who_would_have_to_convert(client, make_customer, make_user):
    acme = await make_customer("Acme Oy")
    await make_user(acme, "admin@acme.example", PASSWORD, MembershipLevel.CUSTOMER)
    await make_user(acme, "bea@acme.example", PASSWORD)
    pending = await make_user(acme, "cai@acme.example", PASSWORD)
    converted = await make_user(acme, "dan@acme.example", PASSWORD)
    await User.filter(id=pending.id).update(conversion=ConversionState.PENDING)
    await User.filter(id=converted.id).update(conversion=ConversionState.COMPLETED, login_method=LoginMethod.TWO_FACTOR)
    outsider_customer = await make_customer("Other Oy")
    await make_user(outsider_customer, "eve@other.example", PASSWORD)
    token = await client.login_token("admin@acme.example", PASSWORD)

    impact = (await client.run("EnforcementImpact", bearer=token, id=str(acme.id)))["customer"]["enforcementImpact"]

    assert {k: impact[k] for k in ("totalUsers", "converted", "pending", "notStarted")} == {
        "totalUsers": 4,
        "converted": 1,
        "pending": 1,
        "notStarted": 2,
    }
    assert [(u["email"], u["loginMethod"], u["conversion"]) for u in impact["usersToConvert"]] == [
        ("admin@acme.example", "PASSWORD", "NOT_STARTED"),
        ("bea@acme.example", "PASSWORD", "NOT_STARTED"),
    ]


async def test_r11_company_user_cannot_see_the_impact(client, make_customer, make_user):
    acme = await make_customer("Acme Oy")
    await make_user(acme, "bea@acme.example", PASSWORD)
    token = await client.login_token("bea@acme.example", PASSWORD)

    response = await client.post(operation("EnforcementImpact"), {"id": str(acme.id)}, bearer=token)

    body = response.json()
    assert body["data"]["customer"] is None
    assert body["errors"][0]["message"] == "Only the customer's administrators may do this."
    assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


async def test_r11_the_preview_reveals_no_other_tenant(client, operator, make_customer, make_user, converted_session):
    acme = await make_customer("Acme Oy")
    secret_customer = await make_customer("Secret Oy")
    boss = await make_user(acme, "admin@acme.example", PASSWORD, MembershipLevel.CUSTOMER)
    bea = await make_user(acme, "bea@acme.example", PASSWORD)
    await operator.add_membership(
        user_id=str(bea.id), customer_id=str(secret_customer.id), level=MembershipLevel.COMPANY
    )
    token = await converted_session(boss)

    data = await client.execute(
        "query($id: ID!) { customer(id: $id) { enforcementImpact { usersToConvert {"
        " email secondFactors { id } memberships { level customer { id name } } } } } }",
        {"id": str(acme.id)},
        bearer=token,
    )

    [row] = data["customer"]["enforcementImpact"]["usersToConvert"]
    assert row["email"] == "bea@acme.example"
    assert row["memberships"] == [{"level": "COMPANY", "customer": {"id": str(acme.id), "name": "Acme Oy"}}]
    assert row["secondFactors"] == []
