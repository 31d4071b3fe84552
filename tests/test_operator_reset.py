"""S34: an operator's reset (R9's last resort) never hands the account to the mailbox alone.

The reset's invitation was not asked for with the account's password, so finishing it needs that
password, under the login's own limits; an invitation re-sent after a password login does not.
"""

from __future__ import annotations

import pytest

from gql_server.models import Session, User

from .flows import PASSWORD, convert, totp_code
from .graphql import GraphQLClient
from .mailbox import Mailbox, invitation_token_in


@pytest.fixture
async def reset_anna(client, mailbox, operator, make_customer, make_user) -> str:
    """Anna converted with TOTP, lost her phone, and an operator reset her factors: the invitation."""
    await make_user(await make_customer("Acme Oy", enforce=True), "anna@example.com", PASSWORD)
    await convert(client, mailbox, "anna@example.com", "totp")
    await operator.reset_factors("anna@example.com")
    return invitation_token_in(await mailbox.next_to("anna@example.com", "invitation"))


async def _begin(client: GraphQLClient, invitation: str) -> dict[str, object]:
    begun = (await client.run("BeginEnrollment", invitation=invitation, method="totp"))["beginEnrollment"]
    assert begun["__typename"] == "EnrollmentStarted", begun
    return begun


async def _confirm(client: GraphQLClient, begun: dict[str, object], password: str | None) -> dict[str, object]:
    data = await client.run(
        "ConfirmEnrollment", enrollment=begun["enrollment"], code=totp_code(str(begun["secret"])), password=password
    )
    result = data["confirmEnrollment"]
    assert isinstance(result, dict)
    return result


async def test_s34_the_mailbox_alone_does_not_finish_an_operator_reset(client, reset_anna):
    shown = (await client.run("Invitation", token=reset_anna))["invitation"]
    assert (shown["passwordRequired"], shown["password"]) == (True, "CURRENT")
    begun = await _begin(client, reset_anna)

    missing = await _confirm(client, begun, None)
    wrong = await _confirm(client, begun, "not her password at all")

    assert (missing["__typename"], missing["field"]) == ("InvalidInput", "password")
    assert wrong["__typename"] == "InvalidCredentials"
    anna = await User.get(email="anna@example.com")
    assert not await Session.filter(user_id=anna.id, ended_at=None).exists()
    done = await _confirm(client, begun, PASSWORD)
    assert done["__typename"] == "EnrollmentCompleted"


async def test_s34_guessing_the_password_there_locks_like_a_login(client, reset_anna):
    begun = await _begin(client, reset_anna)

    guesses = [(await _confirm(client, begun, f"wrong guess {i}"))["__typename"] for i in range(3)]
    right_but_locked = await _confirm(client, begun, PASSWORD)

    assert guesses == ["InvalidCredentials"] * 3
    # R12/S4: the same password step, the same lock; the right password waits like at the login.
    assert right_but_locked["__typename"] == "InvalidCredentials"
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "InvalidCredentials"
    assert (await User.get(email="anna@example.com")).password_locked_until is not None


async def test_s34_an_invitation_asked_for_with_the_password_needs_no_second_proof(
    client, mailbox: Mailbox, reset_anna
):
    # After the reset the password login leads to re-sending the invitation (R9): that proves it already.
    pending = await client.login("anna@example.com", PASSWORD)
    assert pending["__typename"] == "ConversionPending"
    sent = (await client.run("RequestConversion", ticket=pending["ticket"], email="anna@example.com"))[
        "requestConversion"
    ]
    assert sent["__typename"] == "ConversionRequested"
    invitation = invitation_token_in(await mailbox.next_to("anna@example.com", "invitation"))

    assert (await client.run("Invitation", token=invitation))["invitation"]["password"] == "NONE"
    assert (await _confirm(client, await _begin(client, invitation), None))["__typename"] == "EnrollmentCompleted"
