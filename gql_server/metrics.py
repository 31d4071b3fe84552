"""The Prometheus metrics of the service (prometheus-client), and the small pieces that move them.

Module-level metrics, as prometheus-client intends: they are counted whether or not METRICS_ENABLED
serves them (an increment costs well under a microsecond). `metrics_server.py` serves them, from this
process or, with several workers, from the files every worker writes (multiprocess mode).

Every label value comes from a closed set (union member names, method ids installed on this server,
audit kinds, template names, plugin names), never from what a client typed, so no request can create
new time series. docs/operations.md lists the metrics with suggested alerts.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

import pluggy
from prometheus_client import Counter, Gauge, Histogram

from gql_server.plugin_api import hookimpl

PREFIX = "gql_server"

LOGIN_RESULTS = Counter(
    f"{PREFIX}_login_results", "login mutations by the LoginResult member they answered", ["result"]
)
SECOND_FACTOR_VERIFICATIONS = Counter(
    f"{PREFIX}_second_factor_verifications",
    "verifySecondFactor calls by method and the LoginResult member they answered",
    ["method", "result"],
)
CONVERSIONS_STARTED = Counter(f"{PREFIX}_conversions_started", "account conversions started (R3, R8)")
CONVERSIONS_COMPLETED = Counter(f"{PREFIX}_conversions_completed", "account conversions completed (a factor enrolled)")
LOCKOUTS = Counter(f"{PREFIX}_lockouts", "lockouts by step: password (S4) or second_factor (S6)", ["step"])
AUDIT_EVENTS = Counter(f"{PREFIX}_audit_events", "audited events by kind (S26)", ["kind"])
HASH_QUEUE_DEPTH = Gauge(
    f"{PREFIX}_password_hash_queue_depth",
    "password hashes waiting for a hashing slot (PASSWORD_HASH_CONCURRENCY)",
    multiprocess_mode="livesum",
)
HASH_WAIT = Histogram(
    f"{PREFIX}_password_hash_wait_seconds",
    "time a password hash waited for a hashing slot",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
GRAPHQL_DURATION = Histogram(
    f"{PREFIX}_graphql_request_duration_seconds",
    "duration of /graphql requests by operation (the root field that ran, e.g. login)",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
MAIL_DELIVERIES = Counter(
    f"{PREFIX}_mail_deliveries", "emails handed to the transport by template and result", ["template", "result"]
)
MAIL_RETRIES = Counter(
    f"{PREFIX}_mail_retries", "outbox messages not delivered at an attempt and scheduled again (S36)", ["template"]
)
MAIL_GIVEN_UP = Counter(
    f"{PREFIX}_mail_given_up",
    "outbox messages that will never go out: refused for good, too old, or their link died (S36)",
    ["template"],
)
PLUGIN_ERRORS = Counter(
    f"{PREFIX}_plugin_errors",
    "plugin failures (exceptions and timeouts) by plugin and the hook or method call that failed",
    ["plugin", "call"],
)

# Audit kinds that also have a metric of their own.
_LOCKOUT_STEPS = {"password_lockout": "password", "second_factor_lockout": "second_factor"}


def plugin_failed(plugin: str, call: str) -> None:
    """Count one failure of a plugin (logged by the caller)."""
    PLUGIN_ERRORS.labels(plugin=plugin, call=call).inc()


class InstrumentedSemaphore(asyncio.Semaphore):
    """A semaphore that reports its queue: waiters in HASH_QUEUE_DEPTH, their wait in HASH_WAIT.

    PasswordService bounds hashing with one of these, so both numbers come from a single place.
    """

    async def acquire(self) -> Literal[True]:
        """Wait for a slot, counted as queued until it is granted (or the waiter gives up)."""
        started = time.perf_counter()
        HASH_QUEUE_DEPTH.inc()
        try:
            await super().acquire()
        finally:
            HASH_QUEUE_DEPTH.dec()
        HASH_WAIT.observe(time.perf_counter() - started)
        return True


class MetricsObserver:
    """An `auth_event` observer (registered like any plugin) that counts audited events."""

    @hookimpl
    def auth_event(self, event: Any) -> None:
        """Count the event by kind; conversions and lockouts also in metrics of their own."""
        kind = str(event.kind)
        AUDIT_EVENTS.labels(kind=kind).inc()
        if kind == "conversion_started":
            CONVERSIONS_STARTED.inc()
        elif kind == "conversion_completed":
            CONVERSIONS_COMPLETED.inc()
        elif kind in _LOCKOUT_STEPS:
            LOCKOUTS.labels(step=_LOCKOUT_STEPS[kind]).inc()


def register_observer(pm: pluggy.PluginManager) -> None:
    """Count audited events from now on (once per plugin manager)."""
    if not pm.has_plugin(OBSERVER_NAME):
        pm.register(MetricsObserver(), name=OBSERVER_NAME)


OBSERVER_NAME = "gql_server.metrics"
