"""S38: from SIGTERM on, `gql-server serve` refuses new connections at once, and finishes what is in flight."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time

import pytest

from .flows import PASSWORD
from .test_serve import LOGIN, Served, sqlite_service  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow

# "At once": the listener is gone well within this after the signal (uvicorn alone: up to 0.1 s for one
# process; with workers, not before the supervisor exits, after the last request in flight).
REFUSED_WITHIN_SECONDS = 0.2


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One whole HTTP/1.1 response with a Content-Length: (head, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    return head, await reader.readexactly(length)


async def answered_or_closed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
    """What became of a connection the service accepted while it was being stopped: never left hanging."""
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        await writer.drain()
        head, _ = await asyncio.wait_for(read_response(reader), timeout=5)
        return "answered" if head.startswith(b"HTTP/1.1 200 ") else head.decode()
    except (asyncio.IncompleteReadError, ConnectionError):
        return "closed"
    except TimeoutError:
        return "hung"
    finally:
        writer.close()


@pytest.mark.parametrize("workers", [1, 2])
async def test_s38_from_sigterm_on_new_connections_are_refused_at_once_and_the_request_in_flight_finishes(
    sqlite_service,  # noqa: F811
    tmp_path,
    workers,
):
    env, database = sqlite_service
    served = Served(env, tmp_path, "--workers", str(workers))
    body = json.dumps({"query": LOGIN, "variables": {"e": "anna@example.com", "p": PASSWORD}}).encode()
    accepted_meanwhile: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        await served.wait_until_ready()
        # A login in flight: the service has read its headers and waits for its body when the signal comes.
        # ("100 Continue" is uvicorn's answer to the application's first read of the body.)
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(
            b"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nexpect: 100-continue\r\n"
            b"content-length: %d\r\n\r\n" % len(body)
        )
        await writer.drain()
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10) == b"HTTP/1.1 100 Continue\r\n\r\n"

        served.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        while True:
            try:
                accepted_meanwhile.append(await asyncio.open_connection("127.0.0.1", served.port))
            except ConnectionRefusedError:
                refused_after = time.monotonic() - signalled
                break
            except ConnectionResetError:
                pass  # the handshake was under way as the listener closed
            assert time.monotonic() - signalled < REFUSED_WITHIN_SECONDS, "still accepting connections"
            await asyncio.sleep(0.01)  # the next attempt
        fates = [await answered_or_closed(r, w) for r, w in accepted_meanwhile]

        # The request in flight is finished, completely.
        writer.write(body)
        await writer.drain()
        head, answer = await asyncio.wait_for(read_response(reader), timeout=30)
        # ... and then its connection is closed, not kept alive into the shutdown. (Whether the answer says
        # "connection: close" first depends on whether uvicorn's shutdown pass ran before the answer.)
        after_answer = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
    finally:
        for _, w in accepted_meanwhile:
            w.close()
        code = served.stop()

    assert refused_after < REFUSED_WITHIN_SECONDS
    assert "hung" not in fates, fates
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert after_answer == b""
    assert json.loads(answer) == {"data": {"login": {"__typename": "LoginSuccess"}}}
    # A single process re-raises SIGTERM once it has shut down cleanly; a supervisor exits 0.
    assert code == (-signal.SIGTERM if workers == 1 else 0), served.log()
    # Nothing half-done: the one login that was answered made its one session, and nothing else happened.
    with sqlite3.connect(database) as db:
        sessions = db.execute("SELECT COUNT(*) FROM session").fetchone()[0]
        logins = db.execute("SELECT COUNT(*) FROM audit_event WHERE kind LIKE 'login%'").fetchone()[0]
    assert (sessions, logins) == (1, 1)
