"""S20 and S30: a one-factor session restricted by R10 reads nothing but `viewer` itself, whichever path
it takes from there (memberships, their customers and settings, second factors)."""

from __future__ import annotations

from gql_server.clock import utcnow
from gql_server.enums import Assurance, ConversionState, LoginMethod, MembershipLevel
from gql_server.models import Customer, EnrolledFactor, User
from gql_server.sessions import create_session

PASSWORD = "correct horse battery"

EVERY_PATH = """
query {
  viewer {
    requirement
    session { assurance }
    user {
      email
      secondFactors { id method { id } }
      memberships {
        level
        customer {
          id
          name
          settings { enforceTwoFactor allowedMethods updatedAt }
        }
      }
    }
  }
}
"""


async def test_s30_a_restricted_session_reads_no_customer_data_through_viewer(client, make_customer, make_user):
    acme = await make_customer("Acme Oy")
    await make_user(acme, "admin@acme.example", PASSWORD, MembershipLevel.CUSTOMER)
    token = await client.login_token("admin@acme.example", PASSWORD)
    before = (await client.execute(EVERY_PATH, bearer=token))["viewer"]
    assert [m["customer"]["name"] for m in before["user"]["memberships"]] == ["Acme Oy"]

    await Customer.filter(id=acme.id).update(enforce_two_factor=True)  # R10: at once

    viewer = (await client.execute(EVERY_PATH, bearer=token))["viewer"]
    assert viewer["requirement"] == "CONVERSION"
    assert viewer["user"] == {"email": "admin@acme.example", "secondFactors": [], "memberships": []}
    assert (await client.run("Customer", bearer=token, id=str(acme.id)))["customer"] is None


async def test_s20_a_restricted_session_of_a_two_factor_user_sees_no_factors(
    client, services, make_customer, make_user
):
    # A one-factor session of an account that is two-factor now (made directly: the flows end such
    # sessions at conversion, but the rule must not depend on that).
    user = await make_user(await make_customer("Acme Oy"), "anna@acme.example", PASSWORD)
    await User.filter(id=user.id).update(login_method=LoginMethod.TWO_FACTOR, conversion=ConversionState.COMPLETED)
    await EnrolledFactor.create(user=user, method="totp", state_encrypted="x", created_at=utcnow())
    session = await create_session(await User.get(id=user.id), Assurance.PASSWORD, services.sessions)

    viewer = (await client.execute(EVERY_PATH, bearer=session.token))["viewer"]

    assert viewer["requirement"] == "CONVERSION"
    assert viewer["user"] == {"email": "anna@acme.example", "secondFactors": [], "memberships": []}
