"""Per-user and per-challenge send limits hold exactly under parallel requests.

These limits keep the service from being used to flood someone's inbox: 5 invitations an hour, 10
enrollments begun an hour, 5 codes a login challenge. Each is counted while the user's (or the
challenge's) row is held, so requests that arrive together are counted one after another: in one
process on SQLite, and across processes and connections on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from gql_server.enums import TokenPurpose
from gql_server.limits import CODES_PER_CHALLENGE, ENROLLMENTS_PER_HOUR, INVITATIONS_PER_HOUR
from gql_server.models import AuditEvent, OneTimeCode, Token
from gql_server.tokens import hash_token

from .flows import PASSWORD, challenge, convert, request_invitation
from .mailbox import invitation_token_in

PARALLEL = 12


async def test_parallel_invitation_requests_send_at_most_the_hourly_limit(client, mailbox, acme, make_user):
    await make_user(acme, "anna@example.com", PASSWORD)
    tickets = [(await client.login("anna@example.com", PASSWORD))["ticket"] for _ in range(PARALLEL)]

    results = await asyncio.gather(
        *(client.run("RequestConversion", ticket=ticket, email="anna@example.com") for ticket in tickets)
    )

    kinds = Counter(r["requestConversion"]["__typename"] for r in results)
    # Each invitation replaces the one before (S13); one replaced before its mail went out is never mailed
    # (S36: a delivered mail points at a live token), and its request is told so (ChallengeExpired).
    assert kinds["TooManyAttempts"] == PARALLEL - INVITATIONS_PER_HOUR
    assert kinds["ConversionRequested"] + kinds["ChallengeExpired"] == INVITATIONS_PER_HOUR
    assert kinds["ConversionRequested"] >= 1
    assert await Token.filter(purpose=TokenPurpose.INVITATION).count() == INVITATIONS_PER_HOUR
    await asyncio.sleep(0.3)  # any further message would have arrived by now
    assert 1 <= len(mailbox.messages) <= kinds["ConversionRequested"]
    live = await Token.filter(purpose=TokenPurpose.INVITATION, used_at=None).values_list("token_hash", flat=True)
    assert [hash_token(invitation_token_in(mailbox.messages[-1]))] == list(live)
    # Only one of them started the conversion; the others re-sent it.
    assert await AuditEvent.filter(kind="conversion_started").count() == 1


async def test_parallel_enrollments_begin_at_most_the_hourly_limit(client, mailbox, acme, make_user):
    await make_user(acme, "anna@example.com", PASSWORD)
    invitation = await request_invitation(client, mailbox, "anna@example.com")

    results = await asyncio.gather(
        *(client.run("BeginEnrollment", invitation=invitation, method="totp") for _ in range(PARALLEL))
    )

    kinds = Counter(r["beginEnrollment"]["__typename"] for r in results)
    assert kinds == {"EnrollmentStarted": ENROLLMENTS_PER_HOUR, "TooManyAttempts": PARALLEL - ENROLLMENTS_PER_HOUR}
    assert await Token.filter(purpose=TokenPurpose.ENROLLMENT).count() == ENROLLMENTS_PER_HOUR


async def test_parallel_code_requests_send_at_most_the_challenges_limit(client, mailbox, acme, make_user):
    await make_user(acme, "anna@example.com", PASSWORD)
    await convert(client, mailbox, "anna@example.com", method="email_code")
    mailbox.clear()
    token = await challenge(client, "anna@example.com")

    results = await asyncio.gather(
        *(client.run("SendLoginCode", challenge=token, method="email_code") for _ in range(PARALLEL))
    )

    kinds = Counter(r["sendLoginCode"]["__typename"] for r in results)
    assert kinds == {"CodeSent": CODES_PER_CHALLENGE, "TooManyAttempts": PARALLEL - CODES_PER_CHALLENGE}
    assert len(await mailbox.wait_for(CODES_PER_CHALLENGE)) == CODES_PER_CHALLENGE
    await asyncio.sleep(0.2)
    assert len(mailbox.messages) == CODES_PER_CHALLENGE
    # S10: a new code replaces the old one, so exactly one is live.
    assert await OneTimeCode.filter(used_at=None).count() == 1
