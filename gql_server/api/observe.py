"""What each GraphQL operation did, for the access log and the metrics: a Strawberry extension.

It names the operation by its root field ("login"): the client's operationName is free text, and a
metric label taken from it would let any client create time series without end. It records the union
member each root field answered ("InvalidCredentials") as the request's outcome, and counts login
results and second-factor verifications. Only root fields are looked at: `ObserveRootField` is attached to
those alone (`observe_root_fields`), so deeper fields resolve without any wrapper of ours; a schema
extension's `resolve` hook would put one around every field of every response (P2, and the members pages).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from graphql import FieldNode, get_operation_ast
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.types.base import StrawberryObjectDefinition

from gql_server import metrics
from gql_server.request_log import current_request

INVALID = "(invalid)"
MULTIPLE = "(multiple)"
UNKNOWN_METHOD = "(unknown)"
# The client's operationName goes to the log only when it is a plain GraphQL name of sensible length.
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")


def typename(value: object) -> str:
    """The GraphQL type name of a resolved root value ("LoginSuccess"), or "null"/"ok" for plain values."""
    if value is None:
        return "null"
    definition = getattr(type(value), "__strawberry_definition__", None)
    name = getattr(definition, "name", None)
    return str(name) if name else "ok"


class ObserveOperations(SchemaExtension):
    """Records the operation and outcome in the RequestRecord (the members its root fields answered, noted by
    ObserveRootField)."""

    def __init__(self, *, execution_context: Any = None) -> None:
        super().__init__(execution_context=execution_context)
        self._executed = False

    def on_execute(self) -> Iterator[None]:
        """Only valid documents reach execution; remember that this one did."""
        self._executed = True
        yield

    def on_operation(self) -> Iterator[None]:
        """After the operation: write its name and outcome into the request's record."""
        yield
        record = current_request()
        if record is None:
            return
        context = self.execution_context
        name = context.operation_name
        record.operation_name = name if name and _NAME.fullmatch(name) else None
        if not self._executed:
            record.operation, record.outcome = INVALID, "invalid"
            return
        record.operation = self._root_field()
        result = context.result
        if getattr(result, "errors", None):
            record.outcome = "error"
        else:
            record.outcome = ",".join(record.outcomes) or "ok"

    def _root_field(self) -> str:
        """The one root field of the executed operation (schema names only: it passed validation)."""
        document = self.execution_context.graphql_document
        operation = get_operation_ast(document, self.execution_context.operation_name) if document else None
        if operation is None:
            return INVALID
        selections = operation.selection_set.selections
        names = {s.name.value for s in selections if isinstance(s, FieldNode)}
        if len(names) != 1 or len(selections) != len([s for s in selections if isinstance(s, FieldNode)]):
            return MULTIPLE
        return names.pop()


class ObserveRootField(FieldExtension):
    """On a root field: note the member it answered in the request's record, and move the login metrics."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: Any, **kwargs: Any) -> Any:
        """A synchronous root field."""
        value = next_(source, info, **kwargs)
        _resolved(info, kwargs, value)
        return value

    async def resolve_async(self, next_: Callable[..., Awaitable[Any]], source: Any, info: Any, **kwargs: Any) -> Any:
        """An asynchronous root field."""
        value = await next_(source, info, **kwargs)
        _resolved(info, kwargs, value)
        return value


def _resolved(info: Any, kwargs: dict[str, Any], value: object) -> None:
    member = typename(value)
    record = current_request()
    if record is not None:
        record.outcomes.append(member)
    if info.python_name == "login":
        metrics.LOGIN_RESULTS.labels(result=member).inc()
    elif info.python_name == "verify_second_factor":
        methods = info.context.services.methods
        method = kwargs.get("method")
        label = method if isinstance(method, str) and method in methods else UNKNOWN_METHOD
        metrics.SECOND_FACTOR_VERIFICATIONS.labels(method=label, result=member).inc()


def observe_root_fields(*roots: type) -> None:
    """Attach ObserveRootField to every field of the root types (Query, Mutation), once: before the schema
    is built from them, which is when Strawberry reads a field's extensions."""
    for root in roots:
        definition = getattr(root, "__strawberry_definition__", None)
        assert isinstance(definition, StrawberryObjectDefinition), root
        for field in definition.fields:
            if not any(isinstance(e, ObserveRootField) for e in field.extensions):
                field.extensions.append(ObserveRootField())
