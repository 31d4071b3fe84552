"""The built-in policy behind a customer's `requirePhishingResistantAdmins` setting (issue 16).

A CUSTOMER-level member of a customer with the setting on may enroll only phishing-resistant methods (R5)
and, once they have such a factor, finish a login or a step-up (R6, R14) only with one: a code they can
be tricked into typing on a look-alike site (TOTP, an emailed code, a recovery code) no longer signs an
administrator in. Which methods qualify is read from their capabilities, never from their ids, so any
installed passkey or security-key package counts.

The core registers this module itself, `trylast` like the built-in methods, and it cannot be disabled:
a customer's setting must never stop being enforced without the customer knowing.
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
    capabilities_of,
    hookimpl,
)

REASON = "a customer of yours requires phishing-resistant methods of its administrators"


@hookimpl(trylast=True)
def policy_requirements(
    user: UserView,
    customers: Sequence[CustomerView],
    memberships: Sequence[MembershipView],
    methods: Mapping[str, SecondFactorMethod],
) -> PolicyRequirement | None:
    """For a CUSTOMER-level member of a customer requiring it: two factors, and phishing-resistant methods
    only, to enroll and to sign in."""
    requiring = {c.id for c in customers if c.require_phishing_resistant_admins}
    if not any(m.level is MembershipLevel.CUSTOMER and m.customer_id in requiring for m in memberships):
        return None
    resistant = frozenset(i for i, method in methods.items() if capabilities_of(method).phishing_resistant)
    # two_factor: an administrator without any factor (a PASSWORD account made by an operator, or invited in
    # the moment the setting went on) converts, and enrolls from the narrowed list: never a password alone.
    return PolicyRequirement(reason=REASON, two_factor=True, allowed_methods=resistant, login_methods=resistant)
