"""R19, a first part: a customer's admins list its members (level, login method, conversion, a pending
invitation's address masked, last login), filtered and paginated; nobody else sees the list."""

from __future__ import annotations

import base64

import pytest

from gql_server.enums import ConversionState, MembershipLevel
from gql_server.models import Customer, Membership, PendingMembership, User

from .flows import PASSWORD


@pytest.fixture
async def acme(make_customer) -> Customer:
    """An open customer (not enforcing), so that its password members sign in with a session."""
    return await make_customer("Acme Oy")


@pytest.fixture
async def admin(acme, make_user, converted_session) -> str:
    """A session of Acme's customer-level admin."""
    user = await make_user(acme, "admin@acme.example", PASSWORD, MembershipLevel.CUSTOMER)
    return await converted_session(user)


async def _members(client, token: str | None, customer: Customer, **variables) -> dict | None:
    data = await client.run("Members", bearer=token, customerId=str(customer.id), **variables)
    return None if data["customer"] is None else data["customer"]["members"]


async def test_r19_an_admin_lists_the_members_with_their_state(client, acme, admin, make_user):
    bea = await make_user(acme, "bea@acme.example", PASSWORD)
    await User.filter(id=bea.id).update(conversion=ConversionState.PENDING, pending_email="bea.k@elsewhere.example")

    listed = await _members(client, admin, acme)

    assert listed is not None and listed["totalCount"] == 2
    rows = {e["node"]["user"]["email"]: e["node"] for e in listed["edges"]}
    assert rows["admin@acme.example"]["level"] == "CUSTOMER"
    assert rows["admin@acme.example"]["user"]["loginMethod"] == "TWO_FACTOR"
    assert rows["bea@acme.example"] | {"user": None} == {
        "level": "COMPANY",
        "addedAt": rows["bea@acme.example"]["addedAt"],
        "acceptedAt": rows["bea@acme.example"]["addedAt"],
        # R4: where the pending invitation went, masked.
        "pendingInvitationSentTo": "b***@elsewhere.example",
        "user": None,
    }
    assert rows["admin@acme.example"]["pendingInvitationSentTo"] is None


async def test_r19_nobody_but_the_customers_admins_sees_the_list(client, acme, admin, make_customer, make_user):
    await make_user(acme, "bea@acme.example", PASSWORD)
    company_member = await client.login_token("bea@acme.example", PASSWORD)
    other = await make_customer("Other Oy")
    other_admin = await make_user(other, "admin@other.example", PASSWORD, MembershipLevel.CUSTOMER)
    # An admin of another customer who is also a company-level member here.
    await Membership.create(user=other_admin, customer=acme, level=MembershipLevel.COMPANY)
    other_token = await client.login_token("admin@other.example", PASSWORD)
    client.forget_cookies()

    assert await _members(client, company_member, acme) is None
    assert await _members(client, other_token, acme) is None
    assert (await client.run("Members", customerId=str(acme.id)))["customer"] is None
    assert await _members(client, admin, acme) is not None


async def test_r19_filters_narrow_the_list(client, acme, admin, make_user):
    await make_user(acme, "bea@acme.example", PASSWORD)
    await make_user(acme, "BERT@acme.example", PASSWORD)
    carl = await make_user(acme, "carl@acme.example", PASSWORD)
    await User.filter(id=carl.id).update(conversion=ConversionState.PENDING)

    async def emails(**wanted) -> list[str]:
        page = await _members(client, admin, acme, filter=wanted)
        assert page is not None
        assert page["totalCount"] == len(page["edges"])
        return sorted(e["node"]["user"]["email"] for e in page["edges"])

    assert await emails(emailContains="BE") == ["bea@acme.example", "bert@acme.example"]
    assert await emails(conversion="PENDING") == ["carl@acme.example"]
    assert await emails(loginMethod="TWO_FACTOR") == ["admin@acme.example"]
    assert await emails(level="CUSTOMER") == ["admin@acme.example"]
    assert await emails(level="COMPANY", conversion="NOT_STARTED") == ["bea@acme.example", "bert@acme.example"]
    assert await emails(emailContains="nobody") == []


async def test_r19_pages_follow_each_other_without_gaps_or_repeats(client, acme, admin, make_user):
    for n in range(6):
        await make_user(acme, f"user{n}@acme.example", PASSWORD)
    seen: list[str] = []
    after = None
    while True:
        page = await _members(client, admin, acme, first=3, after=after)
        assert page is not None and page["totalCount"] == 7
        seen += [e["node"]["user"]["email"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert len(seen) == 7 and len(set(seen)) == 7
    assert seen[0] == "admin@acme.example"
    assert (await _members(client, admin, acme, first=0))["edges"][0]["node"]["user"]["email"] == seen[0]


async def test_r19_invited_accounts_are_listed_in_order_among_the_members(
    client, acme, admin, make_user, make_customer
):
    other = await make_customer("Other Oy")
    expected = ["admin@acme.example"]
    for n in range(3):
        await make_user(acme, f"user{n}@acme.example", PASSWORD)
        guest = await make_user(other, f"guest{n}@other.example", PASSWORD)
        # An existing account invited to join (R19): listed, not yet a member.
        await PendingMembership.create(user=guest, customer=acme, level=MembershipLevel.COMPANY)
        expected += [f"user{n}@acme.example", f"guest{n}@other.example"]
    seen: list[tuple[str, bool]] = []
    after = None
    while True:
        page = await _members(client, admin, acme, first=2, after=after)
        assert page is not None and page["totalCount"] == 7
        seen += [(e["node"]["user"]["email"], e["node"]["acceptedAt"] is None) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert [email for email, _ in seen] == expected
    assert [email for email, invited in seen if invited] == [e for e in expected if e.startswith("guest")]
    only_invited = await _members(client, admin, acme, filter={"emailContains": "guest1"})
    assert only_invited is not None and only_invited["totalCount"] == 1


@pytest.mark.parametrize(
    "cursor",
    ["nope", "", base64.urlsafe_b64encode(b"audit:12").decode(), base64.urlsafe_b64encode(b"member:x|y").decode()],
)
async def test_r19_a_cursor_that_is_not_ours_is_a_clear_error(client, acme, admin, cursor):
    response = await client.post(
        "query($id: ID!, $after: String) { customer(id: $id) { members(after: $after) { totalCount } } }",
        {"id": str(acme.id), "after": cursor},
        bearer=admin,
    )

    body = response.json()
    assert response.status_code == 200
    assert body["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"
    assert "pageInfo.endCursor" in body["errors"][0]["message"]
