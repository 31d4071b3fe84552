"""wrk (the Debian package) with bench/lua/graphql.lua: throughput and latency of single-request loads; with
bench/lua/flood.lua: P4's login flood, every answer sorted by kind."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass

from bench.config import BENCH_DIR
from bench.procs import Finished, Pinned, run_pinned

SCRIPT = BENCH_DIR / "lua" / "graphql.lua"
FLOOD_SCRIPT = BENCH_DIR / "lua" / "flood.lua"


def ensure_wrk() -> str:
    """The wrk binary; installed with apt-get when missing (the harness runs as root on Debian)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: apt-get install -y wrk", flush=True)
    install = subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True, text=True)
    if install.returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, check=False)
        subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True, check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed; install it (apt-get install wrk) and run again")
    return found


@dataclass(frozen=True)
class Load:
    """What to send: a body and an optional header with "{{i}}" numbering, and what a good answer holds (a
    status 200 always). A GET (F1) sends no body: `body` is empty and only the header is numbered."""

    body: str
    expect: str
    count: int = 1
    header: str = ""
    method: str = "POST"
    path: str = "/graphql"


@dataclass(frozen=True)
class WrkResult:
    """One wrk run, summarised by the Lua script."""

    requests: int
    seconds: float
    bad: int
    errors: int
    p50_ms: float
    p99_ms: float
    loadgen_cpu: float

    @property
    def rate(self) -> float:
        """Good answers per second."""
        return (self.requests - self.bad) / self.seconds


def run_wrk(port: int, load: Load, *, seconds: float, connections: int, cpu: int, threads: int = 1) -> WrkResult:
    """Run wrk pinned to `cpu` against the load's path (/graphql unless said) for `seconds`."""
    argv = [
        ensure_wrk(),
        f"-t{threads}",
        f"-c{max(connections, threads)}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(SCRIPT),
        f"http://127.0.0.1:{port}{load.path}",
        "--",
        load.body,
        load.header,
        str(load.count),
        load.expect,
        str(threads),
        load.method,
    ]
    finished = run_pinned(argv, cpu, timeout=seconds + 60)
    line = next(line for line in finished.stdout.splitlines() if line.startswith("BENCH "))
    data = json.loads(line.removeprefix("BENCH "))
    errors = sum(data[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        bad=data["bad"],
        errors=errors,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        loadgen_cpu=finished.cpu_share,
    )


@dataclass(frozen=True)
class FloodResult:
    """One flood run: its answers by kind (flood.lua) and wrk's own errors."""

    requests: int
    seconds: float
    success: int
    refused: int
    server_errors: int
    # Any other status, or a 200 that was neither LoginSuccess nor TooManyAttempts.
    unexpected: int
    socket_errors: int
    timeouts: int
    p50_ms: float
    p99_ms: float
    loadgen_cpu: float

    @property
    def rate(self) -> float:
        """Answers per second, of every kind."""
        return self.requests / self.seconds


def start_flood(port: int, body: str, count: int, *, seconds: float, connections: int, cpu: int) -> Pinned:
    """Start wrk flooding /graphql with `body` ("{{i}}" cycling over `count`) on `connections` connections,
    pinned to `cpu`, for `seconds`; `flood_result(started.finish(...))` reads it when it is done."""
    argv = [
        ensure_wrk(),
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        # A login may wait its turn in the hashing queue for long under a flood. wrk counts a timeout only
        # for an answer that comes later than this; one still awaited when the run ends is not counted at
        # all (the server's access log has it).
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(FLOOD_SCRIPT),
        f"http://127.0.0.1:{port}/graphql",
        "--",
        body,
        str(count),
        "1",
    ]
    return Pinned(argv, cpu, "flood")


def flood_result(finished: Finished) -> FloodResult:
    """The summary line flood.lua printed."""
    line = next(line for line in finished.stdout.splitlines() if line.startswith("BENCH "))
    data = json.loads(line.removeprefix("BENCH "))
    return FloodResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        success=data["success"],
        refused=data["refused"],
        server_errors=data["server_errors"],
        unexpected=data["other_status"] + data["other"],
        socket_errors=sum(data[k] for k in ("connect_errors", "read_errors", "write_errors")),
        timeouts=data["timeouts"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        loadgen_cpu=finished.cpu_share,
    )
