"""The asyncio load generator for what wrk cannot do: flows whose requests depend on each other or on
what the server answered (P3: a fresh challenge and the current TOTP code per request; L4: the current TOTP
code in each session's step-up; S3: paired latencies). P4's flood is wrk (bench/lua/flood.lua).

`python -m bench.client MODE '<json params>'` prints one JSON line. HTTP/1.1 keep-alive on raw asyncio
streams under uvloop: the cheapest client Python has, so that the load generator stays far from its core's
limit (the harness checks).
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyotp
import uvloop

_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


class Connection:
    """One keep-alive HTTP/1.1 connection to /graphql."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, payload: dict[str, Any], headers: str = "") -> tuple[int, bytes]:
        """POST a GraphQL payload; (status, body). Reconnects once if the server closed the connection."""
        body = json.dumps(payload).encode()
        request = (
            f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{headers}\r\n"
        ).encode() + body
        for attempt in (1, 2):
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
            assert self._reader is not None
            try:
                self._writer.write(request)
                head = await self._reader.readuntil(b"\r\n\r\n")
                length = _LENGTH.search(head)
                answer = await self._reader.readexactly(int(length.group(1)) if length else 0)
                return int(head[9:12]), answer
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the socket (a new one is opened on the next post)."""
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of values, nearest rank; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@dataclass
class Tally:
    """Counts and latencies (ms) of one load."""

    ok: int = 0
    bad: int = 0
    server_errors: int = 0
    connection_errors: int = 0
    latencies: list[float] = field(default_factory=list)
    first_bad: str = ""

    def record_bad(self, status: int, body: bytes) -> None:
        """An unexpected answer; the first one is kept for the report."""
        self.bad += 1
        if status >= 500:
            self.server_errors += 1
        if not self.first_bad:
            self.first_bad = f"{status} {body[:300].decode(errors='replace')}"

    def summary(self, elapsed: float) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "ok": self.ok,
            "bad": self.bad,
            "server_errors": self.server_errors,
            "connection_errors": self.connection_errors,
            "elapsed": elapsed,
            "rate": self.ok / elapsed if elapsed else 0.0,
            "p50_ms": percentile(self.latencies, 50),
            "p99_ms": percentile(self.latencies, 99),
            "first_bad": self.first_bad,
        }


class TotpCodes:
    """The current code of the seeded TOTP secret, computed once per 30-second step."""

    def __init__(self, secret: str) -> None:
        self._totp = pyotp.TOTP(secret)
        self._step = -1
        self._code = ""

    def now(self) -> str:
        """The code for the current time step."""
        step = int(time.time() // 30)
        if step != self._step:
            self._step, self._code = step, self._totp.at(step * 30)
        return self._code


async def _each_once(
    p: dict[str, Any], request: Callable[[int, str], tuple[dict[str, Any], str]], expect: bytes
) -> dict[str, Any]:
    """`connections` workers sending `request(i, current TOTP code)` for i = 0, 1, ... (each once) until the
    time or the seeded items run out; a good answer holds `expect`."""
    tally, codes, next_index = Tally(), TotpCodes(p["secret"]), iter(range(p["count"]))
    deadline = time.perf_counter() + p["duration"]

    async def worker() -> None:
        conn = Connection(p["port"])
        for i in next_index:
            if time.perf_counter() >= deadline:
                break
            payload, headers = request(i, codes.now())
            started = time.perf_counter()
            status, body = await conn.post(payload, headers)
            tally.latencies.append((time.perf_counter() - started) * 1000)
            if status == 200 and expect in body:
                tally.ok += 1
            else:
                tally.record_bad(status, body)
        conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(p["connections"])))
    result = tally.summary(time.perf_counter() - started)
    result["exhausted"] = tally.ok + tally.bad >= p["count"]
    return result


async def verify_load(p: dict[str, Any]) -> dict[str, Any]:
    """P3: `verifySecondFactor` with TOTP, one fresh challenge per request, until the time or challenges run out."""

    def request(i: int, code: str) -> tuple[dict[str, Any], str]:
        variables = {"challenge": f"{p['prefix']}{i}", "method": "totp", "code": code}
        return {"query": p["query"], "variables": variables}, ""

    return await _each_once(p, request, b'"LoginSuccess"')


async def reauthenticate_load(p: dict[str, Any]) -> dict[str, Any]:
    """L4: `reauthenticate` with the current TOTP code, each seeded two-factor session (`<prefix><i>`) once:
    the replay guard (S8) takes one code per time step and factor, so every request is another user's."""

    def request(i: int, code: str) -> tuple[dict[str, Any], str]:
        payload = {"query": p["query"], "variables": {"method": "totp", "code": code}}
        return payload, f"Authorization: Bearer {p['prefix']}{i}\r\n"

    return await _each_once(p, request, b'"Reauthenticated"')


async def s3_load(p: dict[str, Any]) -> dict[str, Any]:
    """S3: one client, alternating an unknown email and a wrong password for an existing user (each user once,
    so no lockout); the latency of each, and whether both answered the same way."""
    conn = Connection(p["port"])
    unknown: list[float] = []
    wrong: list[float] = []
    tally = Tally()

    async def attempt(address: str, into: list[float] | None) -> None:
        payload = {"query": p["query"], "variables": {"email": address, "password": "not the password at all"}}
        started = time.perf_counter()
        status, body = await conn.post(payload)
        if into is not None:
            into.append((time.perf_counter() - started) * 1000)
        if status == 200 and b'"InvalidCredentials"' in body:
            tally.ok += 1
        else:
            tally.record_bad(status, body)

    for k in range(3):  # warm-up, not counted
        await attempt(f"s3-warm-{p['tag']}-{k}@bench.test", None)
    for k in range(p["samples"]):
        pair = [
            (f"s3-unknown-{p['tag']}-{k}@bench.test", unknown),
            (f"s3-{p['first_user'] + k}@bench.test", wrong),
        ]
        # Alternate which goes first, so that a drift in the machine's speed hits both alike.
        for address, into in pair if k % 2 == 0 else reversed(pair):
            await attempt(address, into)
    conn.close()
    return {
        "unknown_median_ms": statistics.median(unknown),
        "wrong_median_ms": statistics.median(wrong),
        "bad": tally.bad,
        "first_bad": tally.first_bad,
    }


MODES = {"verify": verify_load, "reauthenticate": reauthenticate_load, "s3": s3_load}


def main() -> None:
    """`python -m bench.client MODE '<json>'`: run one load, print its result as one JSON line."""
    mode, params = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(uvloop.run(MODES[mode](params))))


if __name__ == "__main__":
    main()
