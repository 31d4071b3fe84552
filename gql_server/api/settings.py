"""updateCustomerSettings (R1): its input, result union and resolver."""

from __future__ import annotations

from typing import Annotated

import strawberry

from gql_server.api.context import Info
from gql_server.api.customers import CustomerType
from gql_server.api.errors import AuthenticationRequired, InvalidInput, PermissionDenied, error_for
from gql_server.auth.customers import SettingsChange
from gql_server.auth.results import SettingsUpdated


@strawberry.input
class CustomerSettingsInput:
    """Fields left out (or null) stay as they are."""

    enforce_two_factor: bool | None = None
    allowed_methods: list[str] | None = None


@strawberry.type
class CustomerSettingsUpdated:
    """The customer after the change."""

    customer: CustomerType


UpdateCustomerSettingsResult = Annotated[
    CustomerSettingsUpdated | AuthenticationRequired | PermissionDenied | InvalidInput,
    strawberry.union("UpdateCustomerSettingsResult"),
]


async def update_customer_settings(
    info: Info, customer_id: strawberry.ID, input: CustomerSettingsInput
) -> UpdateCustomerSettingsResult:
    """Change a customer's settings; customer-level members only (R1). Every change is audited."""
    change = SettingsChange(enforce_two_factor=input.enforce_two_factor, allowed_methods=input.allowed_methods)
    outcome = await info.context.services.customers.update(await info.context.session(), str(customer_id), change)
    match outcome:
        case SettingsUpdated(customer=customer):
            return CustomerSettingsUpdated(customer=CustomerType.from_model(customer))
    error = error_for(outcome)
    assert isinstance(error, AuthenticationRequired | PermissionDenied | InvalidInput)
    return error
