"""Spans around the slow parts of a request (password hashing, mail), and the trace ids for log lines: no-ops
until tracing is installed (gql_server/tracing.py, TRACING_ENABLED).

This module imports nothing of OpenTelemetry. With tracing off every call here is one comparison with None
and hands back a shared do-nothing context manager, so the request path pays nothing for the option (a test
checks that it does not even import OpenTelemetry). `gql_server.tracing.install` fills in the tracer.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from starlette.middleware import Middleware

from gql_server.request_log import current_request
from gql_server.settings import ConfigurationError, Settings

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer
    from opentelemetry.util.types import AttributeValue

# Reusable: entering and leaving it any number of times, nested or in parallel tasks, does nothing.
_NOTHING: AbstractContextManager[None] = nullcontext()


class _Hooks:
    """What tracing.install sets: the tracer, the current span, and how to leave instrumentation out of a
    block. All None while tracing is off."""

    tracer: Tracer | None = None
    current_span: Callable[[], Span] | None = None
    untraced: Callable[[], AbstractContextManager[Any]] | None = None


hooks = _Hooks()


def span(name: str, attributes: dict[str, AttributeValue] | None = None) -> AbstractContextManager[Any]:
    """A child span of whatever is current (the request's span) for the block; nothing with tracing off."""
    tracer = hooks.tracer
    if tracer is None:
        return _NOTHING
    return tracer.start_as_current_span(name, attributes=attributes)


def annotate(key: str, value: AttributeValue) -> None:
    """Set an attribute on the current span (with tracing off, or outside any span: nothing)."""
    if hooks.current_span is not None:
        hooks.current_span().set_attribute(key, value)


def untraced() -> AbstractContextManager[Any]:
    """A block whose database statements make no spans: housekeeping that runs every few seconds outside any
    request (the outbox's poll) would otherwise start a trace of its own each time."""
    return _NOTHING if hooks.untraced is None else hooks.untraced()


def current_trace_ids() -> tuple[str, str] | None:
    """The trace and span id (hex) of the current span, for log lines; the request's span once it has ended
    (the access line is written after it); None with tracing off or outside any trace."""
    if hooks.current_span is None:
        return None
    context = hooks.current_span().get_span_context()
    if context.is_valid:
        return f"{context.trace_id:032x}", f"{context.span_id:016x}"
    record = current_request()
    if record is not None and record.trace_id is not None and record.span_id is not None:
        return record.trace_id, record.span_id
    return None


def tracing_middleware(settings: Settings) -> Middleware:
    """With tracing on (TRACING_ENABLED): install it in this process (gql_server/tracing.py) and return the
    middleware that traces each request. Raises ConfigurationError when the `tracing` extra is not installed."""
    try:
        from gql_server import tracing
    except ImportError as exc:
        if not (exc.name or "").startswith("opentelemetry"):
            raise
        raise ConfigurationError(
            "TRACING_ENABLED=true needs OpenTelemetry, which the tracing extra installs: "
            "pip install 'gql-server[tracing]'"
        ) from exc
    provider = tracing.install(settings)
    return Middleware(tracing.TracingMiddleware, provider=provider)
