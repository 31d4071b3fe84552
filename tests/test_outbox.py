"""S36 and S37 for mail: the outbox, and mail servers that are slow, down, hung or refusing.

Every mail server here is the test's own (aiosmtpd, or a silent TCP server) on a free port; nothing is
mocked: the service mails through SMTP exactly as in production.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest

from gql_server import mail_transports
from gql_server.clock import utcnow
from gql_server.enums import ConversionState, TokenPurpose
from gql_server.mail import MailNotDelivered, MailService
from gql_server.models import MailOutbox, Token, User
from gql_server.outbox import Delivery, Outbox
from gql_server.plugins import create_plugin_manager
from gql_server.tokens import hash_token

from .flows import PASSWORD
from .graphql import GraphQLClient
from .local_services import free_port
from .mailbox import body, invitation_token_in, running_smtp_server
from .smtp_faults import SilentSmtpServer, elapsed_since, refusing_smtp, slow_smtp_server

__all__ = ["refusing_smtp"]  # a fixture

# Requests that share nothing with the mail must answer within this, whatever the mail server does.
PROMPT = 1.0


async def _ask_for_invitation(client: GraphQLClient, email: str) -> dict[str, Any]:
    ticket = (await client.login(email, PASSWORD))["ticket"]
    answer = (await client.run("RequestConversion", ticket=ticket, email=email))["requestConversion"]
    assert isinstance(answer, dict)
    return answer


async def _make_due_now() -> None:
    await MailOutbox.filter(sent_at=None, failed_at=None).update(next_attempt_at=utcnow(), claimed_until=None)


class TestSlowMailServer:
    """A mail server that takes seconds per message (the second review saw 8 s), longer than a request waits."""

    @pytest.fixture
    def slow(self):
        with slow_smtp_server(delay=3.0) as mailbox:
            yield mailbox

    @pytest.fixture
    def settings_overrides(self, slow):
        return {"smtp_url": slow.url, "mail_wait_seconds": 1.0}

    async def test_s36_a_slow_mail_server_delays_only_the_mail(self, client, acme, make_customer, make_user, slow):
        await make_user(acme, "anna@example.com", PASSWORD)
        await make_user(await make_customer("Free Oy"), "bea@example.com", PASSWORD)

        started = time.perf_counter()
        asking = asyncio.create_task(_ask_for_invitation(client, "anna@example.com"))
        await asyncio.sleep(0.3)  # anna's mail is with the mail server now
        others = await _timed_other_requests(client)
        answer = await asking

        # Everyone else was answered at once, and anna within her request's wait, truthfully.
        assert all(seconds < PROMPT for seconds in others.values()), others
        assert answer["__typename"] == "ConversionRequested"
        assert answer["delivery"] == "QUEUED"
        assert elapsed_since(started) < 3.0
        assert (await User.get(email="anna@example.com")).conversion is ConversionState.PENDING

        # The mail the server accepts after the request gave up points at a live invitation.
        [message] = await slow.wait_for(1, timeout=15)
        token = invitation_token_in(message)
        shown = (await client.run("Invitation", token=token))["invitation"]
        assert shown["email"] == "anna@example.com"
        row = await _when_finished(await MailOutbox.get(template="invitation"))
        assert row.sent_at is not None and row.message_encrypted is None


async def _when_finished(row: MailOutbox) -> MailOutbox:
    """The row once its attempt has recorded the outcome (the server answers a moment before that)."""
    async with asyncio.timeout(5):
        while row.sent_at is None and row.failed_at is None:
            await asyncio.sleep(0.05)
            row = await MailOutbox.get(id=row.id)
    return row


async def _timed_other_requests(client: GraphQLClient) -> dict[str, float]:
    """Another user's login and viewer, and /readyz, each timed."""
    times: dict[str, float] = {}
    started = time.perf_counter()
    other = await client.login("bea@example.com", PASSWORD)
    times["login"] = elapsed_since(started)
    assert other["__typename"] == "LoginSuccess", other
    started = time.perf_counter()
    viewer = await client.execute("{ viewer { user { email } } }", bearer=other["token"])
    times["viewer"] = elapsed_since(started)
    assert viewer["viewer"]["user"]["email"] == "bea@example.com"
    started = time.perf_counter()
    ready = await client.http.get("/readyz")
    times["readyz"] = elapsed_since(started)
    assert ready.status_code == 200, ready.text
    return times


class TestMailServerDown:
    """Nobody listens where SMTP_URL points, until the test starts a server there."""

    @pytest.fixture
    def port(self):
        return free_port()

    @pytest.fixture
    def settings_overrides(self, port):
        return {"smtp_url": f"smtp://127.0.0.1:{port}"}

    async def test_s36_an_invitation_waits_in_the_outbox_until_the_server_is_back(
        self, client, services, acme, make_user, port
    ):
        await make_user(acme, "anna@example.com", PASSWORD)

        answer = await _ask_for_invitation(client, "anna@example.com")

        assert answer["__typename"] == "ConversionRequested"
        assert answer["delivery"] == "QUEUED"
        assert (await User.get(email="anna@example.com")).conversion is ConversionState.PENDING
        row = await MailOutbox.get(template="invitation")
        assert (row.attempts, row.sent_at, row.failed_at) == (1, None, None)
        assert row.next_attempt_at > utcnow() + timedelta(seconds=20)  # backing off
        assert "Connect" in (row.last_error or "")

        with running_smtp_server(port=port) as mailbox:
            await _make_due_now()
            # Whichever claims it first delivers it: this call, or the app's own outbox worker.
            await services.outbox.deliver_due()
            message = await mailbox.next_to("anna@example.com", "invitation")
        shown = (await client.run("Invitation", token=invitation_token_in(message)))["invitation"]
        assert shown["email"] == "anna@example.com"

    async def test_s36_a_replaced_invitation_is_never_delivered(self, client, services, acme, make_user, port):
        await make_user(acme, "anna@example.com", PASSWORD)
        first = await _ask_for_invitation(client, "anna@example.com")
        again = await _ask_for_invitation(client, "anna@example.com")  # ConversionPending: a re-send
        assert (first["delivery"], again["delivery"]) == ("QUEUED", "QUEUED")

        with running_smtp_server(port=port) as mailbox:
            await _make_due_now()
            await services.outbox.deliver_due()
            message = await mailbox.next_to("anna@example.com", "invitation")
            await asyncio.sleep(0.3)
            # The first invitation died with the re-send: its mail is dropped, never delivered with a dead link.
            assert mailbox.messages == []
        live = await Token.get(token_hash=hash_token(invitation_token_in(message)))
        assert live.used_at is None
        dropped = await MailOutbox.get(failed_at__not_isnull=True)
        assert dropped.last_error == "the link in this message is no longer valid"
        assert dropped.message_encrypted is None


class TestRefusingMailServer:
    @pytest.fixture
    def settings_overrides(self, refusing_smtp):
        return {"smtp_url": refusing_smtp.url}

    async def test_s36_an_address_refused_for_good_is_invalid_input_and_the_invitation_dies(
        self, client, acme, make_user
    ):
        await make_user(acme, "anna@example.com", PASSWORD)
        ticket = (await client.login("anna@example.com", PASSWORD))["ticket"]

        answer = (await client.run("RequestConversion", ticket=ticket, email="nobody@example.org"))["requestConversion"]

        assert (answer["__typename"], answer["field"]) == ("InvalidInput", "email")
        assert "refused" in answer["message"]
        anna = await User.get(email="anna@example.com")
        # R4: the conversion started, and goes on at the account's own address, the one that works.
        assert (anna.conversion, anna.pending_email) == (ConversionState.PENDING, None)
        assert not await Token.filter(purpose=TokenPurpose.INVITATION, used_at=None).exists()
        assert (await client.login("anna@example.com", PASSWORD))["sentTo"] == "a***@example.com"


async def test_s36_two_processes_never_send_one_message_twice(services, smtp_session, mailbox):
    # Two outboxes on one database, as two serving processes have: each claims before it sends.
    other = Outbox(services.mailer, _keyring(services))
    user = await User.create(email="anna@example.com")
    queued = await services.outbox.put("factor_added", to=user.email, locale="en", method_name="TOTP")

    results = await asyncio.gather(services.outbox.deliver(queued), other.deliver(queued))

    assert Delivery.SENT in results
    await mailbox.wait_for(1)
    await asyncio.sleep(0.3)
    assert len(mailbox.messages) == 1


async def test_s36_the_message_is_encrypted_at_rest_and_erased_once_sent(client, services, mailbox, acme, make_user):
    await make_user(acme, "anna@example.com", PASSWORD)
    queued = await services.outbox.put(
        "password_reset",
        to="anna@example.com",
        locale="en",
        link="http://testserver/reset#token=SECRET-LINK",
        expires_at=utcnow(),
    )
    row = await MailOutbox.get(id=queued.id)
    assert "SECRET-LINK" not in (row.message_encrypted or "")
    assert "anna@example.com" not in (row.message_encrypted or "")

    assert await services.outbox.deliver(queued) is Delivery.SENT

    message = await mailbox.next_to("anna@example.com", "password_reset")
    assert "SECRET-LINK" in body(message)
    assert (await MailOutbox.get(id=queued.id)).message_encrypted is None


async def test_s36_a_message_whose_process_died_mid_send_is_sent_once_its_claim_runs_out(services, mailbox):
    user = await User.create(email="anna@example.com")
    queued = await services.outbox.put("factor_added", to=user.email, locale="en", method_name="TOTP")
    # A process took the message and died before recording anything.
    await MailOutbox.filter(id=queued.id).update(claimed_until=utcnow() + timedelta(seconds=60), attempts=1)

    assert await services.outbox.deliver_due() == 0
    await MailOutbox.filter(id=queued.id).update(claimed_until=utcnow() - timedelta(seconds=1))
    await services.outbox.deliver_due()  # or the app's own worker, whichever claims it first

    await mailbox.next_to("anna@example.com", "factor_added")


def _keyring(services: Any) -> Any:
    return services.outbox._keyring


class TestHungMailServer:
    """S37: a mail server that stops answering is cut off at the bound, teardown included."""

    @pytest.mark.parametrize("stall_at", ["EHLO", "MAIL", "DATA"])
    async def test_s37_a_hung_smtp_server_costs_one_bound_not_two(self, monkeypatch, stall_at):
        monkeypatch.setattr(mail_transports, "SMTP_TIMEOUT_SECONDS", 1.0)
        with SilentSmtpServer(stall_at=stall_at) as server:
            pm = create_plugin_manager()
            pm.register(mail_transports.SmtpTransport(server.url))
            mailer = MailService(pm, "noreply@example.fi", attempt_seconds=5.0)
            started = time.perf_counter()
            with pytest.raises(MailNotDelivered) as failed:
                await mailer.send("factor_added", to="anna@example.com", locale="en", method_name="TOTP")
            took = elapsed_since(started)
        # aiosmtplib alone said QUIT after the timeout and waited as long again for the answer.
        assert took < 1.5, took
        assert failed.value.retryable

    async def test_s37_mail_is_bounded_even_when_the_transport_is_not(self):
        with SilentSmtpServer(greet=False) as server:
            pm = create_plugin_manager()
            pm.register(_UnboundedTransport(server.url))
            mailer = MailService(pm, "noreply@example.fi", attempt_seconds=1.0)
            started = time.perf_counter()
            with pytest.raises(MailNotDelivered):
                await mailer.send("factor_added", to="anna@example.com", locale="en", method_name="TOTP")
            assert elapsed_since(started) < 1.5


class _UnboundedTransport:
    """A third-party transport with no timeout of its own."""

    def __init__(self, url: str) -> None:
        self.port = int(url.rsplit(":", 1)[1])

    @mail_transports.hookimpl
    def deliver_email(self, message: Any) -> Any:
        return self._send()

    async def _send(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            await reader.readline()  # waits for a greeting that never comes
        finally:
            writer.close()


class TestHungMailServerForLoginCodes:
    @pytest.fixture
    def silent(self):
        with SilentSmtpServer(stall_at="DATA") as server:
            yield server

    @pytest.fixture
    def settings_overrides(self, silent):
        return {"smtp_url": silent.url, "gql_server_plugin_timeout_seconds": 2.0}

    async def test_s37_send_login_code_answers_within_the_plugin_timeout(self, client, services, make_customer):
        user = await _email_code_user(services, make_customer)
        login = await client.login(user.email, PASSWORD)

        started = time.perf_counter()
        sent = (await client.run("SendLoginCode", challenge=login["challenge"], method="email_code"))["sendLoginCode"]

        assert sent["__typename"] == "MethodNotAvailable"
        # Before: 20 s against a 10 s limit (aiosmtplib's QUIT after the timeout).
        assert elapsed_since(started) < 2.5


async def _email_code_user(services: Any, make_customer: Any) -> User:
    from gql_server.enums import LoginMethod
    from gql_server.models import EnrolledFactor, Membership

    customer = await make_customer("Code Oy")
    user = await User.create(
        email="anna@example.com",
        password_hash=await services.passwords.hash(PASSWORD),
        login_method=LoginMethod.TWO_FACTOR,
        conversion=ConversionState.COMPLETED,
    )
    await Membership.create(user=user, customer=customer, level="COMPANY")
    await EnrolledFactor.create(
        user=user,
        method="email_code",
        state_encrypted=services.outbox._keyring.encrypt_state({"email": user.email}),
        created_at=utcnow(),
    )
    return user


async def test_s36_an_international_address_leaves_the_outbox_as_it_came_in(services, mailbox):
    # Found by the hostile-input properties: serialised with the default policy, the address became an
    # RFC 2047 encoded word, and the mail would have gone to that instead.
    address = "pää@esimerkki.fi"
    queued = await services.outbox.put("factor_added", to=address, locale="fi", method_name="TOTP")

    assert await services.outbox.deliver(queued) is Delivery.SENT

    message = await mailbox.next_to(address, "factor_added")
    assert message["To"] == address
