"""The lookups behind every authenticated request, every login and every second step: a row found by its
token hash, with its user; a user found by their address; a user's customers and factors. Each is one SQL
statement built once per model and dialect.

Tortoise's `get_or_none(...).select_related("user")` sends the same single query, but builds its SQL
(pypika) again on every call and parses SQLite's datetimes with iso8601: together most of a `viewer`
request's time besides the GraphQL layer itself. The rows become ordinary model instances, exactly as the
ORM (and select_related) leaves them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple, TypeVar

from tortoise.fields import DatetimeField
from tortoise.models import Model

from gql_server.models import Customer, EnrolledFactor, Membership, Session, Token, User

M = TypeVar("M", Session, Token)
R = TypeVar("R", Customer, EnrolledFactor)

# The one parameter of each statement, as each dialect the service runs on writes it; on others the ORM's
# own query is used.
_PLACEHOLDERS = {"sqlite": "?", "postgres": "$1"}


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
    found = await _rows(User, query, address)
    return found[0] if found else None


async def customers_of(user_id: object) -> list[Customer]:
    """Every customer the user belongs to, by name: `Customer.filter(memberships__user_id=...)`, asked by the
    policy at every login (P1) and for every one-factor session (R10)."""
    query = _customers_query(Customer._meta.db.capabilities.dialect)
    if query is None:
        return await Customer.filter(memberships__user_id=user_id).order_by("name", "id")
    return await _rows(Customer, query, user_id)


async def factors_of(user_id: object) -> list[EnrolledFactor]:
    """The user's enrolled factors, oldest first: `EnrolledFactor.filter(user_id=...)`, read by every second
    step (P3)."""
    query = _factors_query(EnrolledFactor._meta.db.capabilities.dialect)
    if query is None:
        return await EnrolledFactor.filter(user_id=user_id).order_by("created_at", "id")
    return await _rows(EnrolledFactor, query, user_id)


async def _rows(model: type[R] | type[User], query: _Query, value: object) -> list[Any]:
    """The rows of a one-model `query` for its one parameter, as instances of `model`."""
    db = model._meta.db
    # SQLite stores UUIDs as text.
    parameter = str(value) if db.capabilities.dialect == "sqlite" and not isinstance(value, str) else value
    _, rows = await db.execute_query(query.sql, [parameter])
    return [model._init_from_db(**dict(zip(query.own_columns, _parsed(r, query.datetimes), strict=True))) for r in rows]


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


def _columns(model: type[Model]) -> tuple[str, ...]:
    """A model's columns, as its rows are read. Only once Tortoise is initialised are they complete: the
    statements below are built on first use."""
    return tuple(model._meta.fields_db_projection.values())


def _datetime_positions(*tables: tuple[type[Model], tuple[str, ...]]) -> tuple[int, ...]:
    """The positions of the datetime columns in a row made of these (model, columns) in turn."""
    fields = [model._meta.fields_map.get(column) for model, columns in tables for column in columns]
    return tuple(i for i, field in enumerate(fields) if isinstance(field, DatetimeField))


@cache
def _query(model: type[Session | Token], dialect: str) -> _Query | None:
    """`with_user_by_token_hash`'s statement (None: use the ORM's own query)."""
    placeholder = _PLACEHOLDERS.get(dialect)
    if placeholder is None:
        return None
    own, user = _columns(model), _columns(User)
    columns = [f't."{c}"' for c in own] + [f'u."{c}"' for c in user]
    sql = (
        # Identifiers from the models only; the token hash is a bound parameter.
        f'SELECT {", ".join(columns)} FROM "{model._meta.db_table}" t '  # noqa: S608
        f'JOIN "{User._meta.db_table}" u ON u."id" = t."user_id" WHERE t."token_hash" = {placeholder}'
    )
    return _Query(sql, own, user, _datetime_positions((model, own), (User, user)))


def _one_table(model: type[Model], dialect: str, alias: str, rest: str) -> _Query | None:
    """A statement reading every column of `model` (as `alias`), then `rest` ({p}: the parameter)."""
    placeholder = _PLACEHOLDERS.get(dialect)
    if placeholder is None:
        return None
    own = _columns(model)
    listed = ", ".join(f'{alias}."{c}"' for c in own)
    # Identifiers from the models only; the one value is a bound parameter.
    sql = f'SELECT {listed} FROM "{model._meta.db_table}" {alias} ' + rest.format(p=placeholder)  # noqa: S608
    return _Query(sql, own, (), _datetime_positions((model, own)))


@cache
def _user_query(dialect: str) -> _Query | None:
    """`user_by_email`'s statement. The address is unique: one row at most."""
    return _one_table(User, dialect, "u", 'WHERE u."email" = {p}')


@cache
def _customers_query(dialect: str) -> _Query | None:
    """`customers_of`'s statement."""
    membership = Membership._meta.db_table
    joined = f'JOIN "{membership}" m ON m."customer_id" = c."id" WHERE m."user_id" = {{p}} ORDER BY c."name", c."id"'
    return _one_table(Customer, dialect, "c", joined)


@cache
def _factors_query(dialect: str) -> _Query | None:
    """`factors_of`'s statement."""
    return _one_table(EnrolledFactor, dialect, "f", 'WHERE f."user_id" = {p} ORDER BY f."created_at", f."id"')
