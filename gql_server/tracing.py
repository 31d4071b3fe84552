"""OpenTelemetry tracing (TRACING_ENABLED, with the `tracing` extra): a span per request, named after its
GraphQL operation, with child spans for password hashing, database statements and mail.

Imported only when tracing is on (gql_server.spans.tracing_middleware); off, nothing of OpenTelemetry is
loaded. What the spans hold:

- the request's span (`TracingMiddleware`, kind SERVER): named after the operation's root field ("login"), as
  the access line and the metrics know it (api/observe.py fills in the request's RequestRecord; this reads
  it), with the union member it answered as `gql.outcome` ("InvalidCredentials"). It continues the caller's
  trace when the request carries a `traceparent` header (OTEL_PROPAGATORS).
- `password.hash` and `password.verify` (gql_server/passwords.py), with the wait for a hashing thread;
- one span per database statement, from OpenTelemetry's own Tortoise ORM instrumentation
  (opentelemetry-instrumentation-tortoiseorm), which wraps the execute methods of Tortoise's SQLite and asyncpg
  clients: the one place every statement passes, the prebuilt ones of statements.py included, run on the
  event loop so that each span is a child of the request's. Statements only, never their parameters;
- `outbox.attempt` and `mail.deliver` (gql_server/outbox.py, gql_server/mail.py).

Where spans go is OpenTelemetry's standard configuration, read by its SDK: OTEL_TRACES_EXPORTER (otlp, console,
none), OTEL_EXPORTER_OTLP_ENDPOINT and its friends (HTTP/protobuf), OTEL_TRACES_SAMPLER, OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_* (docs/operations.md, "Tracing").

One tracer provider per process: the first `install` makes it and sets it as OpenTelemetry's global one, so
that a plugin's own spans join the same traces; an app made again in the same process (the tests) reuses it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.instrumentation.tortoiseorm import TortoiseORMInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.propagate import extract
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql_server import __version__, spans
from gql_server.limits import TRACES_FLUSH_SECONDS
from gql_server.request_log import GRAPHQL_PATH, QUIET_PATHS, RequestRecord, current_request, request_path
from gql_server.settings import ConfigurationError, Settings

SERVICE = "gql-server"
# The tracer's instrumentation scope: the spans this package makes itself.
SCOPE = "gql_server"
# The only OTLP protocol the extra installs an exporter for.
OTLP_PROTOCOL = "http/protobuf"

_provider: TracerProvider | None = None


def install(settings: Settings) -> TracerProvider:
    """Switch tracing on in this process: the tracer provider (made once), the spans of gql_server.spans, and
    Tortoise's instrumentation. Raises ConfigurationError for an exporter the extra cannot serve."""
    global _provider
    if _provider is None:
        _provider = _make_provider(settings)
        trace.set_tracer_provider(_provider)
    spans.hooks.tracer = _provider.get_tracer(SCOPE, __version__)
    spans.hooks.current_span = trace.get_current_span
    spans.hooks.untraced = suppress_instrumentation
    instrumentor = TortoiseORMInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        # capture_parameters stays off: parameters are what callers typed (S25, S29).
        instrumentor.instrument(tracer_provider=_provider, capture_parameters=False)
    return _provider


def uninstall() -> None:
    """Switch tracing off again in this process (the tests); the provider stays for the next `install`."""
    spans.hooks.tracer = None
    spans.hooks.current_span = None
    spans.hooks.untraced = None
    instrumentor = TortoiseORMInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


def provider() -> TracerProvider | None:
    """This process's tracer provider, once tracing was installed."""
    return _provider


def _make_provider(settings: Settings) -> TracerProvider:
    # Made before the provider, so that a wrong exporter setting stops the start and leaves nothing behind.
    exporters = [_exporter(name) for name in settings.traces_exporters]
    # The sampler comes from OTEL_TRACES_SAMPLER (and _ARG), parent-based "always on" by default. Spans that
    # outlive a stop are not flushed at exit (the lifespan flushes them, bounded: TRACES_FLUSH_SECONDS).
    made = TracerProvider(resource=_resource(), shutdown_on_exit=False)
    for exporter in exporters:
        # In batches from a thread of its own (OTEL_BSP_*): a request never waits for the collector.
        made.add_span_processor(BatchSpanProcessor(exporter))
    return made


def _resource() -> Resource:
    """OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, with "gql-server" as the service unless they name one."""
    detected = Resource.create({SERVICE_VERSION: __version__})
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        return detected.merge(Resource({SERVICE_NAME: SERVICE}))
    return detected


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol and protocol != OTLP_PROTOCOL:
        raise ConfigurationError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: the tracing extra exports OTLP over {OTLP_PROTOCOL} only"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # Endpoint, headers, timeout, compression and certificates: OTEL_EXPORTER_OTLP_[TRACES_]*.
    return OTLPSpanExporter()


class TracingMiddleware:
    """A SERVER span around every HTTP request but the probes, inside the request log's RequestRecord; at the
    app's stop, the spans not sent yet are flushed."""

    def __init__(self, app: ASGIApp, provider: TracerProvider) -> None:
        """`provider`: the process's tracer provider (`install`), flushed at the stop."""
        self.app = app
        self._tracer = provider.get_tracer(SCOPE, __version__)
        self._provider = provider

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Trace an HTTP request; pass lifespan (flushing at its end) and WebSocket through."""
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._flushing(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = request_path(scope)
        if path in QUIET_PATHS:
            # Probes every few seconds from every load balancer: neither a trace nor a database span of their own.
            with suppress_instrumentation():
                await self.app(scope, receive, send)
            return
        status = 500  # what the server answers if the app raises before responding

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        record = current_request()
        with self._request_span(scope, path, record) as span:
            try:
                await self.app(scope, receive, send_with_status)
            finally:
                _finish(span, scope, path, status, record)

    @contextmanager
    def _request_span(self, scope: Scope, path: str, record: RequestRecord | None) -> Iterator[Span]:
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope.get("headers", ())}
        client = scope.get("client")
        attributes: dict[str, AttributeValue] = {
            "http.request.method": scope["method"],
            # The path only: a query string may carry GraphQL variables, and so tokens (S25).
            "url.path": path,
            "url.scheme": scope.get("scheme", "http"),
        }
        if client:
            attributes["client.address"] = client[0]
        if record is not None:
            attributes["gql.request_id"] = record.request_id
        with self._tracer.start_as_current_span(
            f"{scope['method']} {path}" if path == GRAPHQL_PATH else scope["method"],
            context=extract(headers),
            kind=SpanKind.SERVER,
            attributes=attributes,
        ) as span:
            if record is not None:
                context = span.get_span_context()
                record.trace_id, record.span_id = f"{context.trace_id:032x}", f"{context.span_id:016x}"
            yield span

    def _flushing(self, send: Send) -> Send:
        async def send_then_flush(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                # In a thread: the exporter's HTTP call blocks. Bounded, so that a collector that is away cannot
                # hold up the stop (S38).
                await asyncio.to_thread(self._provider.force_flush, int(TRACES_FLUSH_SECONDS * 1000))
            await send(message)

        return send_then_flush


def _finish(span: Span, scope: Scope, path: str, status: int, record: RequestRecord | None) -> None:
    """Name the span and set what the request came to: the status, and for GraphQL its operation and outcome."""
    span.set_attribute("http.response.status_code", status)
    if status != 404 and not scope.get("path_params"):
        # A route's fixed path (paths that hold parameters, and unknown ones, would make names without end).
        span.set_attribute("http.route", path)
        if path != GRAPHQL_PATH:
            span.update_name(f"{scope['method']} {path}")
    if record is not None and path == GRAPHQL_PATH:
        if record.operation:
            # The root field (bounded: schema names, "(invalid)", "(multiple)"), as the access line names it.
            span.update_name(record.operation)
            span.set_attribute("gql.operation", record.operation)
        if record.operation_name:
            span.set_attribute("graphql.operation.name", record.operation_name)
        if record.outcome:
            span.set_attribute("gql.outcome", record.outcome)
    if status >= 500:
        # As OpenTelemetry's HTTP conventions have it: a server span fails with the server, not with the
        # request (4xx), nor with a GraphQL error (gql.outcome=error), which is mostly a missing session.
        span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
