"""Test helpers that walk the flows as a frontend does: convert an account, log in with two factors.

The method-neutral ones are the installed test kit's (gql_server.testing.flows), the ones plugin authors use;
here they learn the built-in TOTP's codes.
"""

from __future__ import annotations

import time
from typing import Any

import pyotp

from gql_server.testing import flows as kit
from gql_server.testing.flows import PASSWORD, challenge, request_invitation, verify

from .graphql import GraphQLClient
from .mailbox import Mailbox

__all__ = ["PASSWORD", "Converted", "challenge", "convert", "enroll", "request_invitation", "totp_code", "verify"]

# What a user holds after converting: the factor's secret (TOTP), recovery codes, a session.
Converted = kit.Enrolled


def totp_code(secret: str, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows now (or `steps_ahead` 30-second steps later)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def _app_code(begun: dict[str, Any]) -> str:
    return totp_code(begun["secret"])


async def enroll(
    client: GraphQLClient,
    mailbox: Mailbox,
    invitation: str,
    method: str = "totp",
    *,
    email: str | None = None,
    password: str | None = None,
) -> Converted:
    """beginEnrollment + confirmEnrollment with the right code (TOTP's from the app, others' from the mail)."""
    code = _app_code if method == "totp" else None
    return await kit.enroll(client, mailbox, invitation, method, code=code, email=email, password=password)


async def convert(
    client: GraphQLClient, mailbox: Mailbox, email: str, method: str = "totp", password: str = PASSWORD
) -> Converted:
    """The whole conversion of a password user whose customer enforces two factors."""
    invitation = await request_invitation(client, mailbox, email, password)
    converted = await enroll(client, mailbox, invitation, method, email=email)
    await mailbox.next_to(email, "factor_added")
    return converted
