"""The lookups behind every authenticated request and every second step: a row found by its token hash,
with its user, in one SQL statement built once per model and dialect.

Tortoise's `get_or_none(...).select_related("user")` sends the same single query, but builds its SQL
(pypika) again on every call and parses SQLite's datetimes with iso8601: together most of a `viewer`
request's time besides the GraphQL layer itself. The rows become ordinary model instances, exactly as
select_related leaves them.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import NamedTuple, TypeVar

from tortoise.fields import DatetimeField

from gql_server.models import Session, Token, User

M = TypeVar("M", Session, Token)


async def with_user_by_token_hash(model: type[M], token_hash: str) -> M | None:
    """The row of `model` (Session or Token) whose token_hash is this, its `user` loaded; None when none."""
    db = model._meta.db
    query = _query(model, db.capabilities.dialect)
    if query is None:
        return await model.get_or_none(token_hash=token_hash).select_related("user")
    _, rows = await db.execute_query(query.sql, [token_hash])
    if not rows:
        return None
    row = list(rows[0])
    for i in query.datetimes:
        # SQLite hands back text; the standard library parses it ten times faster than iso8601.
        if isinstance(row[i], str):
            row[i] = datetime.fromisoformat(row[i])
    split = len(query.own_columns)
    found = model._init_from_db(**dict(zip(query.own_columns, row[:split], strict=True)))
    user = User._init_from_db(**dict(zip(query.user_columns, row[split:], strict=True)))
    # Where Tortoise keeps a related object it fetched with select_related.
    object.__setattr__(found, "_user", user)
    return found


class _Query(NamedTuple):
    sql: str
    own_columns: tuple[str, ...]
    user_columns: tuple[str, ...]
    # Positions of datetime columns in a row.
    datetimes: tuple[int, ...]


@cache
def _query(model: type[Session | Token], dialect: str) -> _Query | None:
    """The statement for the dialects the service runs on (None: use the ORM's own query).

    Built on first use: the models' column lists are complete only once Tortoise is initialised.
    """
    placeholder = {"sqlite": "?", "postgres": "$1"}.get(dialect)
    if placeholder is None:
        return None
    own = tuple(model._meta.fields_db_projection.values())
    user = tuple(User._meta.fields_db_projection.values())
    columns = [f't."{c}"' for c in own] + [f'u."{c}"' for c in user]
    sql = (
        # Identifiers from the models only; the token hash is a bound parameter.
        f'SELECT {", ".join(columns)} FROM "{model._meta.db_table}" t '  # noqa: S608
        f'JOIN "{User._meta.db_table}" u ON u."id" = t."user_id" WHERE t."token_hash" = {placeholder}'
    )
    fields = [model._meta.fields_map.get(c) for c in own] + [User._meta.fields_map.get(c) for c in user]
    datetimes = tuple(i for i, field in enumerate(fields) if isinstance(field, DatetimeField))
    return _Query(sql, own, user, datetimes)
