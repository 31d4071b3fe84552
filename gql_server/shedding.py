"""P4: while password hashing is saturated, the shipped operations that would hash are answered before GraphQL.

A login flood keeps the hashing queue full (gql_server.hash_queue), and every login past it is answered
TooManyAttempts anyway; but reaching that answer through GraphQL (parsing the request, validating and
executing the document, shaping the union member) costs the event loop about a millisecond each, and at a
thousand connections those refusals alone saturate it: every other user's request waits behind them
(issue 17 measured `viewer`'s p99 at 433 ms). So while the queue is full, and only then, this pure ASGI
middleware reads the body of a JSON POST to /graphql and, when it is one of the operation documents the
service ships (schema/operations: what the web client and the test kit send, word for word) whose mutation
hashes a password (`login`, `resetPassword`, `changePassword`), answers it at once with exactly what GraphQL
would: `{"data": {"login": {"__typename": "TooManyAttempts", "message": ..., "retryAfterSeconds": N}}}` as that
document selects it, prepared once from the document and the schema. The typed answer of the contract, not an
HTTP error: an executed result, 200 in both media types of gql_server/http_media.py, with the Content-Type that
the Accept header chose (a request that accepts neither takes the usual way, to GraphQL's 406). Any other
document (another client's own) takes the usual way and gets the same answer, only not as cheaply; so does
everything when the queue is not full, at the cost of one comparison.

While saturated a shipped document is answered busy when its request could run: `variables` an object holding
every variable the document requires (their values are not checked: coercion would pass for the shipped
clients' own), `extensions` absent or an object. Anything else takes GraphQL's way to its request error (400
under application/graphql-response+json), which a security review found answered 200 busy here. The
per-address login limit does not count a busy answer: nothing was tried.

It sits innermost, below the body limit (S27: a body is never read past the limit), the request log (the
answer is logged, with its operation and outcome) and the security headers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import orjson
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    parse,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql_server.api import errors
from gql_server.hash_queue import HashQueue
from gql_server.http_media import CONTENT_TYPES, negotiate
from gql_server.request_log import current_request

# The root fields whose resolvers take a place in the hashing queue (PasswordService.admit).
HASHING_FIELDS = frozenset({"login", "resetPassword", "changePassword"})
GRAPHQL_PATH = "/graphql"
BUSY_TYPE = "TooManyAttempts"


@dataclass(frozen=True)
class BusyAnswer:
    """What GraphQL answers one shipped document while hashing is saturated, with the wait left open."""

    operation: str  # the root field, for the access line
    root_key: str  # its response key (an alias, or the field's name)
    operation_name: str | None  # the document's operation name: an operationName of another is GraphQL's to refuse
    fields: tuple[tuple[str, str], ...]  # (response key, field of TooManyAttempts), as the document selects them
    required: frozenset[str] = frozenset()  # the variables the document needs a value of (non-null, no default)

    def body(self, wait: int) -> bytes:
        """The response body for a wait of `wait` seconds."""
        values = {"__typename": BUSY_TYPE, "message": errors.BUSY, "retryAfterSeconds": wait}
        return orjson.dumps({"data": {self.root_key: {key: values[name] for key, name in self.fields}}})


class ShedWhileHashing:
    """Answers the shipped hashing operations at once while the hashing queue is full (P4)."""

    def __init__(self, app: ASGIApp, queue: HashQueue, answers: Mapping[str, BusyAnswer]) -> None:
        self.app = app
        self._queue = queue
        self._answers = answers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass everything through, unless the queue is full and this is a shipped hashing document."""
        if (
            scope["type"] != "http"
            or not self._queue.full()
            or scope["method"] != "POST"
            or scope["path"].removeprefix(scope.get("root_path", "")).rstrip("/") != GRAPHQL_PATH
            or not _is_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        accept = _values(scope, b"accept")
        media_type = negotiate(", ".join(accept) if accept else None)
        if media_type is None:
            await self.app(scope, receive, send)  # GraphQL's own 406
            return
        messages = await _read_body(receive)
        answer = self._answer_for(b"".join(m.get("body", b"") for m in messages))
        if answer is None:
            await self.app(scope, _replaying(messages, receive), send)
            return
        record = current_request()
        if record is not None:
            record.operation, record.outcome = answer.operation, BUSY_TYPE
        wait = self._queue.retry_after_seconds()
        # As the services' own refusals: held for a moment, so that a client retrying at once cannot flood.
        await self._queue.pause(wait)
        body = answer.body(wait)
        # An executed answer in either media type (http_media.py): 200, the same body, the Content-Type asked for.
        content_type = CONTENT_TYPES[media_type].encode()
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _answer_for(self, body: bytes) -> BusyAnswer | None:
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(request, dict) or not isinstance(query := request.get("query"), str):
            return None
        answer = self._answers.get(query)
        if answer is None:
            return None
        name = request.get("operationName")
        variables = request.get("variables")
        extensions = request.get("extensions")
        runs = (
            # The document has one operation: a name other than its own is GraphQL's to refuse.
            (name is None or name == answer.operation_name)
            and isinstance(variables, dict)
            and answer.required <= variables.keys()
            and (extensions is None or isinstance(extensions, dict))
        )
        return answer if runs else None


def is_json(content_type: str) -> bool:
    """Whether a Content-Type header value is JSON (S21: the only POST body /graphql takes)."""
    return content_type.split(";")[0].strip().lower() == "application/json"


def _is_json(scope: Scope) -> bool:
    content_type = _values(scope, b"content-type")
    return bool(content_type) and is_json(content_type[0])


def _values(scope: Scope, name: bytes) -> list[str]:
    """The values of a request header, in order (`name` in lower case, as ASGI gives names)."""
    return [value.decode("latin-1") for key, value in scope["headers"] if key == name]


async def _read_body(receive: Receive) -> list[Message]:
    """Every message of the request body (the body limit above counts them, S27)."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that hands out the messages already read, then the connection's own."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def busy_answers(documents: Iterable[Path], schema: GraphQLSchema) -> dict[str, BusyAnswer]:
    """The prepared answers of the shipped documents that hash a password, by their exact text."""
    answers = {}
    for path in documents:
        query = path.read_text("utf-8")
        answer = _prepared(query, schema)
        if answer is not None:
            answers[query] = answer
    return answers


@cache
def _prepared(query: str, schema: GraphQLSchema) -> BusyAnswer | None:
    """`busy_answer`, once per document text and schema in a process (apps built again share it)."""
    return busy_answer(query, schema)


def busy_answer(query: str, schema: GraphQLSchema) -> BusyAnswer | None:
    """The answer GraphQL gives `query` while hashing is saturated, when it is one mutation selecting one
    hashing root field; None for anything else, or anything this cannot answer exactly as GraphQL would
    (fragment spreads, @skip/@include)."""
    try:
        document = parse(query, no_location=True)
    except GraphQLError:
        return None
    if len(document.definitions) != 1 or not isinstance(document.definitions[0], OperationDefinitionNode):
        return None
    operation = document.definitions[0]
    roots = operation.selection_set.selections
    if operation.operation is not OperationType.MUTATION or len(roots) != 1:
        return None
    root = roots[0]
    if not isinstance(root, FieldNode) or root.name.value not in HASHING_FIELDS or root.directives:
        return None
    busy, mutations = schema.get_type(BUSY_TYPE), schema.mutation_type
    if root.selection_set is None or not isinstance(busy, GraphQLObjectType) or mutations is None:
        return None
    result_type = str(mutations.fields[root.name.value].type)
    applies = {BUSY_TYPE, *(i.name for i in busy.interfaces), result_type}
    fields = _busy_fields(root.selection_set.selections, {name.rstrip("!") for name in applies}, set(busy.fields))
    if fields is None:
        return None
    key = root.alias.value if root.alias else root.name.value
    name = operation.name.value if operation.name else None
    required = frozenset(
        definition.variable.name.value
        for definition in operation.variable_definitions or ()
        if isinstance(definition.type, NonNullTypeNode) and definition.default_value is None
    )
    return BusyAnswer(
        operation=root.name.value,
        root_key=key,
        operation_name=name,
        fields=tuple(dict.fromkeys(fields)),
        required=required,
    )


def _busy_fields(
    selections: Iterable[SelectionNode], applies: set[str], known: set[str]
) -> list[tuple[str, str]] | None:
    """(response key, field) of a TooManyAttempts value under `selections`; None when not exact."""
    found: list[tuple[str, str]] = []
    for selection in selections:
        if selection.directives:
            return None
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name != "__typename" and name not in known:
                return None
            found.append((selection.alias.value if selection.alias else name, name))
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition.name.value if selection.type_condition else None
            if condition is not None and condition not in applies:
                continue  # a fragment for another member of the union
            inner = _busy_fields(selection.selection_set.selections, applies, known)
            if inner is None:
                return None
            found += inner
        else:
            return None  # a named fragment: not worth following here
    return found
