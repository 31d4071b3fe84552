"""P1-P4 and the S3 timing check, on the main database. Each baseline runs in the same loop as its figure,
one run of each in turn, so that a change in the machine's speed hits both alike."""

from __future__ import annotations

import asyncio
import http.client
import json
import sys
import time
from dataclasses import asdict
from typing import Any

from bench import datasets
from bench.config import PASSWORD, REPO, VENV_BIN, Config
from bench.procs import CpuMeter, RssSampler, Server, run_pinned
from bench.profile import Profiler
from bench.report import Figure, median
from bench.seed import TOTP_SECRET
from bench.wrk import FloodResult, Load, WrkResult, flood_result, run_wrk, start_flood

OPERATIONS = REPO / "schema" / "operations"
LOGIN = (OPERATIONS / "Login.graphql").read_text()
VERIFY = (OPERATIONS / "VerifySecondFactor.graphql").read_text()
VIEWER_EMAIL = "query ViewerEmail { viewer { user { email } } }"
TYPENAME = "{ __typename }"


def login_load(prefix: str, count: int) -> Load:
    """Correct-password logins of `<prefix><i>@bench.test`, i cycling over `count` users."""
    body = json.dumps({"query": LOGIN, "variables": {"email": f"{prefix}{{{{i}}}}@bench.test", "password": PASSWORD}})
    return Load(body=body, expect='"LoginSuccess"', count=count)


def viewer_load(query: str, token_prefix: str, count: int) -> Load:
    """`query` with the sessions `<token_prefix><i>`, i cycling over `count`."""
    return Load(
        body=json.dumps({"query": query}),
        expect='"email"',
        count=count,
        header=f"Authorization: Bearer {token_prefix}{{{{i}}}}",
    )


BARE = Load(body=json.dumps({"query": TYPENAME}), expect='"__typename":"Query"')


def _profiled(cfg: Config, figure: str, server: Server, run: int) -> Profiler | None:
    """With BENCH_PROFILE, py-spy samples the server during the last run of a figure."""
    if cfg.profile and run == cfg.runs - 1:
        return Profiler(figure, server.pid, cfg.duration, cfg.load_cpu)
    return None


def _profile_note(profiler: Profiler | None) -> list[str]:
    summary = profiler.finish() if profiler else None
    return [f"profile of the last run: {summary.relative_to(REPO)}"] if summary else []


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def client(mode: str, params: dict[str, Any], cpu: int, timeout: float) -> tuple[dict[str, Any], float]:
    """Run the asyncio load generator to its end: its JSON result and its CPU share."""
    done = run_pinned([str(VENV_BIN / "python"), "-m", "bench.client", mode, json.dumps(params)], cpu, timeout)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result, done.cpu_share


def argon2_rate(cfg: Config, seconds: float) -> float:
    """Raw argon2id verifications per second on the server's core."""
    done = run_pinned(
        [str(VENV_BIN / "python"), "-m", "bench.argon2_rate", "--seconds", str(seconds)], cfg.server_cpu, seconds + 60
    )
    rate: float = json.loads(done.stdout)["rate"]
    return rate


def p1(cfg: Config, server: Server) -> Figure:
    """Login throughput against the raw argon2id verify rate on the same core."""
    load = login_load("p1-", cfg.p1_users)
    run_wrk(server.port, load, seconds=cfg.warmup, connections=cfg.connections, cpu=cfg.load_cpu)
    raw: list[float] = []
    logins: list[WrkResult] = []
    server_cpu: list[float] = []
    profile_notes: list[str] = []
    for run in range(cfg.runs):
        raw.append(argon2_rate(cfg, cfg.duration))
        profiler = _profiled(cfg, "P1", server, run)
        with CpuMeter(server) as meter:
            logins.append(
                run_wrk(server.port, load, seconds=cfg.duration, connections=cfg.connections, cpu=cfg.load_cpu)
            )
        server_cpu.append(meter.share)
        profile_notes += _profile_note(profiler)
        _progress(f"P1 run {run + 1}: argon2 {raw[-1]:.1f}/s, login {logins[-1].rate:.1f}/s")
    rate, limit = median([r.rate for r in logins]), median(raw)
    figure = Figure(
        id="P1",
        what="login throughput vs raw argon2id verify rate (same core)",
        measured=f"{rate:.1f}/s vs {limit:.1f}/s",
        target=">= 0.9",
        ratio=rate / limit,
        passed=rate / limit >= 0.9,
        loadgen_cpu=max(r.loadgen_cpu for r in logins),
        detail={
            "login_rates": [r.rate for r in logins],
            "argon2_rates": raw,
            "server_cpu": server_cpu,
            "bad": sum(r.bad + r.errors for r in logins),
            "p50_ms": [r.p50_ms for r in logins],
        },
    )
    if figure.detail["bad"]:
        figure.notes.append(f"{figure.detail['bad']} logins did not answer LoginSuccess (see the wrk output)")
    figure.notes += profile_notes
    return figure


def p2_p3(
    cfg: Config, server: Server, bare: Server, main: datasets.MainData, main_url: str, wanted: set[str]
) -> list[Figure]:
    """Authenticated `viewer` (P2) and the TOTP second-factor step (P3) against the bare `{ __typename }`
    endpoint, one run of each in turn."""
    viewer = viewer_load(VIEWER_EMAIL, "bench-p2-", cfg.p2_sessions)
    for port, load in ((bare.port, BARE), (server.port, viewer)):
        run_wrk(port, load, seconds=cfg.warmup, connections=cfg.connections, cpu=cfg.load_cpu)
    bare_runs: list[WrkResult] = []
    viewer_runs: list[WrkResult] = []
    verify_runs: list[dict[str, Any]] = []
    cpu: dict[str, list[float]] = {"bare": [], "viewer": [], "verify": []}
    profile_notes: dict[str, list[str]] = {"P2": [], "P3": []}
    for run in range(cfg.runs):
        with CpuMeter(bare) as meter:
            bare_runs.append(
                run_wrk(bare.port, BARE, seconds=cfg.duration, connections=cfg.connections, cpu=cfg.load_cpu)
            )
        cpu["bare"].append(meter.share)
        line = f"P2/P3 run {run + 1}: bare {bare_runs[-1].rate:.0f}/s"
        if "P2" in wanted:
            profiler = _profiled(cfg, "P2", server, run)
            with CpuMeter(server) as meter:
                viewer_runs.append(
                    run_wrk(server.port, viewer, seconds=cfg.duration, connections=cfg.connections, cpu=cfg.load_cpu)
                )
            cpu["viewer"].append(meter.share)
            profile_notes["P2"] += _profile_note(profiler)
            line += f", viewer {viewer_runs[-1].rate:.0f}/s"
        if "P3" in wanted:
            profiler = _profiled(cfg, "P3", server, run)
            verify_runs.append(_verify_run(cfg, server, main, main_url, run))
            profile_notes["P3"] += _profile_note(profiler)
            cpu["verify"].append(verify_runs[-1]["server_cpu"])
            line += f", verify {verify_runs[-1]['rate']:.0f}/s"
        _progress(line)
    base = median([r.rate for r in bare_runs])
    figures = []
    if "P2" in wanted:
        rate = median([r.rate for r in viewer_runs])
        figures.append(
            Figure(
                id="P2",
                what="authenticated `viewer { user { email } }` vs bare `{ __typename }`",
                measured=f"{rate:.0f}/s vs {base:.0f}/s",
                target=">= 0.5",
                ratio=rate / base,
                passed=rate / base >= 0.5,
                loadgen_cpu=max(r.loadgen_cpu for r in viewer_runs + bare_runs),
                detail={
                    "viewer_rates": [r.rate for r in viewer_runs],
                    "bare_rates": [r.rate for r in bare_runs],
                    "server_cpu": cpu,
                    "bad": sum(r.bad + r.errors for r in viewer_runs),
                },
            )
        )
    if "P3" in wanted:
        rate = median([r["rate"] for r in verify_runs])
        p3 = Figure(
            id="P3",
            what="`verifySecondFactor` (TOTP, new session) vs bare `{ __typename }`",
            measured=f"{rate:.0f}/s vs {base:.0f}/s",
            target=">= 0.25",
            ratio=rate / base,
            passed=rate / base >= 0.25,
            loadgen_cpu=max([r["loadgen_cpu"] for r in verify_runs] + [r.loadgen_cpu for r in bare_runs]),
            detail={"verify_runs": verify_runs, "bare_rates": [r.rate for r in bare_runs], "server_cpu": cpu},
            notes=[f"{sum(r['bad'] for r in verify_runs)} answers were not LoginSuccess"]
            if any(r["bad"] for r in verify_runs)
            else [],
        )
        if any(r["exhausted"] for r in verify_runs):
            p3.notes.append("a run used every seeded challenge before its time was up (raise BENCH_P3_POOL)")
        figures.append(p3)
    for figure in figures:
        if figure.id == "P2" and figure.detail["bad"]:
            figure.notes.append(f"{figure.detail['bad']} answers were not the expected viewer")
        figure.notes += profile_notes[figure.id]
    return figures


def _verify_run(cfg: Config, server: Server, main: datasets.MainData, main_url: str, run: int) -> dict[str, Any]:
    """One P3 run: fresh challenges for every P3 user, then the asyncio client verifying them."""
    prefix = asyncio.run(datasets.new_challenges(main_url, main.p3_ids, run))
    params = {
        "port": server.port,
        "connections": cfg.connections,
        "duration": cfg.duration,
        "query": VERIFY,
        "prefix": prefix,
        "count": len(main.p3_ids),
        "secret": TOTP_SECRET,
    }
    with CpuMeter(server) as meter:
        result, loadgen = client("verify", params, cfg.load_cpu, cfg.duration + 120)
    return dict(result, loadgen_cpu=loadgen, server_cpu=meter.share)


# How long the harness waits, after a flood, for the hashing queue to take a login again.
DRAIN_LIMIT = 120.0


def recovery_seconds(port: int, address: str, limit: float = DRAIN_LIMIT) -> float | None:
    """Seconds from now until a login of `address` (correct password) answers LoginSuccess rather than
    TooManyAttempts: how long the logins a flood left in the hashing queue keep everyone else out. None
    when it did not within `limit`."""
    started = time.perf_counter()
    body = json.dumps({"query": LOGIN, "variables": {"email": address, "password": PASSWORD}})
    while (elapsed := time.perf_counter() - started) < limit:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=limit)
        try:
            conn.request("POST", "/graphql", body=body, headers={"Content-Type": "application/json"})
            answer = conn.getresponse().read()
        finally:
            conn.close()
        if b'"LoginSuccess"' in answer:
            return time.perf_counter() - started
        if b'"TooManyAttempts"' not in answer:
            raise RuntimeError(f"login after the flood answered {answer[:300]!r}")
        time.sleep(min(0.2, limit - elapsed))
    return None


def p4(cfg: Config, server: Server) -> Figure:
    """A login flood from wrk (`p4_flood` connections, the Login operation as fast as wrk can send it, never
    waiting when refused) while a second wrk reads `viewer`: 5xx, RSS, viewer p99."""
    viewer = viewer_load(VIEWER_EMAIL, "bench-p2-", cfg.p2_sessions)
    flood_body = login_load("p1-", cfg.p1_users).body
    conns = cfg.p4_viewer_connections
    quiet = run_wrk(server.port, viewer, seconds=cfg.duration, connections=conns, cpu=cfg.load_cpu)
    ramp = 2.0
    floods: list[FloodResult] = []
    profile_notes: list[str] = []
    during: list[WrkResult] = []
    peaks: list[float] = []
    recoveries: list[float | None] = []
    for run in range(cfg.runs):
        with RssSampler(server) as rss, CpuMeter(server) as meter:
            flood = start_flood(
                server.port,
                flood_body,
                cfg.p1_users,
                seconds=cfg.duration + 2 * ramp,
                connections=cfg.p4_flood,
                cpu=cfg.load_cpu,
            )
            time.sleep(ramp)  # every flood connection open and the hashing queue full before viewers are timed
            profiler = _profiled(cfg, "P4", server, run)
            during.append(run_wrk(server.port, viewer, seconds=cfg.duration, connections=conns, cpu=cfg.load_cpu))
            floods.append(flood_result(flood.finish(cfg.duration + 2 * ramp + 60)))
        peaks.append(rss.peak)
        profile_notes += _profile_note(profiler)
        # Each run starts from an empty hashing queue, and the time it took to empty is recorded.
        recoveries.append(recovery_seconds(server.port, f"p1-{cfg.p1_users - 1 - run}@bench.test"))
        f = floods[-1]
        _progress(
            f"P4 run {run + 1}: viewer p99 {during[-1].p99_ms:.1f} ms ({during[-1].rate:.0f}/s), flood "
            f"{f.rate:.0f}/s: {f.success} LoginSuccess / {f.refused} TooManyAttempts / {f.server_errors} 5xx / "
            f"{f.unexpected} other, {f.timeouts} timeouts; RSS {rss.peak:.0f} MiB, server CPU {meter.share:.0%}; "
            f"a login succeeded again {_seconds(recoveries[-1])} after the flood"
        )
    server_errors = sum(f.server_errors for f in floods) + sum(r.errors for r in during)
    # A run in which no `viewer` answer came back at all has no p99 of 0 ms: its other users waited the whole run.
    p99 = median([r.p99_ms if r.rate > 0 else float("inf") for r in during])
    peak = max(peaks)
    figure = Figure(
        id="P4",
        what=f"wrk login flood ({cfg.p4_flood} connections) + `viewer` on {conns}: 5xx, RSS, viewer p99",
        measured=f"{server_errors} 5xx, {peak:.0f} MiB, p99 {p99:.1f} ms",
        target="0 5xx, <= 512 MiB, p99 <= 100 ms",
        ratio=None,
        passed=server_errors == 0 and peak <= 512 and p99 <= 100,
        loadgen_cpu=max([r.loadgen_cpu for r in during] + [f.loadgen_cpu for f in floods]),
        detail={
            "viewer_quiet": {"p99_ms": quiet.p99_ms, "p50_ms": quiet.p50_ms, "rate": quiet.rate},
            "viewer_during": [
                {"p99_ms": r.p99_ms, "p50_ms": r.p50_ms, "rate": r.rate, "bad": r.bad, "errors": r.errors}
                for r in during
            ],
            "floods": [dict(asdict(f), rate=f.rate) for f in floods],
            "rss_peaks_mib": peaks,
            "login_again_after_s": recoveries,
        },
    )
    flood_rate = median([f.rate for f in floods])
    figure.notes.append(
        f"viewer without flood: p99 {quiet.p99_ms:.1f} ms at {quiet.rate:.0f}/s; during: "
        f"{median([r.rate for r in during]):.0f}/s; the flood got {flood_rate:.0f} answers/s "
        f"({median([f.success / f.seconds for f in floods]):.1f} LoginSuccess/s, the rest TooManyAttempts; "
        f"p50 {median([f.p50_ms for f in floods]):.0f} ms, p99 {median([f.p99_ms for f in floods]):.0f} ms); "
        "logins still in the server when wrk stops are not counted"
    )
    unexpected = sum(f.unexpected for f in floods) + sum(r.bad for r in during)
    if unexpected:
        figure.notes.append(
            f"{unexpected} answers were neither LoginSuccess/TooManyAttempts (flood) nor the viewer: "
            "see bench/results/flood.err and loadgen.err"
        )
    figure.notes.append("after the flood, a login succeeded again after " + " / ".join(_seconds(r) for r in recoveries))
    lost = sum(f.timeouts + f.socket_errors for f in floods)
    if lost:
        figure.notes.append(f"the flood had {lost} answers later than 10 s or socket errors")
    figure.notes += profile_notes
    return figure


def _seconds(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else f"more than {DRAIN_LIMIT:.0f} s"


def s3(cfg: Config, server: Server) -> Figure:
    """Login latency, unknown email vs wrong password of an existing user: medians within 10%."""
    runs = []
    for run in range(cfg.runs):
        params = {
            "port": server.port,
            "query": LOGIN,
            "samples": cfg.s3_samples,
            "tag": run,
            "first_user": run * cfg.s3_samples,
        }
        result, cpu = client("s3", params, cfg.load_cpu, cfg.s3_samples * 10 + 60)
        runs.append(dict(result, loadgen_cpu=cpu))
        _progress(
            f"S3 run {run + 1}: unknown {result['unknown_median_ms']:.2f} ms, wrong {result['wrong_median_ms']:.2f} ms"
        )
    unknown = median([r["unknown_median_ms"] for r in runs])
    wrong = median([r["wrong_median_ms"] for r in runs])
    ratio = unknown / wrong
    figure = Figure(
        id="S3",
        what="login latency: unknown email vs wrong password (timing)",
        measured=f"{unknown:.2f} ms vs {wrong:.2f} ms",
        target="within 10%",
        ratio=ratio,
        passed=abs(ratio - 1) <= 0.10,
        loadgen_cpu=max(r["loadgen_cpu"] for r in runs),
        detail={"runs": runs},
    )
    bad = sum(r["bad"] for r in runs)
    if bad:
        figure.notes.append(f"{bad} answers were not InvalidCredentials: {runs[0]['first_bad']}")
    return figure
