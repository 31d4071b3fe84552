"""L1-L4: what the lifecycle issues added, measured with no target in performance.md (issue 17). The
frontend's own operations: `Members` at 10,000 members per customer, its first page (L1) and a page after a
deep cursor (L2), `Sessions` (`viewer { sessions }`, L3), `Reauthenticate` with the current TOTP code (L4).

Each run measures throughput on BENCH_CONNECTIONS connections, then latency on one connection (p50/p99
without queueing behind other requests); the table quotes the medians of the runs."""

from __future__ import annotations

import asyncio
import http.client
import json
import sys
from dataclasses import dataclass
from typing import Any

from bench import datasets
from bench.config import Config
from bench.figures import OPERATIONS, client
from bench.procs import CpuMeter, Server
from bench.report import Figure, median
from bench.seed import TOTP_SECRET, email, session_token
from bench.wrk import Load, run_wrk

MEMBERS = (OPERATIONS / "Members.graphql").read_text()
SESSIONS = (OPERATIONS / "Sessions.graphql").read_text()
REAUTHENTICATE = (OPERATIONS / "Reauthenticate.graphql").read_text()
# The frontend's page (MEMBERS_PAGE_DEFAULT); the walk to the deep cursor takes the largest pages allowed.
PAGE = 50
WALK_PAGE = 100
NO_TARGET = "—"


@dataclass(frozen=True)
class Sample:
    """One run of a figure: requests/s on many connections, latency on one."""

    rate: float
    p50_ms: float
    p99_ms: float
    bad: int
    loadgen_cpu: float
    server_cpu: float


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _post(port: int, payload: dict[str, Any], token: str) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        conn.request("POST", "/graphql", body=json.dumps(payload), headers=headers)
        response = conn.getresponse()
        answer: dict[str, Any] = json.loads(response.read())
        return answer
    finally:
        conn.close()


def deep_cursor(port: int, customer: str, members: int) -> tuple[str, int]:
    """Walk the member list as an admin's client does (endCursor of each page), to a position near its end:
    (the cursor after that many members, how many). Checks the list's size on the way."""
    target = max(0, (members - 2 * PAGE) // WALK_PAGE * WALK_PAGE)
    cursor: str | None = None
    seen = 0
    while seen < target:
        variables = {"customerId": customer, "first": WALK_PAGE, "after": cursor}
        page = _post(port, {"query": MEMBERS, "variables": variables}, session_token("l1-", 0))
        listed = page["data"]["customer"]["members"]
        if listed["totalCount"] != members:
            raise RuntimeError(f"the big customer lists {listed['totalCount']} members, not {members}: {page}")
        seen += len(listed["edges"])
        cursor = listed["pageInfo"]["endCursor"]
    if cursor is None:
        raise RuntimeError(f"BENCH_L_MEMBERS={members} is too few for a deep page")
    return cursor, seen


def _wrk_samples(cfg: Config, server: Server, name: str, load: Load) -> list[Sample]:
    run_wrk(server.port, load, seconds=cfg.warmup, connections=cfg.connections, cpu=cfg.load_cpu)
    samples = []
    for run in range(cfg.runs):
        with CpuMeter(server) as meter:
            many = run_wrk(server.port, load, seconds=cfg.duration, connections=cfg.connections, cpu=cfg.load_cpu)
        one = run_wrk(server.port, load, seconds=cfg.duration, connections=1, cpu=cfg.load_cpu)
        samples.append(
            Sample(
                rate=many.rate,
                p50_ms=one.p50_ms,
                p99_ms=one.p99_ms,
                bad=many.bad + many.errors + one.bad + one.errors,
                loadgen_cpu=max(many.loadgen_cpu, one.loadgen_cpu),
                server_cpu=meter.share,
            )
        )
        _progress(
            f"{name} run {run + 1}: {many.rate:.0f}/s; 1 connection p50 {one.p50_ms:.1f} ms, p99 {one.p99_ms:.1f} ms"
        )
    return samples


def _reauthenticate(cfg: Config, server: Server, url: str, connections: int, seconds: float) -> dict[str, Any]:
    asyncio.run(datasets.reset_replay_guards(url))
    params = {
        "port": server.port,
        "connections": connections,
        "duration": seconds,
        "query": REAUTHENTICATE,
        "prefix": "bench-l4-",
        "count": cfg.l4_pool,
        "secret": TOTP_SECRET,
    }
    with CpuMeter(server) as meter:
        result, loadgen = client("reauthenticate", params, cfg.load_cpu, seconds + 120)
    return dict(result, loadgen_cpu=loadgen, server_cpu=meter.share)


def _reauthenticate_samples(cfg: Config, server: Server, url: str) -> tuple[list[Sample], bool, str]:
    _reauthenticate(cfg, server, url, cfg.connections, cfg.warmup)
    samples = []
    exhausted, first_bad = False, ""
    for run in range(cfg.runs):
        many = _reauthenticate(cfg, server, url, cfg.connections, cfg.duration)
        one = _reauthenticate(cfg, server, url, 1, cfg.duration)
        exhausted = exhausted or many["exhausted"] or one["exhausted"]
        first_bad = first_bad or many["first_bad"] or one["first_bad"]
        samples.append(
            Sample(
                rate=many["rate"],
                p50_ms=one["p50_ms"],
                p99_ms=one["p99_ms"],
                bad=many["bad"] + one["bad"],
                loadgen_cpu=max(many["loadgen_cpu"], one["loadgen_cpu"]),
                server_cpu=many["server_cpu"],
            )
        )
        _progress(
            f"L4 run {run + 1}: {many['rate']:.0f}/s; "
            f"1 connection p50 {one['p50_ms']:.1f} ms, p99 {one['p99_ms']:.1f} ms"
        )
    return samples, exhausted, first_bad


def _figure(cfg: Config, figure_id: str, what: str, samples: list[Sample]) -> Figure:
    rate = median([s.rate for s in samples])
    p50, p99 = median([s.p50_ms for s in samples]), median([s.p99_ms for s in samples])
    figure = Figure(
        id=figure_id,
        what=what,
        measured=f"{rate:.0f}/s; p50 {p50:.1f} ms, p99 {p99:.1f} ms",
        target=NO_TARGET,
        ratio=None,
        passed=None,
        loadgen_cpu=max(s.loadgen_cpu for s in samples),
        detail={
            "rates": [s.rate for s in samples],
            "p50_ms": [s.p50_ms for s in samples],
            "p99_ms": [s.p99_ms for s in samples],
            "server_cpu": [s.server_cpu for s in samples],
            "connections": cfg.connections,
            "bad": sum(s.bad for s in samples),
        },
    )
    if figure.detail["bad"]:
        figure.notes.append(f"{figure.detail['bad']} answers were not the expected ones (bench/results/*.err)")
    return figure


def lifecycle(cfg: Config, server: Server, main: datasets.MainData, url: str) -> list[Figure]:
    """The L figures asked for, on the main database's lifecycle data."""
    assert main.big_customer is not None
    customer = str(main.big_customer)
    # The admins' sessions in turn (datasets.L_ADMINS of them).
    admin = "Authorization: Bearer bench-l1-{{i}}"
    results: list[Figure] = []

    def members_load(after: str | None, first_listed: int) -> Load:
        variables = {"customerId": customer, "first": PAGE, "after": after}
        # The page must start where it should: the first member, or the one just after the cursor.
        expect = f'"email":"{email("l1-", first_listed)}"'
        return Load(
            body=json.dumps({"query": MEMBERS, "variables": variables}),
            expect=expect,
            count=datasets.L_ADMINS,
            header=admin,
        )

    if "L1" in cfg.figures:
        samples = _wrk_samples(cfg, server, "L1", members_load(None, 0))
        what = f"`Members` first page ({PAGE}) of a customer with {cfg.l_members:,} members, as its admin"
        results.append(_figure(cfg, "L1", what, samples))
    if "L2" in cfg.figures:
        cursor, position = deep_cursor(server.port, customer, cfg.l_members)
        samples = _wrk_samples(cfg, server, "L2", members_load(cursor, position))
        what = f"`Members` page ({PAGE}) after member {position:,} of {cfg.l_members:,} (deep cursor)"
        figure = _figure(cfg, "L2", what, samples)
        figure.detail["after_member"] = position
        results.append(figure)
    if "L3" in cfg.figures:
        load = Load(
            body=json.dumps({"query": SESSIONS}),
            expect='"current":true',
            count=datasets.L3_USERS,
            header="Authorization: Bearer bench-l3-{{i}}",
        )
        samples = _wrk_samples(cfg, server, "L3", load)
        what = f"`Sessions` (`viewer {{ sessions }}`), {cfg.l_sessions} live sessions per user"
        results.append(_figure(cfg, "L3", what, samples))
    if "L4" in cfg.figures:
        samples, exhausted, first_bad = _reauthenticate_samples(cfg, server, url)
        figure = _figure(cfg, "L4", "`Reauthenticate` (step-up, R14) with the current TOTP code", samples)
        if exhausted:
            figure.notes.append("a run used every seeded L4 session before its time was up (raise BENCH_L4_POOL)")
        if first_bad:
            figure.notes.append(f"first unexpected answer: {first_bad[:200]}")
        results.append(figure)
    if results:
        results[0].notes.append(
            f"L1-L4: requests/s on {cfg.connections} connections, p50/p99 on 1 connection (no queueing); no target"
        )
    return results
