"""Outages: Redis going away and coming back; PostgreSQL connections killed under the service. (Mail
servers that are down, slow, hung or refusing: tests/test_outbox.py.)"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from gql_server import ratelimit

from .conftest import PG_URL

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
