"""Test helpers that walk the flows as a frontend does: convert an account, log in with two factors."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pyotp

from .graphql import GraphQLClient
from .mailbox import Mailbox, code_in, invitation_token_in

PASSWORD = "correct horse battery"


def totp_code(secret: str, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows now (or `steps_ahead` 30-second steps later)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


@dataclass
class Converted:
    """What a user holds after converting: the factor's secret (TOTP), recovery codes, a session."""

    token: str
    recovery_codes: list[str]
    secret: str | None
    result: dict[str, Any]
    begun: dict[str, Any]


async def request_invitation(client: GraphQLClient, mailbox: Mailbox, email: str, password: str = PASSWORD) -> str:
    """Password login under enforcement -> requestConversion -> the invitation token from the email."""
    login = await client.login(email, password)
    assert login["__typename"] in {"ConversionRequired", "ConversionPending"}, login
    sent = (await client.run("RequestConversion", ticket=login["ticket"], email=email))["requestConversion"]
    assert sent["__typename"] == "ConversionRequested", sent
    return invitation_token_in(await mailbox.next_to(email, "invitation"))


async def enroll(
    client: GraphQLClient,
    mailbox: Mailbox,
    invitation: str,
    method: str = "totp",
    *,
    email: str | None = None,
    password: str | None = None,
) -> Converted:
    """beginEnrollment + confirmEnrollment with the right code."""
    begun = (await client.run("BeginEnrollment", invitation=invitation, method=method))["beginEnrollment"]
    assert begun["__typename"] == "EnrollmentStarted", begun
    if method == "totp":
        code = totp_code(begun["secret"])
    else:
        assert email is not None
        code = code_in(await mailbox.next_to(email, "enrollment_code"))
    done = (await client.run("ConfirmEnrollment", enrollment=begun["enrollment"], code=code, password=password))[
        "confirmEnrollment"
    ]
    assert done["__typename"] == "EnrollmentCompleted", done
    return Converted(done["token"], done["recoveryCodes"], begun["secret"], done, begun)


async def convert(
    client: GraphQLClient, mailbox: Mailbox, email: str, method: str = "totp", password: str = PASSWORD
) -> Converted:
    """The whole conversion of a password user whose customer enforces two factors."""
    invitation = await request_invitation(client, mailbox, email, password)
    converted = await enroll(client, mailbox, invitation, method, email=email)
    await mailbox.next_to(email, "factor_added")
    return converted


async def challenge(client: GraphQLClient, email: str, password: str = PASSWORD) -> str:
    """Password step of a two-factor login: the challenge token."""
    login = await client.login(email, password)
    assert login["__typename"] == "SecondFactorRequired", login
    token: str = login["challenge"]
    return token


async def verify(client: GraphQLClient, challenge_token: str, method: str, code: str) -> dict[str, Any]:
    """The verifySecondFactor result."""
    data = await client.run("VerifySecondFactor", challenge=challenge_token, method=method, code=code)
    result: dict[str, Any] = data["verifySecondFactor"]
    return result
