"""S37 (plugin calls run off the event loop, bounded by their timeout, outside any transaction) and S36 (a
failed re-send never destroys a code that was delivered), with misbehaving methods from tests.plugin_fakes
and a mail server of the test's own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from gql_server.models import EnrolledFactor, OneTimeCode

from . import plugin_fakes
from .flows import PASSWORD, challenge, convert, request_invitation, verify
from .local_services import free_port
from .mailbox import Mailbox, code_in
from .test_plugin_kit import FAKES, _enroll_flaky

TIMEOUT = 1.0


@pytest.fixture
def settings_overrides():
    return {**FAKES, "gql_server_plugin_timeout_seconds": TIMEOUT}


@pytest.fixture(autouse=True)
def fakes() -> Iterator[None]:
    plugin_fakes.MODE["send"] = "ok"
    plugin_fakes.SENT.clear()
    plugin_fakes.STALLING.clear()
    plugin_fakes.UNBLOCK.clear()
    try:
        yield
    finally:
        # A blocked plugin thread returns at once; nothing outlives the test.
        plugin_fakes.UNBLOCK.set()


@pytest.fixture
async def bea(make_customer, make_user):
    """A password user of a customer that does not enforce two factors: the "other user"."""
    return await make_user(await make_customer("Relaxed Oy"), "bea@example.com", PASSWORD)


async def _stalling() -> None:
    """Until the plugin is inside its "hang" or "block" (it runs on another thread: poll its flag)."""
    async with asyncio.timeout(10):
        while True:
            if plugin_fakes.STALLING.is_set():
                return
            await asyncio.sleep(0.005)


async def _timed(call):
    started = time.monotonic()
    result = await call
    return result, time.monotonic() - started


async def test_s37_a_verify_blocking_its_thread_stalls_no_one_else_and_answers_at_the_timeout(
    client, mailbox, make_user, acme, bea
):
    token = await _enroll_flaky(client, mailbox, make_user, acme)
    bea_session = await client.login_token("bea@example.com", PASSWORD)

    started = time.monotonic()
    blocked = asyncio.create_task(verify(client, token, "flaky", "block"))
    await _stalling()
    login, login_took = await _timed(client.login("bea@example.com", PASSWORD))
    viewer, viewer_took = await _timed(client.run("Viewer", bearer=bea_session))
    answer = await blocked
    answered_after = time.monotonic() - started

    assert login["__typename"] == "LoginSuccess" and login_took < 1.0, login_took
    assert viewer["viewer"]["user"]["email"] == "bea@example.com" and viewer_took < 1.0, viewer_took
    # Its own request answers at the timeout: a plugin that fails is a wrong code (the attempt counts).
    assert answer["__typename"] == "InvalidCode", answer
    assert answered_after < TIMEOUT + 0.5, answered_after


async def test_s37_a_hanging_verify_holds_no_transaction_and_delays_no_other_login(
    client, mailbox, make_user, acme, bea
):
    token = await _enroll_flaky(client, mailbox, make_user, acme)

    hanging = asyncio.create_task(verify(client, token, "flaky", "hang"))
    await _stalling()
    login, login_took = await _timed(client.login("bea@example.com", PASSWORD))
    answer = await hanging

    assert login["__typename"] == "LoginSuccess" and login_took < 1.0, login_took
    assert answer["__typename"] == "InvalidCode"


async def test_s37_several_factors_of_a_hanging_method_cost_one_timeout_not_one_each(client, mailbox, make_user, acme):
    token = await _enroll_flaky(client, mailbox, make_user, acme)
    first = await EnrolledFactor.get(method="flaky")
    # Two more factors of the same method (as addFactor would leave them): three verify calls per code.
    for label in ("second", "third"):
        await EnrolledFactor.create(
            user_id=first.user_id,
            method="flaky",
            state_encrypted=first.state_encrypted,
            label=label,
            created_at=first.created_at,
        )

    answer, took = await _timed(verify(client, token, "flaky", "hang"))

    assert answer["__typename"] == "InvalidCode", answer
    assert took < TIMEOUT + 0.5, took


async def test_s37_the_plugin_runner_keeps_a_blocked_thread_out_of_new_work(client, mailbox, make_user, acme, services):
    token = await _enroll_flaky(client, mailbox, make_user, acme)

    assert (await verify(client, token, "flaky", "block"))["__typename"] == "InvalidCode"
    # The thread that is still blocked gets nothing new: the next call runs, and passes, on another one.
    assert (await verify(client, token, "flaky", "100001"))["__typename"] == "LoginSuccess"
    assert services.plugin_runner.threads >= 2


async def test_s36_a_failed_resend_keeps_the_delivered_code(client, mailbox, make_user, acme):
    await make_user(acme, "anna@example.com", PASSWORD)
    invitation = await request_invitation(client, mailbox, "anna@example.com")
    begun = (await client.run("BeginEnrollment", invitation=invitation, method="flakysms"))["beginEnrollment"]
    await client.run("ConfirmEnrollment", enrollment=begun["enrollment"], code=plugin_fakes.SENT[-1])
    token = await challenge(client, "anna@example.com")
    sent = (await client.run("SendLoginCode", challenge=token, method="flakysms"))["sendLoginCode"]
    delivered = plugin_fakes.SENT[-1]
    plugin_fakes.MODE["send"] = "boom"

    failed = (await client.run("SendLoginCode", challenge=token, method="flakysms"))["sendLoginCode"]
    result = await verify(client, token, "flakysms", delivered)

    assert sent["__typename"] == "CodeSent"
    assert failed["__typename"] == "MethodNotAvailable"
    assert result["__typename"] == "LoginSuccess", result


class OwnSmtp:
    """An aiosmtpd server of the test's own, to stop in the middle of a test."""

    def __init__(self) -> None:
        port = free_port()
        self.mailbox = Mailbox(f"smtp://127.0.0.1:{port}")
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=port)
        self._controller.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._controller.stop()
            self.running = False


class TestEmailResend:
    @pytest.fixture
    def own_smtp(self) -> Iterator[OwnSmtp]:
        server = OwnSmtp()
        try:
            yield server
        finally:
            server.stop()

    @pytest.fixture
    def settings_overrides(self, own_smtp):
        return {"smtp_url": own_smtp.mailbox.url}

    async def test_s36_a_resend_to_a_mail_server_that_went_away_keeps_the_delivered_code(
        self, client, own_smtp, acme, make_user
    ):
        await make_user(acme, "anna@example.com", PASSWORD)
        await convert(client, own_smtp.mailbox, "anna@example.com", "email_code")
        token = await challenge(client, "anna@example.com")
        await client.run("SendLoginCode", challenge=token, method="email_code")
        delivered = code_in(await own_smtp.mailbox.next_to("anna@example.com", "login_code"))
        own_smtp.stop()  # nobody listens on its port any more

        failed = (await client.run("SendLoginCode", challenge=token, method="email_code"))["sendLoginCode"]
        result = await verify(client, token, "email_code", delivered)

        assert failed["__typename"] == "MethodNotAvailable"
        assert result["__typename"] == "LoginSuccess", result
        # The code of the failed re-send died; only the delivered one was ever usable.
        assert await OneTimeCode.filter(used_at=None).count() == 0
