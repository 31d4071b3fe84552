"""Per-client-address rate limits: in one process, shared through Redis, and when Redis fails."""

from __future__ import annotations

import re

import httpx
import pytest
import redis.asyncio as aioredis
from graphql import build_schema as parse_sdl

from gql_server import limits
from gql_server.ratelimit import Action
from gql_server.settings import Settings

from .conftest import REDIS_TEST_URL
from .graphql import GraphQLClient
from .test_schema import SCHEMA_FILE

PASSWORD = "correct horse battery"


def client_for(app, ip: str) -> GraphQLClient:
    """Another frontend, connecting from `ip`."""
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    return GraphQLClient(httpx.AsyncClient(transport=transport, base_url="http://testserver"))


class TestPerAddress:
    @pytest.fixture
    def settings_overrides(self):
        return {"rate_limit_login": "3/minute", "rate_limit_request_conversion": "2/minute"}

    async def test_logins_from_one_address_are_limited_with_a_true_retry_after(self, app, client):
        results = [await client.login("nobody@example.com", "wrong-guess") for _ in range(4)]

        assert [r["__typename"] for r in results] == ["InvalidCredentials"] * 3 + ["TooManyAttempts"]
        assert 1 <= results[3]["retryAfterSeconds"] <= 60
        other = client_for(app, "198.51.100.9")
        assert (await other.login("nobody@example.com", "wrong-guess"))["__typename"] == "InvalidCredentials"

    async def test_x_forwarded_for_is_ignored_without_trusted_proxies(self, client):
        kinds = []
        for i in range(4):
            response = await client.http.post(
                "/graphql",
                json={"query": 'mutation { login(email: "n@example.com", password: "x") { __typename } }'},
                headers={"x-forwarded-for": f"192.0.2.{i}"},
            )
            kinds.append(response.json()["data"]["login"]["__typename"])

        assert kinds[-1] == "TooManyAttempts"

    async def test_request_conversion_is_limited_too(self, client):
        results = [
            (await client.run("RequestConversion", ticket="not-a-ticket", email="a@example.com"))["requestConversion"]
            for _ in range(3)
        ]

        assert [r["__typename"] for r in results] == ["ChallengeExpired", "ChallengeExpired", "TooManyAttempts"]


class TestOneSettingPerMutation:
    """Architecture: one setting per limited mutation, RATE_LIMIT_<MUTATION> in upper snake case."""

    @pytest.fixture
    def settings_overrides(self):
        return {"rate_limit_request_password_reset": "2/minute", "rate_limit_reauthenticate": "2/minute"}

    def test_each_limited_action_is_a_mutation_with_its_own_setting(self):
        mutations = set(parse_sdl(SCHEMA_FILE.read_text()).mutation_type.fields)
        for action in Action:
            camel = re.sub(r"_(.)", lambda m: m.group(1).upper(), action.value)
            assert camel in mutations, action
            assert f"rate_limit_{action.value}" in Settings.model_fields, action
            assert (
                getattr(limits, f"RATE_LIMIT_{action.value.upper()}")
                == Settings.model_fields[f"rate_limit_{action.value}"].default
            )

    async def test_r16_requesting_and_using_reset_links_have_budgets_of_their_own(self, client):
        asked = [
            (await client.run("RequestPasswordReset", email="nobody@example.com"))["requestPasswordReset"]
            for _ in range(3)
        ]
        used = (await client.run("ResetPassword", token="not-a-token", newPassword="a fine new password"))[
            "resetPassword"
        ]

        assert [r["__typename"] for r in asked] == ["PasswordResetRequested"] * 2 + ["TooManyAttempts"]
        assert used["__typename"] == "ChallengeExpired"

    async def test_r14_reauthenticate_is_limited_per_address(self, client):
        results = [
            (await client.run("Reauthenticate", method="totp", code="123456"))["reauthenticate"] for _ in range(3)
        ]

        assert [r["__typename"] for r in results] == ["AuthenticationRequired"] * 2 + ["TooManyAttempts"]


class TestTrustedProxy:
    @pytest.fixture
    def settings_overrides(self):
        return {"rate_limit_login": "2/minute", "trusted_proxies": "203.0.113.7"}

    async def test_a_trusted_proxy_names_the_client(self, client):
        async def login_from(ip: str) -> str:
            response = await client.http.post(
                "/graphql",
                json={"query": 'mutation { login(email: "n@example.com", password: "x") { __typename } }'},
                headers={"x-forwarded-for": ip},
            )
            return str(response.json()["data"]["login"]["__typename"])

        first = [await login_from("192.0.2.1") for _ in range(3)]
        second = await login_from("192.0.2.2")

        assert first == ["InvalidCredentials", "InvalidCredentials", "TooManyAttempts"]
        assert second == "InvalidCredentials"


@pytest.fixture
async def clean_redis():
    connection = aioredis.from_url(REDIS_TEST_URL)
    try:
        await connection.flushdb()
    except OSError as exc:  # pragma: no cover - depends on the machine
        await connection.aclose()
        pytest.skip(f"no Redis at {REDIS_TEST_URL}: {exc}")
    yield
    await connection.flushdb()
    await connection.aclose()


class TestSharedThroughRedis:
    @pytest.fixture
    def settings_overrides(self, clean_redis):
        return {"rate_limit_login": "3/minute", "redis_url": REDIS_TEST_URL}

    async def test_two_processes_share_one_budget(self, settings, app, client):
        from gql_server.app import create_app

        second_process = create_app(settings)
        async with second_process.router.lifespan_context(second_process):
            other = client_for(second_process, "203.0.113.7")  # the same client address, another worker
            kinds = [(await client.login("n@example.com", "x"))["__typename"] for _ in range(2)]
            kinds += [(await other.login("n@example.com", "x"))["__typename"] for _ in range(2)]
            await other.http.aclose()

        assert kinds == ["InvalidCredentials", "InvalidCredentials", "InvalidCredentials", "TooManyAttempts"]


class TestRedisDown:
    @pytest.fixture
    def settings_overrides(self):
        # Nothing listens on port 1: every Redis call fails at once.
        return {"rate_limit_login": "2/minute", "redis_url": "redis://127.0.0.1:1/0"}

    async def test_the_service_keeps_working_and_still_limits_in_process(self, client, caplog):
        kinds = [(await client.login("n@example.com", "x"))["__typename"] for _ in range(3)]

        assert kinds == ["InvalidCredentials", "InvalidCredentials", "TooManyAttempts"]
        assert "Redis (REDIS_URL) failed" in caplog.text
