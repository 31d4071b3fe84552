"""The private Tortoise, Strawberry, cross_web and graphql-core internals the service relies on, checked one by one.

gql_server/lookups.py builds its own SQL from Tortoise's model metadata and fills model instances the way
Tortoise does; gql_server/api/documents.py parses and validates in place of Strawberry and hands it the
result; gql_server/app.py subclasses Strawberry's request adapter (cross_web) and overrides hooks of its
ASGI view. None of that is public API: requirements.lock pins the versions, and when an upgrade changes one
of these, the test fails with the internal's name instead of the service going silently slower (the ORM
fallback) or silently validating twice (or never).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import strawberry.schema.schema as strawberry_schema
from cross_web import StarletteRequestAdapter
from graphql import parse, validate
from strawberry.asgi import GraphQL
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionContext
from tortoise.fields import DatetimeField
from tortoise.models import Model

from gql_server.api.documents import STRAWBERRY_RULES
from gql_server.api.schema import build_schema
from gql_server.enums import Assurance, TokenPurpose
from gql_server.lookups import _query, with_user_by_token_hash
from gql_server.models import Session, Token, User
from gql_server.sessions import create_session
from gql_server.tokens import hash_token, issue_token


def internal(name: str, holds: bool, detail: str = "") -> None:
    """Fail naming the internal that no longer is what the code relies on."""
    if not holds:
        pytest.fail(f"pinned internal changed: {name}{': ' + detail if detail else ''} (see requirements.lock)")


# --------------------------------------------------------------------------------------------------
# Tortoise (gql_server/lookups.py; tests/hostile/world.py reads rows by column name too)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [Session, Token, User], ids=lambda m: m.__name__)
async def test_tortoise_model_metadata(app: Any, model: type[Model]) -> None:
    # With Tortoise initialised (the app running): only then are the foreign keys' columns listed.
    meta = model._meta
    internal("Model._meta.db_table", isinstance(getattr(meta, "db_table", None), str))
    projection = getattr(meta, "fields_db_projection", None)
    internal(
        "Model._meta.fields_db_projection (field name -> column)",
        isinstance(projection, dict) and projection.get("id") == "id",
        repr(projection),
    )
    fields_map = getattr(meta, "fields_map", None)
    internal("Model._meta.fields_map", isinstance(fields_map, dict) and "id" in fields_map)
    if model is not User:
        # The foreign key's column: the SQL joins on t."user_id".
        internal(
            "Model._meta.fields_db_projection['user_id']", projection.get("user_id") == "user_id", repr(projection)
        )
        internal("tortoise.fields.DatetimeField", isinstance(fields_map["expires_at"], DatetimeField))
    init_from_db = inspect.getattr_static(model, "_init_from_db", None)
    internal("Model._init_from_db (a classmethod)", isinstance(init_from_db, classmethod))


@pytest.fixture
async def session_token(services: Any, make_customer: Callable[..., Any], make_user: Callable[..., Any]) -> str:
    user = await make_user(await make_customer(), "anna@example.com")
    return (await create_session(user, Assurance.PASSWORD, services.sessions)).token


async def test_tortoise_connection_internals(session_token: str, settings: Any) -> None:
    db = getattr(Session._meta, "db", None)
    internal("Model._meta.db (the model's connection)", db is not None)
    dialect = getattr(getattr(db, "capabilities", None), "dialect", None)
    expected = "postgres" if settings.database_url.startswith("postgres") else "sqlite"
    internal("connection.capabilities.dialect", dialect == expected, f"{dialect!r}, expected {expected!r}")
    # A dialect name lookups.py does not know falls back to the ORM's query: slower, and nothing else says so.
    internal("lookups._query for this dialect", _query(Session, dialect) is not None, repr(dialect))

    parameters = list(inspect.signature(db.execute_query).parameters)
    internal("connection.execute_query(query, values)", parameters[:2] == ["query", "values"], repr(parameters))
    result = await db.execute_query('SELECT 1 AS "one", 2 AS "two"', [])
    internal("connection.execute_query returns (count, rows)", isinstance(result, tuple) and len(result) == 2)
    row = result[1][0]
    internal("a row of execute_query, by position", list(row) == [1, 2], repr(row))
    internal("a row of execute_query, by column name", (row["one"], row["two"]) == (1, 2), repr(row))


@pytest.mark.parametrize("model", [Session, Token], ids=lambda m: m.__name__)
async def test_tortoise_select_related_cache(model: type[Model], session_token: str, services: Any) -> None:
    if model is Token:
        user = await User.get(email="anna@example.com")
        issued = await issue_token(user, TokenPurpose.INVITATION, timedelta(minutes=5))
        token_hash = hash_token(issued.token)
    else:
        token_hash = hash_token(session_token)

    found = await with_user_by_token_hash(model, token_hash)  # type: ignore[type-var]
    expected = await model.get(token_hash=token_hash).select_related("user")

    assert found is not None
    # Where select_related keeps the related object (`_user`), read by the foreign key's getter.
    internal("the foreign key getter reads Model._<field> (select_related's cache)", isinstance(found.user, User))
    for name in model._meta.fields_db_projection:
        internal(f"Model._init_from_db fills {model.__name__}.{name}", getattr(found, name) == getattr(expected, name))
    for name in User._meta.fields_db_projection:
        internal(f"Model._init_from_db fills User.{name}", getattr(found.user, name) == getattr(expected.user, name))
    internal("Model._init_from_db marks the row as saved", found._saved_in_db and found.user._saved_in_db)


# --------------------------------------------------------------------------------------------------
# Strawberry and graphql-core (gql_server/api/documents.py)
# --------------------------------------------------------------------------------------------------


def test_strawberry_adds_exactly_the_rules_documents_py_adds(monkeypatch: pytest.MonkeyPatch) -> None:
    # documents.py validates in Strawberry's place, so it must add what Strawberry's validate_document adds.
    seen: list[tuple[Any, ...]] = []
    internal("strawberry.schema.schema.validate_document", hasattr(strawberry_schema, "validate_document"))
    internal(
        "strawberry.schema.schema.validate (graphql-core's, as imported there)", hasattr(strawberry_schema, "validate")
    )
    monkeypatch.setattr(strawberry_schema, "validate", lambda schema, document, rules: seen.append(tuple(rules)) or [])

    strawberry_schema.validate_document(build_schema()._schema, parse("{ __typename }"), ())

    internal("the rules strawberry.schema.schema.validate_document adds", seen == [STRAWBERRY_RULES], repr(seen))


def test_strawberry_skips_its_validation_once_an_extension_set_the_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    # CheckedDocuments sets pre_execution_errors in on_validate; Strawberry must then not validate again.
    calls: list[object] = []
    original = strawberry_schema.validate_document

    def counting(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(strawberry_schema, "validate_document", counting)
    schema = build_schema()

    result = schema.execute_sync("{ __typename }")

    assert result.errors is None, result.errors
    internal("Strawberry skips validate_document when an extension set pre_execution_errors", calls == [])


def test_strawberry_execution_context_fields() -> None:
    names = set(inspect.signature(ExecutionContext).parameters) | {f for f in ExecutionContext.__dataclass_fields__}
    for name in ("query", "schema", "validation_rules", "graphql_document", "pre_execution_errors"):
        internal(f"strawberry ExecutionContext.{name}", name in names)
    internal("SchemaExtension.execution_context", "execution_context" in inspect.get_annotations(SchemaExtension))
    internal("strawberry Schema._schema (the graphql-core schema)", hasattr(build_schema(), "_schema"))


def test_graphql_core_keywords() -> None:
    internal("graphql.parse(max_tokens=...)", "max_tokens" in inspect.signature(parse).parameters)
    internal("graphql.validate(hide_suggestions=...)", "hide_suggestions" in inspect.signature(validate).parameters)


def test_strawberry_asgi_view_hooks() -> None:
    # gql_server/app.py: RequestAdapter lower-cases the media type of StarletteRequestAdapter.content_type.
    internal(
        "strawberry.asgi.GraphQL.request_adapter_class is cross_web's StarletteRequestAdapter",
        GraphQL.request_adapter_class is StarletteRequestAdapter,
        repr(GraphQL.request_adapter_class),
    )
    internal(
        "cross_web StarletteRequestAdapter.content_type (a property)",
        isinstance(inspect.getattr_static(StarletteRequestAdapter, "content_type", None), property),
    )
    # ... and answers in the negotiated media type (http_media.py) through these hooks of the view's `run`.
    hooks = ("decode_json", "encode_json", "graphql_ide_html", "get_sub_response", "process_result", "create_response")
    for hook in (*hooks, "should_render_graphql_ide"):
        internal(f"strawberry.asgi.GraphQL.{hook}", hasattr(GraphQL, hook))
    run = inspect.getsource(GraphQL.run)
    for call in ("self.get_sub_response(", "self.process_result(", "self.create_response("):
        internal(f"strawberry.asgi.GraphQL.run calls {call[5:-1]}", call in run)


def test_strawberry_union_marker() -> None:
    # gql_server/api/registry.py reads a union's schema name from the marker `strawberry.union("Name")`
    # puts in `Annotated[...]`: an instance of the private strawberry.types.union.StrawberryUnion.
    from typing import Annotated, get_args

    import strawberry
    from strawberry.types.union import StrawberryUnion

    @strawberry.type
    class A:
        x: int

    @strawberry.type
    class B:
        y: int

    markers = get_args(Annotated[A | B, strawberry.union("AOrB")])[1:]
    found = [m for m in markers if isinstance(m, StrawberryUnion)]
    internal("strawberry.types.union.StrawberryUnion", len(found) == 1, f"markers: {markers!r}")
    internal("StrawberryUnion.graphql_name", getattr(found[0], "graphql_name", None) == "AOrB")
