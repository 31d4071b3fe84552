"""R1: only a customer's admins change its settings; every change is audited with old and new value."""

from __future__ import annotations

import pytest

from gql_server.enums import MembershipLevel
from gql_server.models import AuditEvent, Customer, User

PASSWORD = "correct horse battery"


@pytest.fixture
async def acme(make_customer, make_user):
    customer = await make_customer("Acme Oy")
    await make_user(customer, "admin@acme.example", PASSWORD, MembershipLevel.CUSTOMER)
    await make_user(customer, "worker@acme.example", PASSWORD, MembershipLevel.COMPANY)
    return customer


@pytest.fixture
async def admin_token(acme, converted_session):
    """A converted admin's two-factor session: enforcement does not restrict it (R6, R10)."""
    return await converted_session(await User.get(email="admin@acme.example"))


async def _set_enforcement(client, customer, value, token=None):
    data = await client.run(
        "UpdateCustomerSettings",
        bearer=token,
        customerId=str(customer.id),
        input={"enforceTwoFactor": value},
    )
    return data["updateCustomerSettings"]


async def test_r1_customer_admin_enforces_and_unenforces_with_audit(client, acme, admin_token):
    token = admin_token

    on = await _set_enforcement(client, acme, True, token)
    off = await _set_enforcement(client, acme, False, token)

    assert on["__typename"] == off["__typename"] == "CustomerSettingsUpdated"
    assert on["customer"]["settings"]["enforceTwoFactor"] is True
    assert off["customer"]["settings"]["enforceTwoFactor"] is False
    assert off["customer"]["settings"]["updatedAt"] is not None
    assert (await Customer.get(id=acme.id)).enforce_two_factor is False
    log = (await client.run("AuditLog", bearer=token, id=str(acme.id)))["customer"]["auditLog"]
    changes = [e["node"] for e in log["edges"] if e["node"]["kind"] == "settings_changed"]
    assert [(e["actorEmail"], e["details"]) for e in changes] == [
        ("admin@acme.example", {"field": "enforceTwoFactor", "old": False, "new": True}),
        ("admin@acme.example", {"field": "enforceTwoFactor", "old": True, "new": False}),
    ]


async def test_r1_unchanged_value_is_not_audited_again(client, acme, admin_token):
    await _set_enforcement(client, acme, True, admin_token)
    again = await _set_enforcement(client, acme, True, admin_token)

    assert again["__typename"] == "CustomerSettingsUpdated"
    assert await AuditEvent.filter(customer_id=acme.id, kind="settings_changed").count() == 1


async def test_r1_r10_password_admin_who_enforces_is_bound_by_it_at_once(client, acme):
    token = await client.login_token("admin@acme.example", PASSWORD)

    on = await _set_enforcement(client, acme, True, token)
    off = await _set_enforcement(client, acme, False, token)

    # Enforcement covers the admin too: the one-factor session now only sees `viewer`.
    assert on["__typename"] == "CustomerSettingsUpdated"
    assert off["__typename"] == "AuthenticationRequired"
    assert (await client.run("Viewer", bearer=token))["viewer"]["requirement"] == "CONVERSION"
    assert (await Customer.get(id=acme.id)).enforce_two_factor is True
    assert (await client.login("admin@acme.example", PASSWORD))["__typename"] == "ConversionRequired"


async def test_r1_company_user_is_denied_and_nothing_changes(client, acme):
    token = await client.login_token("worker@acme.example", PASSWORD)

    result = await _set_enforcement(client, acme, True, token)

    assert result["__typename"] == "PermissionDenied"
    assert result["message"]
    assert (await Customer.get(id=acme.id)).enforce_two_factor is False
    assert not await AuditEvent.filter(kind="settings_changed").exists()


async def test_r1_another_customers_admin_is_denied(client, acme, make_customer, make_user):
    other = await make_customer("Other Oy")
    await make_user(other, "admin@other.example", PASSWORD, MembershipLevel.CUSTOMER)
    token = await client.login_token("admin@other.example", PASSWORD)

    result = await _set_enforcement(client, acme, True, token)

    assert result["__typename"] == "PermissionDenied"
    assert (await Customer.get(id=acme.id)).enforce_two_factor is False
    # Unknown and malformed ids answer the same way: ids do not reveal what exists.
    for customer_id in ("00000000-0000-0000-0000-000000000000", "not-an-id"):
        data = await client.run(
            "UpdateCustomerSettings",
            bearer=token,
            customerId=customer_id,
            input={"enforceTwoFactor": True},
        )
        assert data["updateCustomerSettings"]["__typename"] == "PermissionDenied"


async def test_r1_anonymous_caller_must_authenticate(client, acme):
    result = await _set_enforcement(client, acme, True)

    assert result["__typename"] == "AuthenticationRequired"
    assert (await Customer.get(id=acme.id)).enforce_two_factor is False


async def test_r1_allowed_methods_must_be_installed_methods(client, acme):
    token = await client.login_token("admin@acme.example", PASSWORD)

    for methods in (["carrier-pigeon"], []):
        data = await client.run(
            "UpdateCustomerSettings",
            bearer=token,
            customerId=str(acme.id),
            input={"allowedMethods": methods},
        )
        result = data["updateCustomerSettings"]
        assert result["__typename"] == "InvalidInput"
        assert result["field"] == "allowedMethods"
    assert (await Customer.get(id=acme.id)).allowed_methods is None


async def test_r1_customer_is_visible_to_members_only(client, acme, make_customer, make_user, services):
    other = await make_customer("Other Oy")
    await make_user(other, "admin@other.example", PASSWORD, MembershipLevel.CUSTOMER)

    worker = await client.login_token("worker@acme.example", PASSWORD)
    outsider = await client.login_token("admin@other.example", PASSWORD)

    seen = (await client.run("Customer", bearer=worker, id=str(acme.id)))["customer"]
    assert seen["name"] == "Acme Oy"
    # Never set: every installed, enrollable method.
    assert seen["settings"] == {
        "enforceTwoFactor": False,
        "allowedMethods": sorted(m.id for m in services.methods.values() if m.enrollable),
        "updatedAt": None,
        # R18: off until an admin sets it.
        "rememberDeviceDays": 0,
        # Issue 16: off until an admin sets it.
        "requirePhishingResistantAdmins": False,
    }
    assert {"email_code", "totp"} <= set(seen["settings"]["allowedMethods"])
    assert (await client.run("Customer", bearer=outsider, id=str(acme.id)))["customer"] is None
    assert (await client.run("Customer", id=str(acme.id)))["customer"] is None


async def test_r1_audit_log_is_for_admins_only(client, acme):
    token = await client.login_token("worker@acme.example", PASSWORD)

    log = (await client.run("AuditLog", bearer=token, id=str(acme.id)))["customer"]["auditLog"]

    assert log == {"__typename": "PermissionDenied", "message": "Only the customer's administrators may do this."}


async def test_audit_log_is_the_customers_members_events_in_order_paginated(
    client, acme, admin_token, make_customer, make_user
):
    other = await make_customer("Other Oy")
    await make_user(other, "stranger@other.example", PASSWORD)
    await client.login("worker@acme.example", "wrong-guess")
    await client.login("worker@acme.example", PASSWORD)
    await client.login("stranger@other.example", PASSWORD)
    await _set_enforcement(client, acme, True, admin_token)

    seen, after, pages = [], None, 0
    while True:
        data = await client.run("AuditLog", bearer=admin_token, id=str(acme.id), first=2, after=after)
        log = data["customer"]["auditLog"]
        seen += [e["node"] for e in log["edges"]]
        pages += 1
        if not log["pageInfo"]["hasNextPage"]:
            break
        after = log["pageInfo"]["endCursor"]

    kinds = [(e["kind"], e["subjectEmail"] or e["actorEmail"]) for e in seen]
    assert kinds == [
        ("customer_created", None),
        ("user_created", "admin@acme.example"),
        ("user_created", "worker@acme.example"),
        ("login_failed", "worker@acme.example"),
        ("login_succeeded", "worker@acme.example"),
        ("settings_changed", "admin@acme.example"),
    ]
    assert pages == 3
    assert [e["at"] for e in seen] == sorted(e["at"] for e in seen)
    bad = await client.run("AuditLog", bearer=admin_token, id=str(acme.id), after="bm90LWEtY3Vyc29y")
    assert (bad["customer"]["auditLog"]["__typename"], bad["customer"]["auditLog"]["field"]) == (
        "InvalidInput",
        "after",
    )
