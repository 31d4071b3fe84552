"""What each GraphQL operation did, for the access log and the metrics: a Strawberry extension.

It names the operation by its root field ("login"): the client's operationName is free text, and a
metric label taken from it would let any client create time series without end. It records the union
member each root field answered ("InvalidCredentials") as the request's outcome, and counts login
results and second-factor verifications. Only root fields are looked at; deeper fields pass straight
through.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from inspect import isawaitable
from typing import Any

from graphql import FieldNode, GraphQLResolveInfo, get_operation_ast
from strawberry.extensions import SchemaExtension

from gql_server import metrics
from gql_server.request_log import current_request

# The Context of api/context.py; graphql-core's info is generic in it.
ResolveInfo = GraphQLResolveInfo[Any]

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
    """Records the operation and outcome in the RequestRecord and moves the login metrics."""

    def __init__(self, *, execution_context: Any = None) -> None:
        super().__init__(execution_context=execution_context)
        self._executed = False
        self._outcomes: list[str] = []

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
            record.outcome = ",".join(self._outcomes) or "ok"

    def resolve(self, _next: Callable[..., Any], root: Any, info: ResolveInfo, *args: str, **kwargs: Any) -> Any:
        """Root fields: note the member they answer. Every other field: straight through."""
        result = _next(root, info, *args, **kwargs)
        if info.path.prev is not None:
            return result
        if isawaitable(result):
            return self._after(result, info, kwargs)
        self._resolved(info, kwargs, result)
        return result

    async def _after(self, pending: Awaitable[Any], info: ResolveInfo, kwargs: dict[str, Any]) -> Any:
        value = await pending
        self._resolved(info, kwargs, value)
        return value

    def _resolved(self, info: ResolveInfo, kwargs: dict[str, Any], value: object) -> None:
        member = typename(value)
        self._outcomes.append(member)
        if info.field_name == "login":
            metrics.LOGIN_RESULTS.labels(result=member).inc()
        elif info.field_name == "verifySecondFactor":
            methods = info.context.services.methods
            method = kwargs.get("method")
            label = method if isinstance(method, str) and method in methods else UNKNOWN_METHOD
            metrics.SECOND_FACTOR_VERIFICATIONS.labels(method=label, result=member).inc()

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
