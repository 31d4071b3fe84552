"""R15: a two-factor user's own factors and recovery codes, each change behind step-up (R14), announced to
the account's address with a "this wasn't me" link (R13, S14), and audited."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gql_server.audit import AuditKind
from gql_server.clock import utcnow
from gql_server.enums import MembershipLevel
from gql_server.limits import STEP_UP_WINDOW
from gql_server.models import AuditEvent, Session
from gql_server.tokens import hash_token

from .flows import PASSWORD, challenge, convert, totp_code, verify
from .mailbox import link_token_in


async def _age(token: str) -> None:
    """The session's second factor was verified longer ago than the step-up window."""
    await Session.filter(token_hash=hash_token(token)).update(
        verified_at=utcnow() - STEP_UP_WINDOW - timedelta(seconds=1)
    )


@pytest.fixture
async def totp_user(client, mailbox, anna):
    """Anna, converted with an authenticator app (her session from the enrollment is verified now)."""
    return await convert(client, mailbox, "anna@example.com", "totp")


async def test_r15_r14_new_recovery_codes_need_a_recent_second_factor(client, mailbox, totp_user):
    await _age(totp_user.token)

    refused = (await client.run("RegenerateRecoveryCodes", bearer=totp_user.token))["regenerateRecoveryCodes"]
    assert refused["__typename"] == "ReauthenticationRequired"
    assert refused["methods"] == ["totp", "recovery_code"]
    assert (await client.run("Viewer", bearer=totp_user.token))["viewer"]["user"]["email"] == "anna@example.com"

    stepped = await client.run(
        "Reauthenticate", bearer=totp_user.token, method="totp", code=totp_code(totp_user.secret, 1)
    )
    assert stepped["reauthenticate"]["__typename"] == "Reauthenticated"
    replaced = (await client.run("RegenerateRecoveryCodes", bearer=totp_user.token))["regenerateRecoveryCodes"]

    assert replaced["__typename"] == "RecoveryCodesReplaced"
    new_codes = replaced["recoveryCodes"]
    assert len(new_codes) == len(totp_user.recovery_codes) and not set(new_codes) & set(totp_user.recovery_codes)
    # S11: the old set is gone, the new one signs in.
    old = await verify(
        client, await challenge(client, "anna@example.com"), "recovery_code", totp_user.recovery_codes[0]
    )
    assert old["__typename"] == "InvalidCode"
    new = await verify(client, await challenge(client, "anna@example.com"), "recovery_code", new_codes[0])
    assert new["__typename"] == "LoginSuccess"
    # S14, R13: the account's address is told, with a "this wasn't me" link.
    notice = await mailbox.next_to("anna@example.com", "recovery_codes_replaced")
    assert link_token_in(notice, "report")
    assert await AuditEvent.filter(kind=AuditKind.RECOVERY_CODES_REPLACED.value).count() == 1


async def test_r15_r14_a_password_user_has_no_recovery_codes_to_replace(client, make_customer, make_user):
    open_customer = await make_customer("Open Oy")
    await make_user(open_customer, "pekka@example.com", PASSWORD, MembershipLevel.COMPANY)
    token = await client.login_token("pekka@example.com", PASSWORD)

    refused = (await client.run("RegenerateRecoveryCodes", bearer=token))["regenerateRecoveryCodes"]

    assert refused == {
        "__typename": "ReauthenticationRequired",
        "message": "This needs a second factor, and this account has none yet.",
        "methods": [],
    }
    client.forget_cookies()
    anonymous = (await client.run("RegenerateRecoveryCodes"))["regenerateRecoveryCodes"]
    assert anonymous["__typename"] == "AuthenticationRequired"
