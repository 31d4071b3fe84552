"""Outages: Redis going away and coming back; PostgreSQL connections killed under the service; a mail
server that is down or refuses an address."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller

from gql_server import ratelimit
from gql_server.enums import ConversionState, TokenPurpose
from gql_server.models import Token, User

from .conftest import PG_URL
from .graphql import operation
from .local_services import free_port
from .mailbox import Mailbox

PASSWORD = "correct horse battery"


class TestRedisOutage:
    @pytest.fixture
    def settings_overrides(self, own_redis, monkeypatch):
        monkeypatch.setattr(ratelimit, "REDIS_RETRY_SECONDS", 0.2)
        return {"rate_limit_login": "4/minute", "redis_url": own_redis.url}

    async def test_limits_keep_holding_while_redis_is_down_and_it_is_used_again_when_back(
        self, client, own_redis, caplog
    ):
        async def attempt() -> str:
            return str((await client.login("n@example.com", "x"))["__typename"])

        assert await attempt() == "InvalidCredentials"  # counted in Redis
        own_redis.stop()
        during = [await attempt() for _ in range(4)]
        assert "Redis (REDIS_URL) failed" in caplog.text
        # This process counted all along: the budget of 4 runs out on time, nothing fails open.
        assert during == ["InvalidCredentials"] * 3 + ["TooManyAttempts"]
        own_redis.start()
        await asyncio.sleep(0.3)
        assert await attempt() == "InvalidCredentials"  # a fresh Redis: its window is empty
        assert "Redis is reachable again" in caplog.text


async def _kill_connections(database_url: str) -> int:
    dsn = database_url.replace("postgres://", "postgresql://", 1)
    name = dsn.rsplit("/", 1)[1]
    conn = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await conn.close()
    return len(rows)


async def test_postgres_connections_killed_under_load_recover_without_a_restart(
    settings, client, make_customer, make_user
):
    if not settings.database_url.startswith("postgres"):
        pytest.skip("PostgreSQL only")
    assert PG_URL
    await make_user(await make_customer(), "anna@example.com", PASSWORD)
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "LoginSuccess"

    killed = await _kill_connections(settings.database_url)
    responses = [await client.post("{ viewer { user { email } } }") for _ in range(3)]
    after = await client.login("anna@example.com", PASSWORD)

    assert killed >= 1
    for response in responses:
        # Either the pool reconnected at once, or the caller is told to retry: never "unexpected".
        for error in response.json().get("errors") or []:
            assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE", "retryable": True}, error
    assert after["__typename"] == "LoginSuccess"


class RefusingMailbox(Mailbox):
    """A mail server that refuses every recipient for good (550), as for an address it does not know."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return "550 5.1.1 No such user"


@pytest.fixture
def refusing_smtp() -> Iterator[Mailbox]:
    port = free_port()
    mailbox = RefusingMailbox(f"smtp://127.0.0.1:{port}")
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox
    controller.stop()


async def _conversion_request(client, make_customer, make_user) -> dict[str, Any]:
    """A password user under enforcement asks for the invitation; the raw GraphQL answer."""
    await make_user(await make_customer("Acme Oy", enforce=True), "anna@example.com", PASSWORD)
    ticket = (await client.login("anna@example.com", PASSWORD))["ticket"]
    response = await client.post(operation("RequestConversion"), {"ticket": ticket, "email": "anna@example.com"})
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


async def _nothing_changed() -> None:
    user = await User.get(email="anna@example.com")
    assert user.conversion is ConversionState.NOT_STARTED
    assert await Token.filter(purpose=TokenPurpose.INVITATION).count() == 0


class TestMailServerDown:
    @pytest.fixture
    def settings_overrides(self):
        return {"smtp_url": f"smtp://127.0.0.1:{free_port()}"}  # nobody listens there

    async def test_an_invitation_that_cannot_be_sent_is_a_retryable_error_and_changes_nothing(
        self, client, make_customer, make_user, caplog
    ):
        answer = await _conversion_request(client, make_customer, make_user)

        [error] = answer["errors"]
        assert error["extensions"] == {"code": "MAIL_NOT_DELIVERED", "retryable": True}
        assert "Retry" in error["message"]
        await _nothing_changed()
        assert "mail not delivered at requestConversion" in caplog.text
        assert "Traceback" not in caplog.text


class TestMailServerRefusesTheAddress:
    @pytest.fixture
    def settings_overrides(self, refusing_smtp):
        return {"smtp_url": refusing_smtp.url}

    async def test_a_refused_recipient_is_not_retryable_and_changes_nothing(self, client, make_customer, make_user):
        answer = await _conversion_request(client, make_customer, make_user)

        [error] = answer["errors"]
        assert error["extensions"] == {"code": "MAIL_NOT_DELIVERED", "retryable": False}
        assert "refused this address" in error["message"]
        await _nothing_changed()
