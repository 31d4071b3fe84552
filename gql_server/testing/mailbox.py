"""A real SMTP server for tests (aiosmtpd on 127.0.0.1): what the service mailed, parsed.

`running_smtp_server()` yields a Mailbox; point SMTP_URL at `mailbox.url` and `await mailbox.next_to(...)`.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any, TypeVar


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mailbox:
    """Messages the test SMTP server received, in arrival order."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    # aiosmtpd's handler interface; runs in the controller's own thread and event loop.
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep a received message (aiosmtpd calls this)."""
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    # A deadline parameter rather than asyncio.timeout() at each call keeps the tests short.
    async def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[EmailMessage]:  # noqa: ASYNC109
        """Wait until at least `count` messages arrived; return them all."""
        async with asyncio.timeout(timeout):
            while True:
                with self._lock:
                    if len(self.messages) >= count:
                        return list(self.messages)
                await asyncio.sleep(0.01)

    def clear(self) -> None:
        """Forget what arrived so far (the server is shared by the whole session)."""
        with self._lock:
            self.messages.clear()

    async def next_to(self, address: str, template: str | None = None, timeout: float = 5.0) -> EmailMessage:  # noqa: ASYNC109
        """The first unread message to `address` (optionally of one template), marking it read."""
        async with asyncio.timeout(timeout):
            while True:
                with self._lock:
                    for i, message in enumerate(self.messages):
                        if message["To"] == address and template in (None, message["X-Gql-Template"]):
                            return self.messages.pop(i)
                await asyncio.sleep(0.01)


M = TypeVar("M", bound=Mailbox)


def code_in(message: EmailMessage) -> str:
    """The six-digit code that stands alone on a line of the message."""
    codes = re.findall(r"^(\d{6})\r?$", body(message), flags=re.M)
    assert len(codes) == 1, body(message)
    return str(codes[0])


def invitation_token_in(message: EmailMessage) -> str:
    """The token of the invitation link ({PUBLIC_URL}/invitation#token=...) alone on its line."""
    return link_token_in(message, "invitation")


def link_token_in(message: EmailMessage, page: str) -> str:
    """The token of the link to `page` ({PUBLIC_URL}/<page>#token=...) alone on its line: "invitation",
    "report" (R13's "this wasn't me"), "reset-password"."""
    pattern = rf"^https?://\S+/{re.escape(page)}#token=([A-Za-z0-9_-]+)\r?$"
    tokens = re.findall(pattern, body(message), flags=re.M)
    assert len(tokens) == 1, body(message)
    return str(tokens[0])


def body(message: EmailMessage) -> str:
    """The text/plain body of a received message."""
    part = message.get_body(preferencelist=("plain",))
    assert isinstance(part, EmailMessage), "no text/plain part"
    return str(part.get_content())


@contextmanager
def running_smtp_server(make: Callable[[str], M] = Mailbox, port: int | None = None) -> Iterator[M]:  # type: ignore[assignment]
    """Start aiosmtpd on a free port (or `port`) for the duration of the block; `make(url)` builds the
    handler (a Mailbox, or one that misbehaves on purpose)."""
    # Imported here: aiosmtpd is a test dependency (the `testing` extra), not one of the service's.
    from aiosmtpd.controller import Controller

    port = port or free_port()
    mailbox = make(f"smtp://127.0.0.1:{port}")
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
