"""An example `policy_requirements` plugin, shipped with gql_server and off by default.

Customer-level members (the customer's administrators) must enroll a second factor that does not
arrive by email. Their email account usually also receives password resets and recovery notices,
so an email code would collapse "something you know" and "something you have" into one mailbox.
The plugin decides from the methods' capability metadata (`channel`), so a third-party method
(SMS, a hardware key) qualifies without this plugin knowing its name.

Enable it with `GQL_SERVER_PLUGINS=gql_server_policy_strong_admins`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gql_server.plugin_api import (
    CustomerView,
    MembershipLevel,
    MembershipView,
    PolicyRequirement,
    SecondFactorMethod,
    UserView,
    hookimpl,
)

WEAK_CHANNELS = frozenset({"email"})


@hookimpl
def policy_requirements(
    user: UserView,
    customers: Sequence[CustomerView],
    memberships: Sequence[MembershipView],
    methods: Mapping[str, SecondFactorMethod],
) -> PolicyRequirement | None:
    """Customer-level members may enroll only methods whose channel is not email."""
    if not any(m.level is MembershipLevel.CUSTOMER for m in memberships):
        return None
    strong = frozenset(method_id for method_id, method in methods.items() if method.channel not in WEAK_CHANNELS)
    return PolicyRequirement(
        reason="customer-level members use a second factor that does not arrive by email",
        allowed_methods=strong,
    )
