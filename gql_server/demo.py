"""`serve --demo`: a demo customer with an admin and a company user, created once."""

from __future__ import annotations

from dataclasses import dataclass

from gql_server.auth.operator import Operator
from gql_server.enums import MembershipLevel
from gql_server.models import Membership, User

# Fixed on purpose so the README walkthrough can be followed word for word. Development only:
# `serve --demo` refuses to run with GQL_SERVER_ENV=production.
DEMO_USERS = (
    ("Demo Oy", "admin@demo.example", "demo-admin-pass", MembershipLevel.CUSTOMER),
    ("Demo Oy", "user@demo.example", "demo-user-pass", MembershipLevel.COMPANY),
    ("Other Oy", "admin@other.example", "other-admin-pass", MembershipLevel.CUSTOMER),
)


@dataclass(frozen=True)
class DemoAccount:
    """One demo login, as printed for the newcomer."""

    customer_name: str
    customer_id: str
    email: str
    password: str
    level: MembershipLevel


async def ensure_demo_data(operator: Operator) -> list[DemoAccount]:
    """Create the demo customers and users unless they exist; return their credentials."""
    customer_ids: dict[str, str] = {}
    accounts = []
    for customer_name, email, password, level in DEMO_USERS:
        user = await User.get_or_none(email=email)
        if user is None:
            if customer_name not in customer_ids:
                customer_ids[customer_name] = str((await operator.create_customer(customer_name)).id)
            created = await operator.create_user(
                customer_id=customer_ids[customer_name], email=email, level=level, password=password
            )
            user = created.user
        membership = await Membership.filter(user_id=user.id).first()
        assert membership is not None
        customer_ids[customer_name] = str(membership.customer_id)  # type: ignore[attr-defined]
        accounts.append(DemoAccount(customer_name, customer_ids[customer_name], email, password, level))
    return accounts
