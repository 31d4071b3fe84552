"""Per-client-address rate limits on the endpoints that guess or send (issue: beyond one process).

On top of the per-account budgets, which live in the database and hold across processes by
themselves (S4-S6), each client address gets a moving-window budget per action, counted with the
`limits` library: in memory for one process, in Redis (REDIS_URL) when several processes share the
load. If Redis fails, the limiter says so in the log and falls back to counting in this process:
the per-account budgets in the database still hold, so nothing fails open.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool, Redis

from gql_server.limits import REDIS_RETRY_SECONDS, REDIS_TIMEOUT_SECONDS

log = logging.getLogger(__name__)


class Action(StrEnum):
    """What is limited per client address."""

    LOGIN = "login"
    VERIFY_SECOND_FACTOR = "verify_second_factor"
    SEND_LOGIN_CODE = "send_login_code"
    REQUEST_CONVERSION = "request_conversion"
    REPORT_UNRECOGNIZED_CHANGE = "report_unrecognized_change"
    REQUEST_PASSWORD_RESET = "request_password_reset"  # noqa: S105 (an action name, not a secret)
    RESET_PASSWORD = "reset_password"  # noqa: S105 (an action name, not a secret)
    REAUTHENTICATE = "reauthenticate"
    SEND_REAUTHENTICATION_CODE = "send_reauthentication_code"
    CONFIRM_EMAIL_CHANGE = "confirm_email_change"
    CHANGE_PASSWORD = "change_password"  # noqa: S105 (an action name, not a secret)
    # R19: counted per customer admin (`admin_key`), not per address.
    INVITE_USER = "invite_user"
    RESEND_INVITATION = "resend_invitation"
    SEND_PASSWORD_RESET = "send_password_reset"  # noqa: S105 (an action name, not a secret)


@dataclass(frozen=True)
class RateLimits:
    """Budgets per client address, in the `limits` notation ("20/minute"), one per limited mutation: the
    RATE_LIMIT_<MUTATION> settings (architecture: one setting per limited mutation), whose defaults are in
    gql_server/limits.py."""

    budgets: Mapping[Action, str]

    @classmethod
    def from_settings(cls, settings: object) -> RateLimits:
        """Each action's budget from its setting, `rate_limit_<action>`; a missing setting stops start-up."""
        return cls({action: str(getattr(settings, f"rate_limit_{action.value}")) for action in Action})

    def item(self, action: Action) -> RateLimitItem:
        """The parsed budget of one action."""
        return parse(self.budgets[action])


def admin_key(user_id: object) -> str:
    """The key of a customer admin's own budget (R19): their account, wherever their requests come from."""
    return f"user:{user_id}"


class ClientRateLimiter:
    """Counts requests per (action, client address) and answers how long a refused one must wait."""

    def __init__(self, limits: RateLimits, redis_url: str | None = None) -> None:
        self._limits = limits
        self._fallback = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        self._pool: ConnectionPool | None = None
        if redis_url:
            # Our own pool (redis-py), so that it is closed with the app, with short timeouts, so that
            # an unreachable Redis costs a request half a second, not a hang.
            self._pool = ConnectionPool.from_url(
                redis_url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
            )
            options: dict[str, Any] = {"connection_pool": self._pool}  # typed narrower than accepted
            storage = RedisStorage(_async_url(redis_url), implementation="redispy", **options)
            self._shared = MovingWindowRateLimiter(storage)
        # While Redis is failing: when to try it again (monotonic seconds); None while it works.
        self._retry_redis_at: float | None = None

    async def hit(self, action: Action, client: str | None) -> int | None:
        """Count one request. None when allowed; otherwise the seconds until the window lets it in."""
        item = self._limits.item(action)
        key = client or "unknown"
        # This process always counts too: if Redis goes away, its window already holds this
        # process's recent requests, so the fallback continues the budget instead of starting anew.
        local = await self._verdict(self._fallback, item, action, key)
        shared = await self._limiter()
        if shared is self._fallback:
            return local
        try:
            return await self._verdict(shared, item, action, key)
        except Exception:
            self._redis_down()
            return local

    @staticmethod
    async def _verdict(limiter: MovingWindowRateLimiter, item: RateLimitItem, action: Action, key: str) -> int | None:
        if await limiter.hit(item, action.value, key):
            return None
        stats = await limiter.get_window_stats(item, action.value, key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def redis_reachable(self) -> bool | None:
        """None without REDIS_URL; otherwise whether Redis answers a PING now (for /readyz)."""
        if self._pool is None:
            return None
        client = Redis(connection_pool=self._pool)  # borrows the pool, does not close it
        try:
            return bool(await client.ping())
        except Exception:
            return False
        finally:
            await client.aclose()

    async def close(self) -> None:
        """Close the Redis connections (when the app stops)."""
        if self._pool is not None:
            await self._pool.aclose()

    async def _limiter(self) -> MovingWindowRateLimiter:
        if self._shared is None:
            return self._fallback
        if self._retry_redis_at is not None:
            # Try Redis again now and then, not on every request; until then, count in this process.
            if time.monotonic() < self._retry_redis_at:
                return self._fallback
            try:
                healthy = await self._shared.storage.check()
            except Exception:
                healthy = False
            if not healthy:
                self._retry_redis_at = time.monotonic() + REDIS_RETRY_SECONDS
                return self._fallback
            log.warning("Redis is reachable again: rate limits are shared across processes once more")
            self._retry_redis_at = None
        return self._shared

    def _redis_down(self) -> None:
        if self._retry_redis_at is None:
            log.error(
                "Redis (REDIS_URL) failed: rate limits are counted in this process until it is back; "
                "the per-account attempt budgets in the database still hold"
            )
        self._retry_redis_at = time.monotonic() + REDIS_RETRY_SECONDS


def _async_url(redis_url: str) -> str:
    # `limits` names its asyncio storages "async+<scheme>".
    return redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
