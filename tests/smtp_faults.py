"""Mail servers that misbehave on purpose, each on a free port of the test's own.

- `SlowMailbox`: a real aiosmtpd server that takes `delay` seconds to accept each message (a mail server
  under load); what it finally accepts lands in `messages` like any Mailbox.
- `RefusingMailbox` (fixture `refusing_smtp`): refuses every recipient for good (550), as for an address
  it does not know; `SlowRefusingMailbox` (fixture `slow_refusing_smtp`) does so after a second.
- `SilentSmtpServer`: accepts TCP connections and then says nothing at all, or greets and then stops
  answering after the given command (a hung mail server): nothing ever times out on its side.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .local_services import free_port
from .mailbox import Mailbox, running_smtp_server


class SlowMailbox(Mailbox):
    """Accepts every message, `delay` seconds after its data arrived."""

    def __init__(self, url: str, delay: float) -> None:
        super().__init__(url)
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@contextlib.contextmanager
def slow_smtp_server(delay: float) -> Iterator[SlowMailbox]:
    """A SlowMailbox listening on a free port for the duration of the block."""
    with running_smtp_server(lambda url: SlowMailbox(url, delay)) as mailbox:
        yield mailbox


class RefusingMailbox(Mailbox):
    """A mail server that refuses every recipient for good (550)."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return "550 5.1.1 No such user"


class SlowRefusingMailbox(Mailbox):
    """Refuses every recipient for good (550), `delay` seconds after it was named (a slow refusal)."""

    def __init__(self, url: str, delay: float) -> None:
        super().__init__(url)
        self.delay = delay

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        await asyncio.sleep(self.delay)
        return "550 5.1.1 No such user"


@pytest.fixture
def slow_refusing_smtp() -> Iterator[Mailbox]:
    """A SlowRefusingMailbox (1 s) on a free port, for one test."""
    with running_smtp_server(lambda url: SlowRefusingMailbox(url, 1.0)) as mailbox:
        yield mailbox


@pytest.fixture
def refusing_smtp() -> Iterator[Mailbox]:
    """A RefusingMailbox on a free port, for one test."""
    with running_smtp_server(RefusingMailbox) as mailbox:
        yield mailbox


class SilentSmtpServer:
    """A TCP server that never completes an SMTP session: silent from the start (`greet=False`), or
    silent once it has answered the greeting and every command before `stall_at` (e.g. "DATA")."""

    def __init__(self, *, greet: bool = True, stall_at: str = "MAIL") -> None:
        self.port = free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.greet = greet
        self.stall_at = stall_at.upper()
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> SilentSmtpServer:
        self._accept.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._accept.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            thread = threading.Thread(target=self._session, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _session(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(0.2)
            if self.greet:
                conn.sendall(b"220 silent.example ESMTP\r\n")
            buffer = b""
            stalled = not self.greet
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                while b"\r\n" in buffer and not stalled:
                    line, buffer = buffer.split(b"\r\n", 1)
                    command = line.decode("latin-1").split(" ", 1)[0].upper()
                    if command.startswith(self.stall_at):
                        stalled = True
                        break
                    conn.sendall(b"250 ok\r\n" if command != "QUIT" else b"221 bye\r\n")


def elapsed_since(started: float) -> float:
    """Seconds since `started` (time.perf_counter)."""
    return time.perf_counter() - started
