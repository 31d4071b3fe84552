"""Processes of a benchmark: servers pinned to the server's core, load generators pinned to the other,
with the CPU each one used (to show which side was the bottleneck)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.config import REPO, SECRET_KEY, UNLIMITED, VENV_BIN, WORKDIR

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROBE = b'{"query":"{ __typename }"}'


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a benchmarked `gql-server serve`: production settings, per-address limits out of
    the way (P1-P4 measure the service, not RATE_LIMIT_*), a fixed SECRET_KEY for the seeded factors."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        SECRET_KEY=SECRET_KEY,
        GQL_SERVER_ENV="production",
        RATE_LIMIT_LOGIN=UNLIMITED,
        RATE_LIMIT_VERIFY_SECOND_FACTOR=UNLIMITED,
        RATE_LIMIT_SEND_LOGIN_CODE=UNLIMITED,
        RATE_LIMIT_REQUEST_CONVERSION=UNLIMITED,
        RATE_LIMIT_REAUTHENTICATE=UNLIMITED,
        # No .env file of a developer's checkout may change what is measured.
        REDIS_URL="",
    )
    env.update(extra)
    return env


def probe(port: int, timeout: float = 2.0) -> bool:
    """True when the server answers `{ __typename }` with 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/graphql", body=PROBE, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        conn.close()


class Server:
    """One server process pinned to `cpu` with taskset; its log goes to bench/results/<name>.log."""

    def __init__(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], cpu: int, port: int, cwd: Path = WORKDIR
    ) -> None:
        self.name = name
        self._cwd = cwd
        self.port = port
        self._argv = ["taskset", "-c", str(cpu), *argv]
        self._env = dict(env)
        self.log_path = WORKDIR / f"{name}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @classmethod
    def gql(cls, name: str, database_url: str, cpu: int, **extra_env: str) -> Server:
        """`gql-server serve` on a database, as an operator runs it."""
        port = free_port()
        argv = [str(VENV_BIN / "gql-server"), "serve", "--port", str(port)]
        return cls(name, argv, server_env(database_url, **extra_env), cpu, port)

    @classmethod
    def bare(cls, cpu: int) -> Server:
        """The baseline: a bare Strawberry `{ __typename }` app on the same uvicorn settings."""
        port = free_port()
        argv = [str(VENV_BIN / "python"), "-m", "bench.baseline_app", "--port", str(port)]
        return cls("bare", argv, dict(os.environ), cpu, port, cwd=REPO)

    @property
    def pid(self) -> int:
        """The server's process id (taskset execs the command, so this is the server itself)."""
        assert self._proc is not None
        return self._proc.pid

    def start(self) -> None:
        """Spawn the process (not yet waiting for it to answer)."""
        WORKDIR.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.started_at = time.perf_counter()
        self._proc = subprocess.Popen(self._argv, env=self._env, stdout=log, stderr=subprocess.STDOUT, cwd=self._cwd)
        log.close()

    def wait_ready(self, timeout: float = 60.0, interval: float = 0.005) -> float:
        """Seconds from spawn to the first answered query; raises when the server died or never answered."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._proc.returncode}; see {self.log_path}")
            if probe(self.port, timeout=1.0):
                return time.perf_counter() - self.started_at
            time.sleep(interval)
        raise RuntimeError(f"{self.name} did not answer within {timeout} s; see {self.log_path}")

    def __enter__(self) -> Server:
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process, all threads."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_mb(self) -> float:
        """Resident memory now, in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        """Ask uvicorn to shut down (SIGINT), kill it if it does not within 10 s."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


class CpuMeter:
    """The share of one core a server used between `start()` and `stop()`."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._cpu = 0.0
        self._wall = 0.0

    def __enter__(self) -> CpuMeter:
        self._cpu = self._server.cpu_seconds()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.share = (self._server.cpu_seconds() - self._cpu) / (time.perf_counter() - self._wall)

    share: float = 0.0


class RssSampler:
    """Samples a server's RSS in a thread; `peak` is the highest seen (MiB)."""

    def __init__(self, server: Server, interval: float = 0.05) -> None:
        self._server = server
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak = 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._server.rss_mb())
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self.peak = self._server.rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class Finished:
    """A load generator's output and how much of its core it used (the harness checks it stayed below half)."""

    stdout: str
    cpu_share: float
    wall: float


class Pinned:
    """A load generator running pinned to one CPU; `finish` waits and reads its CPU time (wait4's rusage)."""

    def __init__(self, argv: Sequence[str], cpu: int, name: str = "loadgen") -> None:
        WORKDIR.mkdir(parents=True, exist_ok=True)
        self._argv = list(argv)
        self._out_path = WORKDIR / f"{name}.out"
        self._err_path = WORKDIR / f"{name}.err"
        self.started = time.perf_counter()
        with self._out_path.open("wb") as out, self._err_path.open("ab") as err:
            self._proc = subprocess.Popen(["taskset", "-c", str(cpu), *argv], stdout=out, stderr=err, cwd=REPO)

    def finish(self, timeout: float) -> Finished:
        """Wait for the process (killed after `timeout` s from its start); its output and CPU share."""
        deadline = self.started + timeout
        while True:
            pid, status, usage = os.wait4(self._proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                self._proc.kill()
                self._proc.wait()
                raise RuntimeError(f"load generator {self._argv[0]} ran past {timeout} s")
            time.sleep(0.02)
        wall = time.perf_counter() - self.started
        self._proc.returncode = os.waitstatus_to_exitcode(status)
        if self._proc.returncode != 0:
            raise RuntimeError(f"{' '.join(self._argv[:3])} failed ({self._proc.returncode}); see {self._err_path}")
        cpu = usage.ru_utime + usage.ru_stime
        return Finished(stdout=self._out_path.read_text(), cpu_share=cpu / wall, wall=wall)


def run_pinned(argv: Sequence[str], cpu: int, timeout: float) -> Finished:
    """Run a load generator pinned to `cpu` to its end."""
    return Pinned(argv, cpu).finish(timeout)
