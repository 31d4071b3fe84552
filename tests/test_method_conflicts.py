"""S32: customer settings can never leave a member with no method to enroll (R5's intersection empty),
whether an admin changes allowed methods or an operator adds a membership."""

from __future__ import annotations

import logging

import pytest

from gql_server.auth.operator import OperatorError
from gql_server.enums import MembershipLevel
from gql_server.models import AuditEvent, Customer, Membership, User

PASSWORD = "correct horse battery"


@pytest.fixture
async def world(make_customer, make_user, converted_session):
    """Totp Oy allows only totp; Mail Oy everything (for now); Bea belongs to both; each has an admin."""
    totp_only = await make_customer("Totp Oy")
    await Customer.filter(id=totp_only.id).update(allowed_methods=["totp"])
    mail = await make_customer("Mail Oy")
    bea = await make_user(totp_only, "bea@shared.example", PASSWORD)
    await Membership.create(user=bea, customer=mail, level=MembershipLevel.COMPANY)
    totp_admin = await converted_session(
        await make_user(totp_only, "boss@totp.example", PASSWORD, MembershipLevel.CUSTOMER)
    )
    mail_admin = await converted_session(await make_user(mail, "boss@mail.example", PASSWORD, MembershipLevel.CUSTOMER))
    return {"totp": totp_only, "mail": mail, "bea": bea, "totp_admin": totp_admin, "mail_admin": mail_admin}


async def _allow(client, token, customer, methods):
    data = await client.run(
        "UpdateCustomerSettings", bearer=token, customerId=str(customer.id), input={"allowedMethods": methods}
    )
    return data["updateCustomerSettings"]


async def test_s32_a_change_that_leaves_a_shared_member_no_method_is_refused(client, world):
    result = await _allow(client, world["mail_admin"], world["mail"], ["email_code"])

    assert (result["__typename"], result["field"]) == ("InvalidInput", "allowedMethods"), result
    assert "1 member" in result["message"] and "totp" in result["message"]
    assert "Totp Oy" not in result["message"] and "bea@" not in result["message"]
    assert (await Customer.get(id=world["mail"].id)).allowed_methods is None
    assert not await AuditEvent.filter(kind="settings_changed").exists()

    # Keeping a method in common is fine, and then the other customer cannot take it away either.
    accepted = await _allow(client, world["mail_admin"], world["mail"], ["email_code", "totp"])
    assert accepted["__typename"] == "CustomerSettingsUpdated"
    refused = await _allow(client, world["totp_admin"], world["totp"], ["sms"])
    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "allowedMethods")
    assert "Mail Oy" not in refused["message"]
    moved = await _allow(client, world["totp_admin"], world["totp"], ["email_code"])
    assert moved["__typename"] == "CustomerSettingsUpdated"
    assert (await Customer.get(id=world["totp"].id)).allowed_methods == ["email_code"]


async def test_s32_an_operator_cannot_add_a_membership_that_leaves_no_method(operator, make_customer, make_user):
    totp_only = await make_customer("Totp Oy")
    await Customer.filter(id=totp_only.id).update(allowed_methods=["totp"])
    mail_only = await make_customer("Mail Oy")
    await Customer.filter(id=mail_only.id).update(allowed_methods=["email_code"])
    bea = await make_user(totp_only, "bea@shared.example", PASSWORD)

    with pytest.raises(OperatorError, match="no second-factor method left"):
        await operator.add_membership(user_id=str(bea.id), customer_id=str(mail_only.id), level=MembershipLevel.COMPANY)

    assert not await Membership.filter(user_id=bea.id, customer_id=mail_only.id).exists()
    assert not await AuditEvent.filter(kind="membership_added").exists()
    await Customer.filter(id=mail_only.id).update(allowed_methods=["email_code", "totp"])
    await operator.add_membership(user_id=str(bea.id), customer_id=str(mail_only.id), level=MembershipLevel.COMPANY)


async def test_s32_the_check_costs_the_same_queries_for_3_or_60_members(
    client, make_customer, converted_session, caplog
):
    """Not one query per member: the same number of statements whatever the customer's size."""
    counts = []
    for size in (3, 60):
        customer = await make_customer(f"Size {size} Oy")
        other = await make_customer(f"Other {size} Oy")
        await Customer.filter(id=other.id).update(allowed_methods=["totp", "email_code"])
        users = await User.bulk_create([User(email=f"m{i}@size{size}.example") for i in range(size)])
        users = await User.filter(email__endswith=f"@size{size}.example")
        await Membership.bulk_create(
            [Membership(user=u, customer=customer, level=MembershipLevel.COMPANY) for u in users]
        )
        await Membership.bulk_create([Membership(user=u, customer=other, level=MembershipLevel.COMPANY) for u in users])
        boss = await User.create(email=f"boss@size{size}.example")
        await Membership.create(user=boss, customer=customer, level=MembershipLevel.CUSTOMER)
        token = await converted_session(boss)
        caplog.clear()
        caplog.set_level(logging.DEBUG, logger="tortoise.db_client")

        refused = await _allow(client, token, customer, ["sms"])

        assert refused["__typename"] == "InvalidInput"
        assert f"{size} members" in refused["message"]
        counts.append(len([r for r in caplog.records if r.name == "tortoise.db_client"]))
        caplog.set_level(logging.WARNING, logger="tortoise.db_client")
    assert counts[0] == counts[1], counts


class TestWithAPolicyPlugin:
    @pytest.fixture
    def settings_overrides(self):
        # Customer-level members may not enroll methods that arrive by email.
        return {"gql_server_plugins": "gql_server_policy_strong_admins"}

    async def test_s32_plugin_requirements_count_too(self, client, make_customer, make_user, converted_session):
        acme = await make_customer("Acme Oy")
        boss = await make_user(acme, "boss@acme.example", PASSWORD, MembershipLevel.CUSTOMER)
        token = await converted_session(boss)

        refused = await _allow(client, token, acme, ["email_code"])
        accepted = await _allow(client, token, acme, ["email_code", "totp"])

        assert (refused["__typename"], refused["field"]) == ("InvalidInput", "allowedMethods"), refused
        assert "Also allow one of:" in refused["message"] and "totp" in refused["message"]
        assert accepted["__typename"] == "CustomerSettingsUpdated"
