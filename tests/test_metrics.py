"""Prometheus metrics (issue 8): the numbers move as the flows run, labels stay bounded, and /metrics is
served on its own port only. The multi-worker sum is in tests/test_serve.py.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

import httpx
import pluggy
import pytest
from prometheus_client import REGISTRY, generate_latest

from gql_server import hookspecs, metrics
from gql_server.audit import AuditKind
from gql_server.hookspecs import hookimpl
from gql_server.mail import MailNotDelivered, MailService
from gql_server.mail_transports import SmtpTransport
from gql_server.metrics_server import exposition_registry, serving_metrics, start_metrics_server
from gql_server.settings import ConfigurationError, Settings

from .flows import PASSWORD, challenge, convert, request_invitation, totp_code, verify
from .local_services import free_port


def value(name: str, **labels: str) -> float:
    """The current value of one series (0 when it does not exist yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Moves:
    """Differences of chosen series between the snapshot and now: counters are process-wide."""

    def __init__(self, *series: tuple[str, dict[str, str]]) -> None:
        self._series = series
        self._before = [value(name, **labels) for name, labels in series]

    def now(self) -> list[float]:
        return [
            value(name, **labels) - before for (name, labels), before in zip(self._series, self._before, strict=True)
        ]


async def test_login_conversion_second_factor_and_lockout_metrics_move_with_the_flows(
    client, mailbox, acme, make_customer, make_user
):
    await make_user(acme, "anna@example.com", PASSWORD)
    await make_user(await make_customer("Relaxed Oy"), "bea@example.com", PASSWORD)
    moves = Moves(
        ("gql_server_login_results_total", {"result": "InvalidCredentials"}),
        ("gql_server_login_results_total", {"result": "ConversionRequired"}),
        ("gql_server_login_results_total", {"result": "SecondFactorRequired"}),
        ("gql_server_login_results_total", {"result": "LoginSuccess"}),
        ("gql_server_lockouts_total", {"step": "password"}),
        ("gql_server_conversions_started_total", {}),
        ("gql_server_conversions_completed_total", {}),
        ("gql_server_second_factor_verifications_total", {"method": "totp", "result": "InvalidCode"}),
        ("gql_server_second_factor_verifications_total", {"method": "totp", "result": "LoginSuccess"}),
        ("gql_server_mail_deliveries_total", {"template": "invitation", "result": "sent"}),
        ("gql_server_mail_deliveries_total", {"template": "factor_added", "result": "sent"}),
        ("gql_server_audit_events_total", {"kind": "login_failed"}),
        ("gql_server_graphql_request_duration_seconds_count", {"operation": "login"}),
        ("gql_server_graphql_request_duration_seconds_count", {"operation": "verifySecondFactor"}),
        ("gql_server_password_hash_wait_seconds_count", {}),
    )

    for _ in range(3):
        await client.login("bea@example.com", "wrong password")  # the third locks (S4)
    converted = await convert(client, mailbox, "anna@example.com")  # ConversionRequired, then enrollment
    token = await challenge(client, "anna@example.com")
    code = totp_code(converted.secret, 1)
    wrong = "000000" if code != "000000" else "111111"
    assert (await verify(client, token, "totp", wrong))["__typename"] == "InvalidCode"
    assert (await verify(client, token, "totp", code))["__typename"] == "LoginSuccess"

    (invalid, conversion_required, second_factor_required, login_success, lockouts, started, completed,
     totp_wrong, totp_right, invitations, factor_notices, failed_audits, login_requests, verify_requests,
     hashes) = moves.now()  # fmt: skip
    assert (invalid, conversion_required, second_factor_required, login_success) == (3, 1, 1, 0)
    assert lockouts == 1
    assert (started, completed) == (1, 1)
    assert (totp_wrong, totp_right) == (1, 1)
    assert (invitations, factor_notices) == (1, 1)
    assert failed_audits == 3
    assert (login_requests, verify_requests) == (5, 2)
    assert hashes >= 5  # every password check waited for a hashing slot, if only for a moment


def test_every_audit_kind_with_a_metric_of_its_own_exists():
    kinds = {kind.value for kind in AuditKind}
    assert {"conversion_started", "conversion_completed", "password_lockout", "second_factor_lockout"} <= kinds


async def test_second_factor_lockout_is_counted(client, mailbox, acme, make_user):
    await make_user(acme, "anna@example.com", PASSWORD)
    converted = await convert(client, mailbox, "anna@example.com")
    good = {totp_code(converted.secret, step) for step in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in good)
    moves = Moves(("gql_server_lockouts_total", {"step": "second_factor"}))

    for _ in range(2):  # S6: 10 wrong codes in a row, over two challenges of five
        token = await challenge(client, "anna@example.com")
        for _ in range(5):
            await verify(client, token, "totp", wrong)

    assert moves.now() == [1]


async def test_labels_never_take_what_the_client_typed(client, acme, make_user):
    await make_user(acme, "anna@example.com", PASSWORD)
    invented = "method-" + "x" * 40
    moves = Moves(
        ("gql_server_second_factor_verifications_total", {"method": "(unknown)", "result": "ChallengeExpired"}),
        ("gql_server_graphql_request_duration_seconds_count", {"operation": "(invalid)"}),
        ("gql_server_graphql_request_duration_seconds_count", {"operation": "(multiple)"}),
    )

    await verify(client, "no-such-challenge", invented, "123456")
    await client.http.post("/graphql", json={"query": "query MyOwnName { noSuchField }", "operationName": "MyOwnName"})
    await client.http.post("/graphql", json={"query": "{ viewer { user { email } } secondFactorMethods { id } }"})

    assert moves.now() == [1, 1, 1]
    exposition = generate_latest(REGISTRY).decode()
    assert invented not in exposition and "MyOwnName" not in exposition and "noSuchField" not in exposition


class TestPluginErrors:
    @pytest.fixture
    def settings_overrides(self):
        return {"gql_server_plugins": "tests.plugin_fakes", "gql_server_plugin_timeout_seconds": 0.3}

    async def test_a_failing_method_and_a_failing_observer_are_counted_by_plugin(
        self, client, mailbox, services, acme, make_user
    ):
        class BrokenObserver:
            @hookimpl
            def auth_event(self, event):
                raise RuntimeError("observer exploded")

        await make_user(acme, "anna@example.com", PASSWORD)
        invitation = await request_invitation(client, mailbox, "anna@example.com")
        begun = (await client.run("BeginEnrollment", invitation=invitation, method="flaky"))["beginEnrollment"]
        await client.run("ConfirmEnrollment", enrollment=begun["enrollment"], code="100000")
        token = await challenge(client, "anna@example.com")
        moves = Moves(
            ("gql_server_plugin_errors_total", {"plugin": "flaky", "call": "verify"}),
            ("gql_server_plugin_errors_total", {"plugin": "broken-observer", "call": "auth_event"}),
            ("gql_server_second_factor_verifications_total", {"method": "flaky", "result": "InvalidCode"}),
        )
        services.plugins.register(BrokenObserver(), name="broken-observer")
        try:
            assert (await verify(client, token, "flaky", "boom"))["__typename"] == "InvalidCode"
        finally:
            services.plugins.unregister(name="broken-observer")

        flaky, observer, wrong = moves.now()
        assert flaky == 1 and wrong == 1
        assert observer >= 1  # the failed attempt is audited (second_factor_failed), maybe more


async def test_mail_deliveries_count_failures_too():
    pm = pluggy.PluginManager("gql_server")
    pm.add_hookspecs(hookspecs)
    pm.register(SmtpTransport(f"smtp://127.0.0.1:{free_port()}"))  # nothing listens there
    nobody = pluggy.PluginManager("gql_server")
    nobody.add_hookspecs(hookspecs)
    moves = Moves(("gql_server_mail_deliveries_total", {"template": "login_code", "result": "failed"}))
    values = {"code": "123456", "expires_at": datetime(2030, 1, 1, tzinfo=UTC)}

    with pytest.raises(MailNotDelivered) as refused:
        await MailService(pm, "a@example.com").send("login_code", to="b@example.com", locale="en", **values)
    assert refused.value.retryable and isinstance(refused.value.__cause__, OSError)
    with pytest.raises(MailNotDelivered):
        await MailService(nobody, "a@example.com").send("login_code", to="b@example.com", locale="en", **values)

    assert moves.now() == [2]


async def test_hash_queue_depth_and_wait_come_from_the_semaphore():
    slots = metrics.InstrumentedSemaphore(1)
    depth = Moves(("gql_server_password_hash_queue_depth", {}))
    waits = Moves(("gql_server_password_hash_wait_seconds_count", {}))

    await slots.acquire()  # free: granted at once, never counted as queued
    assert depth.now() == [0]
    second = asyncio.create_task(slots.acquire())
    third = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0.01)
    assert depth.now() == [2]
    third.cancel()  # a waiter that gives up leaves the queue
    await asyncio.sleep(0)
    assert depth.now() == [1]
    slots.release()
    await second
    slots.release()

    assert depth.now() == [0]
    assert waits.now() == [2]  # the first and the second; the cancelled one never got a slot


async def test_password_service_hashes_through_the_instrumented_semaphore(services):
    waits = Moves(("gql_server_password_hash_wait_seconds_count", {}))

    await asyncio.gather(*(services.passwords.hash(f"password {i}") for i in range(3)))

    assert waits.now() == [3]


async def test_metrics_are_served_on_their_own_port_and_not_by_the_app(client):
    await client.login("nobody@example.com", "whatever it is")
    port = free_port()
    server, thread = start_metrics_server("127.0.0.1", port)
    try:
        async with httpx.AsyncClient() as http:
            scraped = await http.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    on_app = await client.http.get("/metrics")

    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    assert 'gql_server_login_results_total{result="InvalidCredentials"}' in scraped.text
    assert "# TYPE gql_server_password_hash_queue_depth gauge" in scraped.text
    assert on_app.status_code == 404


def test_metrics_are_off_by_default_and_a_taken_port_is_a_clear_refusal():
    settings = Settings(_env_file=None, secret_key="k" * 32)
    assert settings.metrics_enabled is False
    with serving_metrics(settings, workers=1):
        pass  # nothing is started, nothing to refuse

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        enabled = Settings(_env_file=None, secret_key="k" * 32, metrics_enabled=True, metrics_port=port)
        with pytest.raises(ConfigurationError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            with serving_metrics(enabled, workers=1):
                pass


def test_one_process_exposes_its_own_registry():
    assert exposition_registry() is REGISTRY
