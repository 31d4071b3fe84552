"""F1: the forward-auth check (`GET /auth/check`, issue 18) against the bare `{ __typename }` endpoint, measured
as P2 measures `viewer`: what a reverse proxy's check adds to every request of another service. No target in
performance.md: measured and recorded. One run of the baseline and one of the figure in turn."""

from __future__ import annotations

import sys

from bench.config import Config
from bench.figures import BARE
from bench.lifecycle import NO_TARGET
from bench.procs import CpuMeter, Server
from bench.report import Figure, median
from bench.wrk import Load, WrkResult, run_wrk

CHECK_PATH = "/auth/check"


def check_load(token_prefix: str, count: int) -> Load:
    """`GET /auth/check` with the sessions `<token_prefix><i>` as bearer tokens, i cycling over `count`. A good
    answer is a 200: the check gives one only with the user's headers."""
    return Load(
        body="",
        expect="",
        count=count,
        header=f"Authorization: Bearer {token_prefix}{{{{i}}}}",
        method="GET",
        path=CHECK_PATH,
    )


def f1(cfg: Config, server: Server, bare: Server) -> Figure:
    """Forward-auth checks per second with P2's password sessions, against the bare endpoint on the same core."""
    check = check_load("bench-p2-", cfg.p2_sessions)
    for port, load in ((bare.port, BARE), (server.port, check)):
        run_wrk(port, load, seconds=cfg.warmup, connections=cfg.connections, cpu=cfg.load_cpu)
    bare_runs: list[WrkResult] = []
    check_runs: list[WrkResult] = []
    cpu: dict[str, list[float]] = {"bare": [], "check": []}
    for run in range(cfg.runs):
        for name, target, load, runs in (("bare", bare, BARE, bare_runs), ("check", server, check, check_runs)):
            with CpuMeter(target) as meter:
                runs.append(
                    run_wrk(target.port, load, seconds=cfg.duration, connections=cfg.connections, cpu=cfg.load_cpu)
                )
            cpu[name].append(meter.share)
        print(
            f"  F1 run {run + 1}: bare {bare_runs[-1].rate:.0f}/s, check {check_runs[-1].rate:.0f}/s "
            f"(p50 {check_runs[-1].p50_ms:.2f} ms)",
            file=sys.stderr,
            flush=True,
        )
    rate, base = median([r.rate for r in check_runs]), median([r.rate for r in bare_runs])
    figure = Figure(
        id="F1",
        what="forward-auth `GET /auth/check` (bearer, password session) vs bare `{ __typename }`",
        measured=f"{rate:.0f}/s vs {base:.0f}/s",
        target=NO_TARGET,
        ratio=rate / base,
        passed=None,
        loadgen_cpu=max(r.loadgen_cpu for r in check_runs + bare_runs),
        detail={
            "check_rates": [r.rate for r in check_runs],
            "bare_rates": [r.rate for r in bare_runs],
            "check_p50_ms": [r.p50_ms for r in check_runs],
            "check_p99_ms": [r.p99_ms for r in check_runs],
            "server_cpu": cpu,
            "bad": sum(r.bad + r.errors for r in check_runs),
        },
    )
    if figure.detail["bad"]:
        figure.notes.append(f"{figure.detail['bad']} answers were not 200 (see the wrk output)")
    return figure
