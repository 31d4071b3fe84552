"""R13 (the account's own settings): `updateProfile(locale)` sets the language of the user's emails and
of the web client; only the signed-in user, from a session that satisfies the policy (R10)."""

from __future__ import annotations

import pytest

from gql_server.audit import AuditKind
from gql_server.enums import Assurance, ConversionState, LoginMethod, MembershipLevel
from gql_server.models import AuditEvent, EnrolledFactor, User
from gql_server.sessions import create_session

from .flows import PASSWORD


@pytest.fixture
async def carl(make_customer, make_user):
    """A password user of a customer that does not enforce two factors: he signs in with a password."""
    return await make_user(await make_customer("Relaxed Oy"), "carl@example.com", PASSWORD, MembershipLevel.COMPANY)


async def test_r13_a_user_chooses_finnish_and_the_next_email_is_in_finnish(client, mailbox, carl):
    token = await client.login_token("carl@example.com", PASSWORD)

    updated = (await client.run("UpdateProfile", bearer=token, locale="fi"))["updateProfile"]
    await client.run("StartConversion", bearer=token, email="carl@example.com")
    invitation = await mailbox.next_to("carl@example.com", "invitation")

    assert updated == {"__typename": "ProfileUpdated", "user": {"email": "carl@example.com", "locale": "fi"}}
    assert (await User.get(id=carl.id)).locale == "fi"
    assert invitation["Subject"].startswith("Kutsu:")
    event = await AuditEvent.get(kind=AuditKind.PROFILE_UPDATED)
    assert (event.subject_id, event.data["locale"]) == (carl.id, ["en", "fi"])


@pytest.mark.parametrize("locale", ["sv", "FI", "fi-FI", "", " en", "x" * 5000])
async def test_r13_a_language_the_service_does_not_speak_is_invalid_input_and_changes_nothing(client, carl, locale):
    token = await client.login_token("carl@example.com", PASSWORD)

    answer = (await client.run("UpdateProfile", bearer=token, locale=locale))["updateProfile"]

    assert answer["__typename"] == "InvalidInput" and answer["field"] == "locale", answer
    assert "en" in answer["message"] and "fi" in answer["message"]
    assert (await User.get(id=carl.id)).locale == "en"
    assert not await AuditEvent.filter(kind=AuditKind.PROFILE_UPDATED).exists()


async def test_r13_without_a_session_nothing_changes(client, carl):
    answer = (await client.run("UpdateProfile", locale="fi"))["updateProfile"]

    assert answer["__typename"] == "AuthenticationRequired"
    assert (await User.get(id=carl.id)).locale == "en"


async def test_r13_a_restricted_session_cannot_change_the_profile(client, services, carl):
    # R10: a one-factor session of an account that is two-factor now may only see that it must convert.
    await User.filter(id=carl.id).update(login_method=LoginMethod.TWO_FACTOR, conversion=ConversionState.COMPLETED)
    await EnrolledFactor.create(user=carl, method="totp", state_encrypted="x", created_at=carl.created_at)
    session = await create_session(await User.get(id=carl.id), Assurance.PASSWORD, services.sessions)

    answer = (await client.run("UpdateProfile", bearer=session.token, locale="fi"))["updateProfile"]

    assert answer["__typename"] == "AuthenticationRequired"
    assert (await User.get(id=carl.id)).locale == "en"


async def test_r13_choosing_the_language_one_has_changes_and_audits_nothing(client, carl):
    token = await client.login_token("carl@example.com", PASSWORD)

    answer = (await client.run("UpdateProfile", bearer=token, locale="en"))["updateProfile"]

    assert answer["__typename"] == "ProfileUpdated"
    assert not await AuditEvent.filter(kind=AuditKind.PROFILE_UPDATED).exists()
