"""A request id per request, and one access-log line per request with its operation, outcome and duration.

A pure ASGI middleware (no BaseHTTPMiddleware: it would run the endpoint in another task and buffer
streamed bodies). It takes the caller's `X-Request-ID` when it looks like an id, makes one otherwise,
returns it in the response header, and keeps it in a context variable so that every log record written
while the request is served carries it (`logs.RequestIdFilter`). The GraphQL layer fills in the
operation and its outcome (`api/observe.py`); this middleware writes them out and times the request.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql_server import metrics
from gql_server.headers import SecurityHeaders

log = logging.getLogger("gql_server.access")

REQUEST_ID_HEADER = "X-Request-ID"
# Ids from a proxy or a client are kept when they are plain tokens (UUIDs, trace ids, ULIDs); anything
# else could forge log lines or smuggle data into them, and is replaced by our own.
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
GRAPHQL_PATH = "/graphql"
# Probes come every few seconds from every load balancer; their lines are DEBUG so they do not drown the rest.
QUIET_PATHS = frozenset({"/healthz", "/readyz"})


@dataclass
class RequestRecord:
    """What is known about the request being served; the GraphQL layer adds the operation and outcome."""

    request_id: str
    # The root field that ran ("login"), or "(invalid)", "(multiple)": bounded, so also a metric label.
    operation: str | None = None
    # The client's own operationName, when it is a valid GraphQL name (for searching logs only).
    operation_name: str | None = None
    # The union member the root field answered ("InvalidCredentials"), "error", "invalid", ...
    outcome: str | None = None
    # The members the root fields answered, in order, as they resolve (api/observe.py makes `outcome` of them).
    outcomes: list[str] = field(default_factory=list)
    # With tracing on (gql_server/tracing.py): the ids of the request's span, for its access line.
    trace_id: str | None = None
    span_id: str | None = None


_current: ContextVar[RequestRecord | None] = ContextVar("gql_server_request", default=None)


def current_request() -> RequestRecord | None:
    """The record of the request being served in this context, if any."""
    return _current.get()


def current_request_id() -> str | None:
    """The id of the request being served in this context, if any."""
    record = _current.get()
    return record.request_id if record else None


def request_id_from(scope: Scope) -> str:
    """The caller's X-Request-ID when it is a plain token of at most 128 characters, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = str(value.decode("latin-1"))
            if _ACCEPTED_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestLogMiddleware:
    """Assigns the request id, returns it as X-Request-ID, logs one line per request, times /graphql."""

    def __init__(self, app: ASGIApp, headers: SecurityHeaders | None = None) -> None:
        """`headers`: the service's response headers, set on every response start this middleware sees
        (instead of a middleware of their own below it: one layer less per request, P2)."""
        self.app = app
        self._headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve an HTTP request inside its RequestRecord; lifespan and WebSocket pass through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = RequestRecord(request_id=request_id_from(scope))
        token = _current.set(record)
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before responding

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if self._headers is not None:
                    self._headers.apply(scope, message)
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = record.request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            _log_request(scope, record, status, elapsed)
            if request_path(scope) == GRAPHQL_PATH:
                metrics.GRAPHQL_DURATION.labels(operation=record.operation or "(none)").observe(elapsed)
            _current.reset(token)


def request_path(scope: Scope) -> str:
    """The request's path below the app's root path, without a trailing slash."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path.rstrip("/") or "/"


def _log_request(scope: Scope, record: RequestRecord, status: int, elapsed: float) -> None:
    path = request_path(scope)
    client = scope.get("client")
    # The path only: query strings may carry GraphQL variables, and so tokens (S25).
    fields = {
        "http_method": scope["method"],
        "path": path,
        "status": status,
        "duration_ms": round(elapsed * 1000, 1),
        "client": client[0] if client else None,
        "operation": record.operation,
        "operation_name": record.operation_name,
        "outcome": record.outcome,
    }
    details = " ".join(f"{key}={fields[key]}" for key in ("operation", "operation_name", "outcome") if fields[key])
    level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
    log.log(
        level,
        "%s %s %s %.1f ms%s",
        scope["method"],
        path,
        status,
        fields["duration_ms"],
        f" {details}" if details else "",
        extra=fields,
    )
