"""The lookups behind every authenticated request, every login and every second step: a row found by its
token hash, with its user, and a user found by their address, each in one SQL statement built once per model
and dialect.

Tortoise's `get_or_none(...).select_related("user")` sends the same single query, but builds its SQL
(pypika) again on every call and parses SQLite's datetimes with iso8601: together most of a `viewer`
request's time besides the GraphQL layer itself. The rows become ordinary model instances, exactly as
select_related leaves them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import NamedTuple, TypeVar

from tortoise.fields import DatetimeField

from gql_server.models import Customer, Membership, Session, Token, User

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
    row = _parsed(rows[0], query.datetimes)
    split = len(query.own_columns)
    found = model._init_from_db(**dict(zip(query.own_columns, row[:split], strict=True)))
    user = User._init_from_db(**dict(zip(query.user_columns, row[split:], strict=True)))
    # Where Tortoise keeps a related object it fetched with select_related.
    object.__setattr__(found, "_user", user)
    return found


async def user_by_email(address: str) -> User | None:
    """The user whose (normalised) address this is; None when none. `User.get_or_none(email=...)`, as sent
    by every login (P1), unknown addresses included (S3: both take the same statement)."""
    db = User._meta.db
    query = _user_query(db.capabilities.dialect)
    if query is None:
        return await User.get_or_none(email=address)
    _, rows = await db.execute_query(query.sql, [address])
    if not rows:
        return None
    row = _parsed(rows[0], query.datetimes)
    return User._init_from_db(**dict(zip(query.user_columns, row, strict=True)))


async def customers_of(user_id: object) -> list[Customer]:
    """Every customer the user belongs to, by name: `Customer.filter(memberships__user_id=...)`, asked by the
    policy at every login (P1) and for every one-factor session (R10)."""
    db = Customer._meta.db
    query = _customers_query(db.capabilities.dialect)
    if query is None:
        return await Customer.filter(memberships__user_id=user_id).order_by("name", "id")
    # SQLite stores UUIDs as text.
    value = str(user_id) if db.capabilities.dialect == "sqlite" else user_id
    _, rows = await db.execute_query(query.sql, [value])
    return [
        Customer._init_from_db(**dict(zip(query.own_columns, _parsed(row, query.datetimes), strict=True)))
        for row in rows
    ]


def _parsed(found: Iterable[object], datetimes: tuple[int, ...]) -> list[object]:
    """A row (sqlite3.Row or asyncpg.Record: its values) as a list, its datetime columns parsed: SQLite hands
    them back as text, and the standard library parses it ten times faster than iso8601 (Tortoise's way)."""
    row = list(found)
    for i in datetimes:
        value = row[i]
        if isinstance(value, str):
            row[i] = datetime.fromisoformat(value)
    return row


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


@cache
def _user_query(dialect: str) -> _Query | None:
    """The statement of `user_by_email` (None: use the ORM's own query); built on first use, as `_query`."""
    placeholder = {"sqlite": "?", "postgres": "$1"}.get(dialect)
    if placeholder is None:
        return None
    user = tuple(User._meta.fields_db_projection.values())
    columns = ", ".join(f'"{c}"' for c in user)
    # Identifiers from the model only; the address is a bound parameter. The address is unique: one row at most.
    sql = f'SELECT {columns} FROM "{User._meta.db_table}" WHERE "email" = {placeholder}'  # noqa: S608
    fields = [User._meta.fields_map.get(c) for c in user]
    datetimes = tuple(i for i, field in enumerate(fields) if isinstance(field, DatetimeField))
    return _Query(sql, (), user, datetimes)


@cache
def _customers_query(dialect: str) -> _Query | None:
    """The statement of `customers_of` (None: use the ORM's own query); built on first use, as `_query`."""
    placeholder = {"sqlite": "?", "postgres": "$1"}.get(dialect)
    if placeholder is None:
        return None
    own = tuple(Customer._meta.fields_db_projection.values())
    columns = ", ".join(f'c."{c}"' for c in own)
    sql = (
        # Identifiers from the models only; the user id is a bound parameter.
        f'SELECT {columns} FROM "{Customer._meta.db_table}" c '  # noqa: S608
        f'JOIN "{Membership._meta.db_table}" m ON m."customer_id" = c."id" '
        f'WHERE m."user_id" = {placeholder} ORDER BY c."name", c."id"'
    )
    fields = [Customer._meta.fields_map.get(c) for c in own]
    datetimes = tuple(i for i, field in enumerate(fields) if isinstance(field, DatetimeField))
    return _Query(sql, own, (), datetimes)
