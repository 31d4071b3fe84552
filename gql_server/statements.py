"""Prebuilt statements of the second step (P3): the conditional updates that count a challenge's attempts
(S5), end a token once, and accept a factor's counter once with its new state (S8); `run`, which runs them
(and the lockout's, auth/lockout.py) on either dialect. The reads are lookups.py's.

The ORM would build each from its query builder (pypika) on every call: with the round trips, most of a
second step's time besides GraphQL. The SQL here is written once, with `$n` placeholders (PostgreSQL's;
SQLite reads `?n` the same way), from column names of the models only. Each statement is atomic on its own
and runs on the connection of the caller's transaction when there is one.
"""

from __future__ import annotations

import uuid
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from gql_server.clock import utcnow
from gql_server.models import EnrolledFactor, Token

# $1 token id, $2 now, $3 the limit. What the attempts came to, or no row when the token is dead.
SPEND_ATTEMPT = (
    'UPDATE "token" SET "attempts" = "attempts" + 1 '
    'WHERE "id" = $1 AND "used_at" IS NULL AND "expires_at" > $2 AND "attempts" < $3 RETURNING "attempts"'
)
# $1 token id, $2 now.
USE_TOKEN = 'UPDATE "token" SET "used_at" = $2 WHERE "id" = $1 AND "used_at" IS NULL AND "expires_at" > $2'  # noqa: S105
# $1 factor id, $2 the counter, $3 now; and $4 the new state, encrypted.
ACCEPT_COUNTER = (
    'UPDATE "enrolled_factor" SET "last_counter" = $2, "last_used_at" = $3 '
    'WHERE "id" = $1 AND ("last_counter" IS NULL OR "last_counter" < $2)'
)
ACCEPT_COUNTER_AND_STATE = (
    'UPDATE "enrolled_factor" SET "last_counter" = $2, "last_used_at" = $3, "state_encrypted" = $4 '
    'WHERE "id" = $1 AND ("last_counter" IS NULL OR "last_counter" < $2)'
)


async def run(db: BaseDBAsyncClient, sql: str, values: list[Any]) -> tuple[int, list[tuple[Any, ...]]]:
    """One prebuilt statement on `db`: how many rows it touched (or read, or returned) and the rows it read
    or returned."""
    if db.capabilities.dialect != "postgres":
        # SQLite numbers its parameters ?1, ?2 and stores UUIDs as text.
        sql = sql.replace("$", "?")
        values = [str(v) if isinstance(v, uuid.UUID) else v for v in values]
    if " RETURNING " in sql:
        # Tortoise's execute_query drops what an UPDATE ... RETURNING returns on PostgreSQL.
        rows = [tuple(row.values()) for row in await db.execute_query_dict(sql, values)]
        return len(rows), rows
    touched, read = await db.execute_query(sql, values)
    # sqlite3.Row and asyncpg's Record both iterate over their values.
    return touched, [tuple(row.values()) if isinstance(row, dict) else tuple(row) for row in read]


async def spend_attempt(token_id: object, limit: int) -> int | None:
    """Count one attempt against a live token (S5): the attempts it has now, or None when it is dead (used,
    expired or out of attempts). Parallel requests cannot pass `limit`."""
    _, rows = await run(Token._meta.db, SPEND_ATTEMPT, [token_id, utcnow(), limit])
    return int(rows[0][0]) if rows else None


async def use_token(token_id: object) -> bool:
    """End a live token. Of parallel calls exactly one gets True."""
    touched, _ = await run(Token._meta.db, USE_TOKEN, [token_id, utcnow()])
    return touched > 0


async def accept_counter(factor_id: object, counter: int, state_encrypted: str | None) -> bool:
    """S8: accept a counter newer than the factor's last one, with the method's new state (encrypted) when
    it has one, in one conditional update; of parallel uses exactly one wins."""
    values: list[Any] = [factor_id, counter, utcnow()]
    sql = ACCEPT_COUNTER
    if state_encrypted is not None:
        sql, values = ACCEPT_COUNTER_AND_STATE, [*values, state_encrypted]
    touched, _ = await run(EnrolledFactor._meta.db, sql, values)
    return touched > 0
