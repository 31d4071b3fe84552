"""Tracing (issue 18, docs/operations.md "Tracing"): with TRACING_ENABLED a span per request named after its
GraphQL operation, with its outcome, and child spans for password hashing, database statements and mail; trace
ids in the log lines; OTLP over HTTP to a collector; and with tracing off, no span and not even an import.

The spans are read from OpenTelemetry's in-memory exporter, attached to the process's tracer provider.
"""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import gql_server
from gql_server import spans, tracing
from gql_server.logs import JsonFormatter, RequestIdFilter, TextFormatter
from gql_server.settings import ConfigurationError, Settings

from .flows import PASSWORD, request_invitation
from .graphql import operation
from .test_serve import Served, _base_env, _cli

# One exporter for the module, attached once to the process's provider (which lives as long as the process).
EXPORTER = InMemorySpanExporter()
_attached: set[int] = set()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Spans are made and read here, sent nowhere else.
    return {"tracing_enabled": True, "otel_traces_exporter": "none"}


@pytest.fixture(autouse=True)
def _tracing_switched_off_afterwards() -> Iterator[None]:
    """Set up first, so torn down last, after the app: the next test in this process (of any module) may have
    tracing off, and nothing of this one's may linger."""
    yield
    tracing.uninstall()
    EXPORTER.clear()


@pytest.fixture
def finished(app: Any) -> InMemorySpanExporter:
    """The spans ended while the test runs (the app's start and the fixtures' own work left out)."""
    provider = tracing.provider()
    if provider is not None and id(provider) not in _attached:
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        _attached.add(id(provider))
    EXPORTER.clear()
    return EXPORTER


def _request_span(finished: InMemorySpanExporter, name: str) -> ReadableSpan:
    found = [s for s in finished.get_finished_spans() if s.name == name and s.kind is SpanKind.SERVER]
    assert len(found) == 1, [s.name for s in finished.get_finished_spans()]
    return found[0]


def _descendants(finished: InMemorySpanExporter, root: ReadableSpan) -> list[ReadableSpan]:
    """Every span under `root`, children of children included."""
    every = finished.get_finished_spans()
    below: list[ReadableSpan] = []
    parents = {root.context.span_id}
    grew = True
    while grew:
        grew = False
        for span in every:
            if span.parent is not None and span.parent.span_id in parents and span not in below:
                below.append(span)
                parents.add(span.context.span_id)
                grew = True
    return below


def _database_spans(found: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in found if s.kind is SpanKind.CLIENT and s.attributes and "db.system" in s.attributes]


async def _relax(acme: Any) -> None:
    """Acme without enforced two-factor login: a right password is LoginSuccess at once."""
    acme.enforce_two_factor = False
    await acme.save()


async def test_a_login_is_one_span_named_after_its_root_field_with_its_outcome_hashing_and_statements(
    client, acme, anna, finished, settings
):
    await _relax(acme)
    finished.clear()
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "LoginSuccess"

    login = _request_span(finished, "login")
    assert login.parent is None
    assert login.attributes is not None
    assert login.attributes["gql.operation"] == "login"
    assert login.attributes["gql.outcome"] == "LoginSuccess"
    assert login.attributes["http.route"] == "/graphql"
    assert login.attributes["http.response.status_code"] == 200
    assert login.status.status_code is StatusCode.UNSET
    below = _descendants(finished, login)
    assert {s.context.trace_id for s in below} == {login.context.trace_id}
    [verify] = [s for s in below if s.name == "password.verify"]
    assert verify.parent is not None and verify.parent.span_id == login.context.span_id
    assert verify.attributes is not None and verify.attributes["gql.password.queue_wait_ms"] >= 0
    statements = _database_spans(below)
    system = "sqlite" if settings.database_url.startswith("sqlite") else "postgresql"
    assert statements and all(s.attributes and s.attributes["db.system"] == system for s in statements)
    assert {s.name for s in statements} >= {"SELECT", "INSERT"}


async def test_a_wrong_password_is_the_same_span_with_its_own_outcome(client, anna, finished):
    finished.clear()
    assert (await client.login("anna@example.com", "not the password"))["__typename"] == "InvalidCredentials"

    login = _request_span(finished, "login")
    assert login.attributes is not None and login.attributes["gql.outcome"] == "InvalidCredentials"
    assert any(s.name == "password.verify" for s in _descendants(finished, login))


async def test_spans_hold_no_password_address_or_session_token(client, acme, anna, finished):
    """S25 holds for spans as for logs: statements are sent without their parameters."""
    await _relax(acme)
    finished.clear()
    token = (await client.login("anna@example.com", PASSWORD))["token"]
    await client.login("nobody@example.com", "Another secret 1")

    secrets = {PASSWORD, "Another secret 1", "anna@example.com", "nobody@example.com", token}
    for span in finished.get_finished_spans():
        text = json.dumps({"name": span.name, "attributes": dict(span.attributes or {})}, default=str)
        assert not [s for s in secrets if s in text], text


async def test_a_flow_that_mails_has_outbox_and_mail_spans_under_its_request(client, mailbox, acme, anna, finished):
    await acme.save()  # enforcing: the login asks for a conversion, which mails an invitation
    finished.clear()
    await request_invitation(client, mailbox, "anna@example.com")

    request = _request_span(finished, "requestConversion")
    assert request.attributes is not None and request.attributes["gql.outcome"] == "ConversionRequested"
    below = await _eventually(
        lambda: _descendants(finished, request),
        lambda found: any(
            s.name == "outbox.attempt" and s.attributes and s.attributes.get("gql.mail.delivery") == "SENT"
            for s in found
        ),
    )
    [attempt] = [s for s in below if s.name == "outbox.attempt"]
    [deliver] = [s for s in below if s.name == "mail.deliver"]
    assert deliver.parent is not None and deliver.parent.span_id == attempt.context.span_id
    assert deliver.attributes is not None and deliver.attributes["gql.mail.template"] == "invitation"
    assert deliver.status.status_code is not StatusCode.ERROR
    # The attempt's claim and record are statements of the same trace.
    assert _database_spans([s for s in below if s.parent and s.parent.span_id == attempt.context.span_id])


async def _eventually(
    read: Any,
    done: Any,
    timeout: float = 5.0,  # noqa: ASYNC109 - a poll with its own deadline
) -> list[ReadableSpan]:
    """The outbox's attempt may end a moment after the response: poll until it has."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        found: list[ReadableSpan] = read()
        if done(found) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.02)


async def test_log_lines_carry_the_trace_and_span_id_of_their_request(client, anna, finished):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    # DEBUG: the database driver's lines, written inside the statements' spans.
    root.setLevel(logging.DEBUG)
    try:
        finished.clear()
        response = await client.post(operation("Login"), {"email": "anna@example.com", "password": "wrong"})
    finally:
        root.removeHandler(handler)
        root.setLevel(level)

    login = _request_span(finished, "login")
    trace_id = f"{login.context.trace_id:032x}"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    own = [line for line in lines if line.get("request_id") == response.headers["X-Request-ID"]]
    [access] = [line for line in own if line["logger"] == "gql_server.access"]
    assert access["trace_id"] == trace_id
    assert access["span_id"] == f"{login.context.span_id:016x}"
    assert len(own) > 1, own
    assert all(line["trace_id"] == trace_id for line in own), own
    # The lines written inside a statement's span name that span.
    statement_ids = {f"{s.context.span_id:016x}" for s in _database_spans(_descendants(finished, login))}
    assert {line["span_id"] for line in own} & statement_ids


async def test_a_request_continues_the_callers_trace(client, finished):
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    finished.clear()
    await client.http.post(
        "/graphql",
        json={"query": "{ viewer { __typename } }"},
        headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"},
    )
    [viewer] = [s for s in finished.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert viewer.name == "viewer"
    assert f"{viewer.context.trace_id:032x}" == caller_trace
    assert viewer.parent is not None and f"{viewer.parent.span_id:016x}" == caller_span


async def test_probes_make_no_spans_and_other_routes_are_named_by_route(client, finished):
    finished.clear()
    assert (await client.http.get("/readyz")).status_code == 200
    assert (await client.http.get("/healthz")).status_code == 200
    assert finished.get_finished_spans() == ()
    assert (await client.http.get("/no/such/page")).status_code == 404
    assert (await client.http.get("/graphql", params={"query": "{ __typename }"})).status_code == 200
    assert (await client.http.get("/auth/check")).status_code == 401
    names = [s.name for s in finished.get_finished_spans() if s.kind is SpanKind.SERVER]
    # An unknown path is not a name: paths without end would make span names without end.
    assert names == ["GET", "__typename", "GET /auth/check"]


async def test_the_outboxs_poll_makes_no_trace_of_its_own(services, finished):
    """It runs every OUTBOX_POLL_SECONDS in every process: a trace each time would bury the requests' ones."""
    finished.clear()
    assert await services.outbox.deliver_due() == 0
    assert finished.get_finished_spans() == ()


@pytest.mark.parametrize("settings_overrides", [{}])
async def test_with_tracing_off_nothing_is_traced(client, anna, settings, settings_overrides):
    assert not settings.tracing
    assert spans.hooks.tracer is None and spans.hooks.current_span is None
    provider = tracing.provider()
    before = len(EXPORTER.get_finished_spans())
    response = await client.post(operation("Login"), {"email": "anna@example.com", "password": PASSWORD})
    assert response.status_code == 200
    assert len(EXPORTER.get_finished_spans()) == before
    assert tracing.provider() is provider  # none was made for this app


def test_otel_sdk_disabled_switches_tracing_off_and_unknown_exporters_are_refused():
    assert not Settings(tracing_enabled=True, otel_sdk_disabled=True).tracing
    assert Settings(tracing_enabled=True).tracing
    assert not Settings().tracing
    assert Settings(otel_traces_exporter="OTLP, console").traces_exporters == ["otlp", "console"]
    assert Settings(otel_traces_exporter="none").traces_exporters == []
    with pytest.raises(ValueError, match="not a traces exporter"):
        Settings(otel_traces_exporter="jaeger")


def test_tracing_without_the_extra_stops_the_start_with_what_to_install(monkeypatch):
    # As if OpenTelemetry were not installed: its import fails.
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.delitem(sys.modules, "gql_server.tracing")
    monkeypatch.delattr(gql_server, "tracing")
    with pytest.raises(ConfigurationError, match=r"gql-server\[tracing\]"):
        spans.tracing_middleware(Settings(tracing_enabled=True))


def test_an_otlp_protocol_the_extra_cannot_serve_stops_the_start(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(ConfigurationError, match="http/protobuf"):
        tracing._make_provider(Settings(tracing_enabled=True))


# A process with tracing off serves a login and mails an invitation; then it says which OpenTelemetry modules it
# loaded beyond those that importing redis-py loads on its own (redis-py looks for OpenTelemetry's metrics SDK when
# it is imported, whatever this service does), and whether Tortoise's methods were wrapped. With "absent" every
# import of OpenTelemetry fails, as without the extra.
_UNTRACED_PROCESS = """
import asyncio, json, sys
from importlib.abc import MetaPathFinder

class Absent(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "opentelemetry":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

if sys.argv[3] == "absent":
    sys.meta_path.insert(0, Absent())

import redis
from tortoise.backends.sqlite.client import SqliteClient
from gql_server.enums import MembershipLevel
from gql_server.testing import CHEAP_HASHER
from gql_server.testing.harness import asgi_client, running_app, settings_for_test

def loaded() -> set[str]:
    return {name for name in sys.modules if name.split(".")[0] == "opentelemetry"}

async def main() -> None:
    redis_own = loaded()
    settings = settings_for_test(sys.argv[1], sys.argv[2])
    async with running_app(settings, CHEAP_HASHER) as app, asgi_client(app) as client:
        assert (await client.login("nobody@example.com", "not a password"))["__typename"] == "InvalidCredentials"
        operator = app.state.services.operator
        customer = await operator.create_customer("Acme Oy")
        made = await operator.create_user(
            customer_id=str(customer.id), email="anna@example.com", level=MembershipLevel.COMPANY, password=None
        )
        wrapped = type(SqliteClient.__dict__["execute_query"]).__module__.startswith("wrapt")
    print(json.dumps({
        "beyond_redis": sorted(loaded() - redis_own),
        "tracing_module": "gql_server.tracing" in sys.modules,
        "tortoise_wrapped": wrapped,
        "delivery": str(made.delivery),
    }))

asyncio.run(main())
"""


@pytest.mark.slow
@pytest.mark.parametrize("opentelemetry", ["installed", "absent"])
def test_with_tracing_off_the_service_loads_nothing_of_opentelemetry(database_url, mailbox, opentelemetry):
    result = subprocess.run(
        [sys.executable, "-c", _UNTRACED_PROCESS, database_url, mailbox.url, opentelemetry],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report == {"beyond_redis": [], "tracing_module": False, "tortoise_wrapped": False, "delivery": "SENT"}


# --- OTLP over HTTP, from `gql-server serve`, to a collector of the test's own ----------------------------------


class Collector:
    """The receiving end of OTLP/HTTP: records every POST (path, headers, protobuf body) and accepts it."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                posts.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def spans(self) -> list[tuple[dict[str, str], Any]]:
        """Every span received, with the attributes of its resource."""
        found = []
        for path, _, body in self.posts:
            assert path == "/v1/traces"
            for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                found += [(resource, span) for scope in resource_spans.scope_spans for span in scope.spans]
        return found


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: getattr(pair.value, pair.value.WhichOneof("value")) for pair in pairs}


@pytest.fixture
def collector() -> Iterator[Collector]:
    running = Collector()
    running.thread.start()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()


@pytest.mark.slow
async def test_serve_exports_its_spans_over_otlp_http_as_the_otel_variables_say(database_url, collector, tmp_path):
    caller_trace, caller_span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    env = _base_env(
        tmp_path,
        DATABASE_URL=database_url,
        TRACING_ENABLED="true",
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer collector-token",
        OTEL_SERVICE_NAME="gql-server-test",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=test",
        # Nothing is sent on the batch's schedule while the test runs: what arrives, the stop flushed (S38).
        OTEL_BSP_SCHEDULE_DELAY="600000",
    )
    customer = _cli(env, tmp_path, "customer", "create", "Relaxed Oy")["id"]
    _cli(env, tmp_path, "user", "create", "--customer", customer, "--email", "anna@example.com",
         "--password", PASSWORD, "--level", "company")  # fmt: skip
    served = Served(env, tmp_path)
    try:
        await served.wait_until_ready()
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{served.url}/graphql",
                json={"query": operation("Login"), "variables": {"email": "anna@example.com", "password": PASSWORD}},
                headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"},
                timeout=30,
            )
        assert not collector.posts, "sent before the stop"
    finally:
        code = served.stop()

    assert code == -signal.SIGTERM, served.log()  # uvicorn's way of ending after a clean shutdown
    outcome = response.json()["data"]["login"]["__typename"]
    assert collector.posts, served.log()
    assert {headers["authorization"] for _, headers, _ in collector.posts} == {"Bearer collector-token"}
    assert {headers["content-type"] for _, headers, _ in collector.posts} == {"application/x-protobuf"}
    received = collector.spans()
    [(resource, login)] = [(r, s) for r, s in received if s.name == "login"]
    assert resource["service.name"] == "gql-server-test"
    assert resource["deployment.environment.name"] == "test"
    assert login.trace_id.hex() == caller_trace and login.parent_span_id.hex() == caller_span
    assert _attributes(login.attributes)["gql.outcome"] == outcome
    children = {s.name for _, s in received if s.parent_span_id == login.span_id}
    assert "password.verify" in children and "SELECT" in children
    # The service's own log line for the request names the same trace and span.
    [access] = [e for e in served.log_entries() if e["logger"] == "gql_server.access" and e["path"] == "/graphql"]
    assert access["trace_id"] == caller_trace and access["span_id"] == login.span_id.hex()


def test_text_lines_carry_the_ids_after_the_request_id_and_json_lines_as_fields():
    record = logging.makeLogRecord({"name": "gql_server.access", "levelname": "INFO", "msg": "POST /graphql 200"})
    record.request_id, record.trace_id, record.span_id = "req-1", "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    text = TextFormatter().format(record)
    assert text.endswith(
        " gql_server.access [req-1] trace_id=0af7651916cd43dd8448eb211c80319c span_id=b7ad6b7169203331 POST /graphql 200"
    )
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["trace_id"], entry["span_id"]) == ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    # Outside a trace (or with tracing off) neither format mentions one.
    untraced = logging.makeLogRecord({"name": "gql_server", "levelname": "INFO", "msg": "hello"})
    RequestIdFilter().filter(untraced)
    assert "trace_id" not in TextFormatter().format(untraced)
    assert "trace_id" not in json.loads(JsonFormatter().format(untraced))


def test_the_service_is_called_gql_server_unless_the_otel_variables_name_it(monkeypatch):
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging")
    resource = tracing._resource().attributes
    assert (resource["service.name"], resource["deployment.environment.name"]) == ("gql-server", "staging")
    assert resource["service.version"] == gql_server.__version__
    monkeypatch.setenv("OTEL_SERVICE_NAME", "auth")
    assert tracing._resource().attributes["service.name"] == "auth"
