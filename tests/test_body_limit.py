"""S27: request bodies over MAX_REQUEST_BODY_BYTES are refused with 413 before they are read whole."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .flows import PASSWORD
from .test_serve import Served, _base_env, _cli

LIMIT = 1024 * 1024  # the default of MAX_REQUEST_BODY_BYTES
CHUNK = 64 * 1024
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { __typename } }"


class Body:
    """A request body of `size` bytes that counts how much of it the server pulled."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pulled = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        # A JSON object whose password is `size` bytes long: what a flood of huge logins looks like.
        head = json.dumps({"query": LOGIN, "variables": {"e": "a@example.com", "p": ""}})[:-3].encode()
        remaining = self.size - len(head) - 3
        self.pulled += len(head)
        yield head
        while remaining > 0:
            part = b"x" * min(CHUNK, remaining)
            remaining -= len(part)
            self.pulled += len(part)
            yield part
        self.pulled += 3
        yield b'"}}'


def assert_refused(response) -> None:
    assert response.status_code == 413
    assert response.json() == {
        "errors": [{"message": f"The request body is larger than {LIMIT} bytes, the most this service accepts."}]
    }
    # Still a response of ours: the security headers and the request id are on it.
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]


async def test_s27_a_declared_length_over_the_limit_is_refused_without_reading_the_body(client):
    body = Body(50 * 1024 * 1024)
    headers = {"content-type": "application/json", "content-length": str(body.size)}

    response = await client.http.post("/graphql", content=body.chunks(), headers=headers)

    assert_refused(response)
    assert body.pulled == 0


async def test_s27_a_chunked_body_is_refused_once_it_passes_the_limit_and_read_no_further(client):
    body = Body(50 * 1024 * 1024)

    # No length: httpx sends it chunked, so only counting while reading can stop it.
    response = await client.http.post("/graphql", content=body.chunks(), headers={"content-type": "application/json"})

    assert_refused(response)
    assert LIMIT < body.pulled <= LIMIT + 2 * CHUNK


async def test_s27_bodies_up_to_the_limit_are_served(client, make_customer, make_user):
    await make_user(await make_customer(), "a@example.com", PASSWORD)
    padding = " " * (LIMIT - 200)
    payload = json.dumps({"query": LOGIN + padding, "variables": {"e": "a@example.com", "p": PASSWORD}})
    assert LIMIT - 100 < len(payload) <= LIMIT

    response = await client.http.post("/graphql", content=payload, headers={"content-type": "application/json"})

    assert response.json()["data"]["login"]["__typename"] == "LoginSuccess"


class TestConfigured:
    @pytest.fixture
    def settings_overrides(self):
        return {"max_request_body_bytes": 4096}

    async def test_s27_the_limit_is_max_request_body_bytes(self, client):
        small = await client.post("{ __typename }")
        large = await client.http.post(
            "/graphql",
            content=b'{"query": "' + b" " * 4096 + b'{ __typename }"}',
            headers={"content-type": "application/json"},
        )

        assert small.status_code == 200
        assert large.status_code == 413
        assert "larger than 4096 bytes" in large.json()["errors"][0]["message"]


# --- a real server under four parallel 50 MB bodies ---------------------------------------------------------


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


async def _post_huge(port: int, size: int, *, chunked: bool) -> bytes:
    """Send a login of `size` bytes the way a browser or curl does: reading the answer while still sending."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    framing = b"transfer-encoding: chunked" if chunked else b"content-length: %d" % size
    writer.write(b"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n" + framing + b"\r\n\r\n")
    answer = asyncio.create_task(reader.readuntil(b"\r\n\r\n"))
    try:
        async for part in Body(size).chunks():
            if answer.done():
                break
            writer.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            await writer.drain()
        else:
            if chunked:
                writer.write(b"0\r\n\r\n")
        head = await asyncio.wait_for(answer, timeout=60)
    finally:
        writer.close()
    return head


@pytest.mark.slow
async def test_s27_four_parallel_50_mb_bodies_are_refused_and_memory_stays_flat(tmp_path: Path):
    env = _base_env(tmp_path, DATABASE_URL=f"sqlite://{tmp_path / 'serve.sqlite3'}")
    _cli(env, tmp_path, "customer", "create", "Relaxed Oy")
    served = Served(env, tmp_path)
    try:
        await served.wait_until_ready()
        before = _rss_kib(served.process.pid)
        heads = await asyncio.gather(
            *(_post_huge(served.port, 50 * 1024 * 1024, chunked=i % 2 == 1) for i in range(4)),
        )
        after = _rss_kib(served.process.pid)
    finally:
        served.stop()

    assert all(head.startswith(b"HTTP/1.1 413 ") for head in heads), heads
    # Before this limit the same four bodies took the server from 139 MB to 719 MB.
    assert after - before < 30 * 1024, (before, after)
