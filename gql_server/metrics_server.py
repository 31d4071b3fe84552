"""Serving /metrics (METRICS_ENABLED) on a port of its own, never on the public GraphQL port.

`gql-server serve` starts a small HTTP server in its own process on METRICS_HOST:METRICS_PORT
(127.0.0.1:9464 by default). With one worker that process is the worker, and the server reads the
metrics from memory. With `--workers N` uvicorn spawns N worker processes; each then writes its metrics
to files in PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode), and the server in the
supervising process adds them up, so one scrape sees the whole service whichever worker did the work.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from gql_server.settings import ConfigurationError, Settings

log = logging.getLogger(__name__)

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> Path | None:
    """PROMETHEUS_MULTIPROC_DIR when multiprocess mode is on in this process."""
    value = os.environ.get(MULTIPROC_VARIABLE)
    return Path(value) if value else None


def prepare_multiprocess() -> tuple[Path, bool]:
    """Turn multiprocess mode on for the workers about to be spawned; (the folder, whether we made it).

    Must run before the workers start: prometheus-client picks its storage when it is first imported,
    and each spawned worker imports it afresh with this environment. An operator's folder is emptied of
    the previous run's files (only `*.db`, prometheus-client's own), as prometheus-client requires.
    """
    existing = multiprocess_dir()
    if existing is not None:
        existing.mkdir(parents=True, exist_ok=True)
        for stale in existing.glob("*.db"):
            stale.unlink()
        return existing, False
    made = Path(tempfile.mkdtemp(prefix="gql-server-metrics-"))
    os.environ[MULTIPROC_VARIABLE] = str(made)
    return made, True


def exposition_registry() -> CollectorRegistry:
    """What a scrape reads: every worker's files in multiprocess mode, this process's metrics otherwise."""
    folder = multiprocess_dir()
    if folder is None:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    return registry


def start_metrics_server(host: str, port: int) -> tuple[WSGIServer, threading.Thread]:
    """Serve the metrics at http://host:port/metrics from a daemon thread; OSError if the port is taken."""
    return start_http_server(port, addr=host, registry=exposition_registry())


def worker_stopped() -> None:
    """A worker that stops drops its live gauges (the hash queue depth) from the sum in multiprocess mode."""
    folder = multiprocess_dir()
    if folder is not None:
        mark_process_dead(os.getpid(), str(folder))  # type: ignore[no-untyped-call]


@contextmanager
def serving_metrics(settings: Settings, workers: int) -> Iterator[None]:
    """While the block runs (uvicorn), serve /metrics when METRICS_ENABLED; multiprocess mode for workers > 1."""
    if not settings.metrics_enabled:
        yield
        return
    folder, made = prepare_multiprocess() if workers > 1 else (None, False)
    try:
        server, _thread = start_metrics_server(settings.metrics_host, settings.metrics_port)
    except OSError as exc:
        if made and folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        where = f"{settings.metrics_host}:{settings.metrics_port}"
        raise ConfigurationError(f"cannot serve metrics on {where} (METRICS_HOST, METRICS_PORT): {exc}") from None
    log.info("metrics at http://%s:%s/metrics", settings.metrics_host, settings.metrics_port)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        if made and folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
