"""Issue 16: a method declares what it asks for at enrollment as a JSON Schema (`enrollment_input`, shown
as SecondFactorMethod.enrollmentInput); beginEnrollment's and addFactor's `input` is checked against it,
with `phoneNumber` the documented alias of input.phoneNumber. Bad input is InvalidInput naming the field,
and nothing is stored."""

from __future__ import annotations

import pytest

from gql_server.models import EnrolledFactor, Token

from .flows import PASSWORD, request_invitation
from .plugin_fakes import Serial
from .test_plugin_kit import FAKES


@pytest.fixture
def settings_overrides():
    return FAKES


@pytest.fixture(autouse=True)
def seen():
    Serial.SEEN.clear()


async def _invitation(client, mailbox, make_user, acme) -> str:
    await make_user(acme, "anna@example.com", PASSWORD)
    return await request_invitation(client, mailbox, "anna@example.com")


async def _begin(client, invitation: str, method: str, **more) -> dict:
    result: dict = (await client.run("BeginEnrollment", invitation=invitation, method=method, **more))[
        "beginEnrollment"
    ]
    return result


async def test_methods_show_the_input_they_ask_for(client):
    methods = {m["id"]: m for m in (await client.run("SecondFactorMethods"))["secondFactorMethods"]}

    assert methods["serial"]["enrollmentInput"]["required"] == ["serialNumber"]
    assert methods["totp"]["enrollmentInput"] is None


async def test_the_input_reaches_the_method_when_it_matches_the_schema(client, mailbox, make_user, acme):
    invitation = await _invitation(client, mailbox, make_user, acme)

    begun = await _begin(client, invitation, "serial", input={"serialNumber": "AB12CD34"})
    done = (await client.run("ConfirmEnrollment", enrollment=begun["enrollment"], code="12CD34"))["confirmEnrollment"]

    assert begun["__typename"] == "EnrollmentStarted"
    assert Serial.SEEN == [{"serialNumber": "AB12CD34"}]
    assert done["__typename"] == "EnrollmentCompleted"


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({}, "serialNumber"),
        ({"serialNumber": "short"}, "serialNumber"),
        ({"serialNumber": 12345678}, "serialNumber"),
        ({"serialNumber": "AB12CD34", "extra": "x"}, "input"),
        ([1, 2], "input"),
        ("AB12CD34", "input"),
    ],
)
async def test_input_that_does_not_match_is_invalid_and_stores_nothing(client, mailbox, make_user, acme, given, field):
    invitation = await _invitation(client, mailbox, make_user, acme)
    enrollments = await Token.filter(purpose="enrollment").count()

    refused = await _begin(client, invitation, "serial", input=given)

    assert (refused["__typename"], refused["field"]) == ("InvalidInput", field)
    assert refused["message"]
    assert Serial.SEEN == []
    assert await Token.filter(purpose="enrollment").count() == enrollments


async def test_a_method_that_asks_for_nothing_takes_nothing_but_the_alias(client, mailbox, make_user, acme):
    invitation = await _invitation(client, mailbox, make_user, acme)

    refused = await _begin(client, invitation, "totp", input={"anything": 1})
    begun = await _begin(client, invitation, "totp", input={})

    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "input")
    assert begun["__typename"] == "EnrollmentStarted"


async def test_a_method_whose_schema_is_broken_is_not_offered(client, mailbox, make_user, acme):
    invitation = await _invitation(client, mailbox, make_user, acme)

    refused = await _begin(client, invitation, "brokenschema", input={})

    assert refused["__typename"] == "MethodNotAvailable"
    assert not await EnrolledFactor.filter(method="brokenschema").exists()


async def test_a_schema_pointing_at_a_url_is_never_fetched(client, mailbox, make_user, acme):
    invitation = await _invitation(client, mailbox, make_user, acme)

    refused = await _begin(client, invitation, "remoteref", input={"serialNumber": "AB12CD34"})

    # The empty registry resolves nothing remote: no request leaves the service (port 9 would refuse it).
    assert refused["__typename"] == "MethodNotAvailable"


async def test_oversized_input_is_refused_before_it_is_checked(client, mailbox, make_user, acme):
    invitation = await _invitation(client, mailbox, make_user, acme)

    refused = await _begin(client, invitation, "serial", input={f"k{n}": "x" * 40 for n in range(200)})

    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "input")
    assert "bytes" in refused["message"]


@pytest.mark.parametrize("method", ["badoptions", "badstate"])
async def test_a_draft_the_core_cannot_keep_or_show_is_the_plugins_failure(
    client, mailbox, make_user, acme, method, caplog
):
    invitation = await _invitation(client, mailbox, make_user, acme)

    refused = await _begin(client, invitation, method)

    assert refused["__typename"] == "MethodNotAvailable"
    assert f"method {method} answered begin_enrollment with a draft" in caplog.text
