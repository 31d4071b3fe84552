"""The documents the properties send, and the checks of what comes back: a typed answer of the field's
union, a GraphQL error that explains the mistake, never a 5xx or the masked "Unexpected error."."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from graphql import GraphQLUnionType, build_schema, get_named_type

SCHEMA = build_schema((Path(__file__).resolve().parents[2] / "schema" / "schema.graphql").read_text("utf-8"))


def members(field: str) -> frozenset[str]:
    """The union members a mutation may answer, as the public schema declares them."""
    named = get_named_type(SCHEMA.mutation_type.fields[field].type)  # type: ignore[union-attr]
    assert isinstance(named, GraphQLUnionType), field
    return frozenset(t.name for t in named.types)


def typed(response: httpx.Response, field: str, expected: Iterable[str]) -> dict[str, Any]:
    """The result of `field`: HTTP 200, no GraphQL errors, one of the `expected` union members."""
    assert response.status_code == 200, f"HTTP {response.status_code}: {response.text[:500]}"
    body = response.json()
    assert "errors" not in body, body["errors"]
    result: dict[str, Any] = body["data"][field]
    expected = frozenset(expected)
    assert expected <= members(field), expected - members(field)
    assert result["__typename"] in expected, result
    return result


def refused(response: httpx.Response) -> list[dict[str, Any]]:
    """A request the GraphQL layer refused: errors that explain the mistake, no data, no masking."""
    assert response.status_code in {200, 400}, f"HTTP {response.status_code}: {response.text[:500]}"
    body = response.json()
    assert body.get("data") is None, body
    errors: list[dict[str, Any]] = body["errors"]
    assert errors, body
    for error in errors:
        assert error["message"] != "Unexpected error.", body
    return errors


def no_masked_error(response: httpx.Response) -> dict[str, Any]:
    """Any answer but a 5xx or a masked error: for documents that may be valid or not."""
    assert response.status_code in {200, 400}, f"HTTP {response.status_code}: {response.text[:500]}"
    body: dict[str, Any] = response.json()
    for error in body.get("errors", []):
        assert error["message"] != "Unexpected error.", body
    return body


# Each mutation with arguments: its document and its arguments' GraphQL types (for wrong types).
MUTATIONS: dict[str, tuple[str, dict[str, str]]] = {}


def mutation(field: str, arguments: dict[str, str], selection: str = "__typename ... on Error { message }") -> str:
    """A mutation document for `field` with one variable per argument."""
    definitions = ", ".join(f"${name}: {kind}" for name, kind in arguments.items())
    passed = ", ".join(f"{name}: ${name}" for name in arguments)
    document = f"mutation Hostile({definitions}) {{ {field}({passed}) {{ {selection} }} }}"
    MUTATIONS[field] = (document, arguments)
    return document


LOGIN = mutation("login", {"email": "String!", "password": "String!"})
SEND_LOGIN_CODE = mutation("sendLoginCode", {"challenge": "String!", "method": "String!"})
BEGIN_SECOND_FACTOR = mutation("beginSecondFactor", {"challenge": "String!", "method": "String!"})
VERIFY = mutation(
    "verifySecondFactor",
    {"challenge": "String!", "method": "String!", "code": "String!", "rememberDevice": "Boolean"},
    "__typename ... on Error { message } ... on InvalidCode { attemptsLeft }",
)
LOGOUT = "mutation Hostile { logout }"
REQUEST_CONVERSION = mutation(
    "requestConversion",
    {"ticket": "String!", "email": "String!"},
    "__typename ... on Error { message } ... on InvalidInput { field } ... on ConversionRequested { sentTo }",
)
START_CONVERSION = mutation(
    "startConversion", {"email": "String!"}, "__typename ... on Error { message } ... on InvalidInput { field }"
)
BEGIN_ENROLLMENT = mutation(
    "beginEnrollment",
    {"invitation": "String!", "method": "String!", "phoneNumber": "String"},
    "__typename ... on Error { message } ... on InvalidInput { field }",
)
CONFIRM_ENROLLMENT = mutation(
    "confirmEnrollment",
    {"enrollment": "String!", "code": "String!", "password": "String"},
    "__typename ... on Error { message } ... on InvalidInput { field } ... on InvalidCode { attemptsLeft }",
)
UPDATE_SETTINGS = mutation(
    "updateCustomerSettings",
    {"customerId": "ID!", "input": "CustomerSettingsInput!"},
    "__typename ... on Error { message } ... on InvalidInput { field }"
    " ... on CustomerSettingsUpdated { customer { settings { enforceTwoFactor allowedMethods rememberDeviceDays } } }",
)
REQUEST_PASSWORD_RESET = mutation(
    "requestPasswordReset",
    {"email": "String!"},
    "__typename ... on Error { message } ... on InvalidInput { field } ... on PasswordResetRequested { message }",
)
UPDATE_PROFILE = mutation(
    "updateProfile",
    {"locale": "String!"},
    "__typename ... on Error { message } ... on InvalidInput { field } ... on ProfileUpdated { user { locale } }",
)
RESET_PASSWORD = mutation(
    "resetPassword",
    {"token": "String!", "newPassword": "String!"},
    "__typename ... on Error { message } ... on InvalidInput { field }",
)
REPORT_UNRECOGNIZED_CHANGE = mutation("reportUnrecognizedChange", {"token": "String!"})
REAUTHENTICATE = mutation(
    "reauthenticate",
    {"method": "String!", "code": "String!"},
    "__typename ... on Error { message } ... on InvalidCode { attemptsLeft }",
)
SEND_REAUTHENTICATION_CODE = mutation("sendReauthenticationCode", {"method": "String!"})
BEGIN_REAUTHENTICATION = mutation("beginReauthentication", {"method": "String!"})
REGENERATE_RECOVERY_CODES = "mutation Hostile { regenerateRecoveryCodes { __typename ... on Error { message } } }"
CHANGE_PASSWORD = mutation(
    "changePassword",
    {"currentPassword": "String!", "newPassword": "String!"},
    "__typename ... on Error { message } ... on InvalidInput { field } ... on ReauthenticationRequired { methods }"
    " ... on PasswordChanged { session { assurance } }",
)
REQUEST_EMAIL_CHANGE = mutation(
    "requestEmailChange",
    {"newEmail": "String!"},
    "__typename ... on Error { message } ... on InvalidInput { field } ... on ReauthenticationRequired { methods }"
    " ... on EmailChangeRequested { sentTo expiresAt }",
)
CONFIRM_EMAIL_CHANGE = mutation(
    "confirmEmailChange",
    {"token": "String!"},
    "__typename ... on Error { message } ... on EmailChanged { user { email } }",
)
ADD_FACTOR = mutation(
    "addFactor",
    {"method": "String!", "phoneNumber": "String"},
    "__typename ... on Error { message } ... on InvalidInput { field } ... on ReauthenticationRequired { methods }",
)
CONFIRM_FACTOR = mutation(
    "confirmFactor",
    {"enrollment": "String!", "code": "String!", "label": "String"},
    "__typename ... on Error { message } ... on InvalidInput { field } ... on InvalidCode { attemptsLeft }"
    " ... on ReauthenticationRequired { methods }",
)
_FACTOR_RESULT = (
    "__typename ... on Error { message } ... on InvalidInput { field } ... on ReauthenticationRequired { methods }"
    " ... on FactorUpdated { user { secondFactors { id label } } }"
)
RENAME_FACTOR = mutation("renameFactor", {"id": "ID!", "label": "String!"}, _FACTOR_RESULT)
REMOVE_FACTOR = mutation("removeFactor", {"id": "ID!"}, _FACTOR_RESULT)
# R17: both answer a scalar, not a union: false / 0 for anything that is not the caller's own live session.
END_SESSION = "mutation Hostile($id: ID!) { endSession(id: $id) }"
MUTATIONS["endSession"] = (END_SESSION, {"id": "ID!"})
END_OTHER_SESSIONS = "mutation Hostile { endOtherSessions }"
# R18: a scalar too: false for anything that is not one of the caller's own remembered devices.
FORGET_DEVICE = "mutation Hostile($id: ID!) { forgetDevice(id: $id) }"
MUTATIONS["forgetDevice"] = (FORGET_DEVICE, {"id": "ID!"})
CUSTOMER = "query Hostile($id: ID!) { customer(id: $id) { id name settings { enforceTwoFactor } } }"
INVITATION = "query Hostile($token: String!) { invitation(token: $token) { email methods { id } } }"
INVITE_USER = mutation(
    "inviteUser",
    {
        "customerId": "ID!",
        "email": "String!",
        "level": "MembershipLevel!",
        "locale": "String",
        "loginMethod": "LoginMethod",
    },
    "__typename ... on Error { message } ... on InvalidInput { field }",
)
_MEMBER_ARGUMENTS = {"customerId": "ID!", "userId": "ID!"}
RESEND_INVITATION = mutation(
    "resendInvitation", _MEMBER_ARGUMENTS, "__typename ... on Error { message } ... on InvalidInput { field }"
)
REMOVE_MEMBER = mutation(
    "removeMember", _MEMBER_ARGUMENTS, "__typename ... on Error { message } ... on InvalidInput { field }"
)
SET_MEMBER_LEVEL = mutation(
    "setMemberLevel",
    {**_MEMBER_ARGUMENTS, "level": "MembershipLevel!"},
    "__typename ... on Error { message } ... on InvalidInput { field }",
)
SEND_PASSWORD_RESET = mutation(
    "sendPasswordReset", _MEMBER_ARGUMENTS, "__typename ... on Error { message } ... on InvalidInput { field }"
)
ACCEPT_INVITATION = mutation("acceptInvitation", {"invitation": "String!"})
