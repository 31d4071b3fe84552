"""The flows a frontend walks, for any second-factor method: get an invitation, enroll, log in.

A code-checking method (TOTP-like) is driven with a code function the test supplies; a code-delivering
method's code is read from the mail the service sent (or from wherever the test's code function finds it,
e.g. a fake SMS gateway).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .client import GraphQLClient
from .mailbox import Mailbox, code_in, invitation_token_in

# The password the factories give users unless told otherwise.
PASSWORD = "correct horse battery"

# What answers the code for an enrollment: called with the EnrollmentStarted payload (its `secret`,
# `provisioningUri`, `sentTo`, ...); may be async. None: read the code from the enrollment email.
EnrollmentCode = Callable[[dict[str, Any]], str | Awaitable[str]]
# What answers a login code: a code, or a function called after the password step (and after
# sendLoginCode, when the method delivers codes); may be async. None: read it from the login email.
LoginCode = str | Callable[[], str | Awaitable[str]]
# A challenge-response method's client: beginSecondFactor's options in, its response (JSON text) out.
Respond = Callable[[dict[str, Any]], str | Awaitable[str]]


@dataclass
class Enrolled:
    """What a user holds after enrolling: the session token, recovery codes and the service's answers."""

    token: str
    recovery_codes: list[str]
    # The EnrollmentStarted and EnrollmentCompleted answers.
    begun: dict[str, Any]
    result: dict[str, Any]

    @property
    def secret(self) -> str | None:
        """The secret shown during enrollment (code-checking methods), for the test's code function."""
        secret: str | None = self.begun.get("secret")
        return secret


async def request_invitation(client: GraphQLClient, mailbox: Mailbox, email: str, password: str = PASSWORD) -> str:
    """Password login of a user whose customer enforces two factors -> requestConversion -> the invitation
    token from the email."""
    login = await client.login(email, password)
    assert login["__typename"] in {"ConversionRequired", "ConversionPending"}, login
    sent = (await client.run("RequestConversion", ticket=login["ticket"], email=email))["requestConversion"]
    assert sent["__typename"] == "ConversionRequested", sent
    return invitation_token_in(await mailbox.next_to(email, "invitation"))


async def enroll(
    client: GraphQLClient,
    mailbox: Mailbox,
    invitation: str,
    method: str,
    *,
    code: EnrollmentCode | None = None,
    email: str | None = None,
    password: str | None = None,
    phone_number: str | None = None,
) -> Enrolled:
    """beginEnrollment + confirmEnrollment with the right code; the test fails unless both succeed.

    `email`: where the enrollment code is mailed (looked up from the invitation when left out);
    `password`: for invitations that set one; `phone_number`: beginEnrollment's input for methods that
    take one.
    """
    if code is None and email is None:
        email = (await client.run("Invitation", token=invitation))["invitation"]["email"]
    begun = await client.run("BeginEnrollment", invitation=invitation, method=method, phoneNumber=phone_number)
    started: dict[str, Any] = begun["beginEnrollment"]
    assert started["__typename"] == "EnrollmentStarted", started
    if code is None:
        assert email is not None
        typed = code_in(await mailbox.next_to(email, "enrollment_code"))
    else:
        typed = await _answer(code(started))
    confirmed = await client.run("ConfirmEnrollment", enrollment=started["enrollment"], code=typed, password=password)
    completed: dict[str, Any] = confirmed["confirmEnrollment"]
    assert completed["__typename"] == "EnrollmentCompleted", completed
    return Enrolled(completed["token"], completed["recoveryCodes"], started, completed)


async def challenge(client: GraphQLClient, email: str, password: str = PASSWORD) -> str:
    """Password step of a two-factor login: the challenge token."""
    login = await client.login(email, password)
    assert login["__typename"] == "SecondFactorRequired", login
    token: str = login["challenge"]
    return token


async def verify(client: GraphQLClient, challenge_token: str, method: str, code: str) -> dict[str, Any]:
    """The verifySecondFactor result (any union member)."""
    data = await client.run("VerifySecondFactor", challenge=challenge_token, method=method, code=code)
    result: dict[str, Any] = data["verifySecondFactor"]
    return result


async def log_in(
    client: GraphQLClient,
    mailbox: Mailbox,
    email: str,
    method: str,
    *,
    code: LoginCode | None = None,
    password: str = PASSWORD,
    send_code: bool | None = None,
    respond: Respond | None = None,
) -> dict[str, Any]:
    """A whole two-factor login with `method`; the verifySecondFactor result (any union member).

    `send_code`: ask the service to deliver a code first (sendLoginCode); by default only when no `code`
    is given, which then is read from the login email to `email`. `respond`: for a challenge-response
    method (a passkey), the client: it gets beginSecondFactor's options and answers the response as JSON
    text, sent as the code (enroll's `code` gets EnrollmentStarted, options included, the same way).
    """
    token = await challenge(client, email, password)
    if respond is not None:
        begun = (await client.run("BeginSecondFactor", challenge=token, method=method))["beginSecondFactor"]
        assert begun["__typename"] == "SecondFactorChallenge", begun
        return await verify(client, token, method, await _answer(respond(begun["options"])))
    if send_code if send_code is not None else code is None:
        sent = (await client.run("SendLoginCode", challenge=token, method=method))["sendLoginCode"]
        assert sent["__typename"] == "CodeSent", sent
    if code is None:
        typed = code_in(await mailbox.next_to(email, "login_code"))
    elif isinstance(code, str):
        typed = code
    else:
        typed = await _answer(code())
    return await verify(client, token, method, typed)


async def _answer(code: str | Awaitable[str]) -> str:
    return code if isinstance(code, str) else await code
