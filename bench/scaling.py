"""P5 (latency with 1,000,000 users against 1,000, on SQLite and PostgreSQL) and P6 (cold start)."""

from __future__ import annotations

import asyncio
import sys
import time

import asyncpg

from bench import datasets
from bench.config import WORKDIR, Config
from bench.figures import OPERATIONS, login_load, viewer_load
from bench.procs import Server
from bench.report import Figure, median
from bench.wrk import Load, run_wrk

FULL_VIEWER = (OPERATIONS / "Viewer.graphql").read_text()


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def postgres_reachable(base: str) -> str | None:
    """None when PostgreSQL answers at `base`, else the reason."""

    async def check() -> None:
        conn = await asyncpg.connect(base.replace("postgres://", "postgresql://", 1) + "/postgres", timeout=5)
        await conn.close()

    try:
        asyncio.run(check())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _urls(cfg: Config, kind: str) -> tuple[str, str]:
    # Named by size, so that runs with other sizes (a quick check) keep the big database for the next full run.
    if kind == "SQLite":
        small, large = (f"sqlite://{WORKDIR / f'p5-{n}.sqlite3'}" for n in (cfg.p5_small_users, cfg.p5_users))
    else:
        small, large = (f"{cfg.postgres}/gql_bench_p5_{n}" for n in (cfg.p5_small_users, cfg.p5_users))
    return small, large


def p5(cfg: Config, kind: str) -> list[Figure]:
    """Login and full `Viewer` latency at concurrency 1 (median of runs of p50): large over small database."""
    small_url, large_url = _urls(cfg, kind)
    seeded = {}
    for name, url, users in (("small", small_url, cfg.p5_small_users), ("large", large_url, cfg.p5_users)):
        started = time.perf_counter()
        data = asyncio.run(datasets.seed_p5(url, users, max(1, users * cfg.p5_customers // cfg.p5_users)))
        took = time.perf_counter() - started
        seeded[name] = took if data.seeded_seconds is not None else None
        _progress(f"P5 {kind} {name}: {users} users " + (f"seeded in {took:.1f} s" if seeded[name] else "reused"))
    probes = min(datasets.PROBES, cfg.p5_small_users)
    loads: dict[str, Load] = {
        "login": login_load("probe-", probes),
        "viewer": viewer_load(FULL_VIEWER, "bench-probe-", probes),
    }
    latencies: dict[tuple[str, str], list[float]] = {(q, s): [] for q in loads for s in ("small", "large")}
    # Both servers start before anything is timed (applying any new migration to the large database first).
    with (
        Server.gql(f"p5-{kind}-small", small_url, cfg.server_cpu) as small,
        Server.gql(f"p5-{kind}-large", large_url, cfg.server_cpu) as large,
    ):
        servers = {"small": small, "large": large}
        for load in loads.values():
            for server in servers.values():
                run_wrk(server.port, load, seconds=min(2.0, cfg.warmup), connections=1, cpu=cfg.load_cpu)
        for run in range(cfg.runs):
            for query, load in loads.items():
                for size, server in servers.items():
                    result = run_wrk(server.port, load, seconds=cfg.p5_duration, connections=1, cpu=cfg.load_cpu)
                    latencies[(query, size)].append(result.p50_ms)
            _progress(
                f"P5 {kind} run {run + 1}: " + ", ".join(f"{q} {s} {v[-1]:.2f} ms" for (q, s), v in latencies.items())
            )
    figures = []
    for query in loads:
        small_ms, large_ms = median(latencies[(query, "small")]), median(latencies[(query, "large")])
        ratio = large_ms / small_ms
        figures.append(
            Figure(
                id="P5",
                what=f"{query} p50 latency, {cfg.p5_users:,} vs {cfg.p5_small_users:,} users ({kind})",
                measured=f"{large_ms:.2f} ms vs {small_ms:.2f} ms",
                target="<= 1.2",
                ratio=ratio,
                passed=ratio <= 1.2,
                detail={
                    "small_p50_ms": latencies[(query, "small")],
                    "large_p50_ms": latencies[(query, "large")],
                    "seed_seconds": seeded,
                },
            )
        )
    return figures


def p6(cfg: Config) -> Figure:
    """`gql-server serve` on an empty SQLite file to the first answered query (migrations included)."""
    times = []
    for run in range(cfg.runs):
        path = WORKDIR / "p6.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        server = Server.gql("p6", f"sqlite://{path}", cfg.server_cpu)
        server.start()
        try:
            times.append(server.wait_ready(timeout=60, interval=0.005))
        finally:
            server.stop()
        _progress(f"P6 run {run + 1}: {times[-1]:.2f} s")
    cold = median(times)
    return Figure(
        id="P6",
        what="cold start: `gql-server serve` to first answer, empty SQLite",
        measured=f"{cold:.2f} s",
        target="<= 2 s",
        ratio=None,
        passed=cold <= 2.0,
        detail={"seconds": times},
    )
