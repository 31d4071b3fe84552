"""updateCustomerSettings (R1): its input and result union."""

from __future__ import annotations

from typing import Annotated

import strawberry

from gql_server.api.customers import CustomerType
from gql_server.api.errors import AuthenticationRequired, InvalidInput, PermissionDenied


@strawberry.input
class CustomerSettingsInput:
    """Fields left out (or null) stay as they are."""

    enforce_two_factor: bool | None = None
    allowed_methods: list[str] | None = None
    remember_device_days: int | None = strawberry.field(
        default=None, description="R18: 0 (never remember a browser) to 30 days."
    )
    require_phishing_resistant_admins: bool | None = strawberry.field(
        default=None,
        description=(
            "CUSTOMER-level members use phishing-resistant methods only (to enroll, sign in and step up). "
            "Switching it on is refused (InvalidInput) while an administrator has no such factor."
        ),
    )


@strawberry.type
class CustomerSettingsUpdated:
    """The customer after the change."""

    customer: CustomerType


UpdateCustomerSettingsResult = Annotated[
    CustomerSettingsUpdated | AuthenticationRequired | PermissionDenied | InvalidInput,
    strawberry.union("UpdateCustomerSettingsResult"),
]
