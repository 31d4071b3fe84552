"""`make bench` (`python -m bench`): seed, run P1-P6, the forward-auth figure F1, the S3 timing check and the
lifecycle figures L1-L4, print the table, write bench/results.json. Settings come from BENCH_* variables
(bench/README.md)."""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time

from bench import datasets, figures, forward_auth, lifecycle, scaling
from bench.config import ALL_FIGURES, LIFECYCLE_FIGURES, RESULTS_JSON, WORKDIR, Config
from bench.procs import Server
from bench.report import Figure, machine, table, write_results
from bench.wrk import ensure_wrk

# Besides the flood's sockets: the server's database files and logs, the viewer reader, wrk's own.
SPARE_FILES = 256


def _raise_file_limit(cfg: Config) -> None:
    """The P4 flood holds `p4_flood` sockets in wrk and as many in the server: both inherit this process's
    limit, raised here to the hard limit (a shell's default soft limit, 1024, is too few)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(soft, min(hard, 65536))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    needed = cfg.p4_flood + SPARE_FILES
    if "P4" in cfg.figures and wanted < needed:
        raise SystemExit(
            f"P4 needs {needed} open files per process (BENCH_P4_FLOOD={cfg.p4_flood}); the hard limit is {hard}: "
            f"raise it (ulimit -Hn {needed}, as root) or lower BENCH_P4_FLOOD"
        )


def _check_cpus(cfg: Config) -> None:
    available = os.sched_getaffinity(0)
    for cpu in (cfg.server_cpu, cfg.load_cpu):
        if cpu not in available:
            raise SystemExit(
                f"CPU {cpu} is not available (have {sorted(available)}); set BENCH_SERVER_CPU/BENCH_LOAD_CPU"
            )
    if cfg.server_cpu == cfg.load_cpu:
        print("warning: the server and the load generator share one CPU", file=sys.stderr)


def _main_figures(cfg: Config) -> list[Figure]:
    wanted = [f for f in ("P1", "P2", "P3", "P4", "F1", "S3", *LIFECYCLE_FIGURES) if f in cfg.figures]
    if not wanted:
        return []
    url = f"sqlite://{WORKDIR / 'main.sqlite3'}"
    started = time.perf_counter()
    main = asyncio.run(datasets.seed_main(url, cfg))
    print(f"main database seeded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    results: list[Figure] = []
    with Server.gql("server", url, cfg.server_cpu) as server:
        if "P1" in wanted:
            results.append(figures.p1(cfg, server))
        if {"P2", "P3", "F1"} & set(wanted):
            with Server.bare(cfg.server_cpu) as bare:
                if "P2" in wanted or "P3" in wanted:
                    results += figures.p2_p3(cfg, server, bare, main, url, set(wanted))
                if "F1" in wanted:
                    results.append(forward_auth.f1(cfg, server, bare))
        if "S3" in wanted:
            results.append(figures.s3(cfg, server))
        if set(wanted) & set(LIFECYCLE_FIGURES):
            results += lifecycle.lifecycle(cfg, server, main, url)
        # Last: the flood leaves thousands of sessions and audit rows behind.
        if "P4" in wanted:
            results.append(figures.p4(cfg, server))
    return results


def _p5_figures(cfg: Config) -> list[Figure]:
    results = scaling.p5(cfg, "SQLite")
    reason = scaling.postgres_reachable(cfg.postgres)
    if reason is None:
        results += scaling.p5(cfg, "PostgreSQL")
    else:
        results.append(
            Figure(
                id="P5",
                what="PostgreSQL",
                measured="not run",
                target="<= 1.2",
                ratio=None,
                passed=None,
                notes=[f"PostgreSQL not reachable at {cfg.postgres} ({reason}); set BENCH_POSTGRES"],
            )
        )
    return results


def main() -> int:
    """Run the benchmark; exit 0 when it ran (the table says which targets hold)."""
    cfg = Config.from_env()
    WORKDIR.mkdir(parents=True, exist_ok=True)
    _raise_file_limit(cfg)
    _check_cpus(cfg)
    ensure_wrk()
    host = machine()
    # The harness itself (seeding, bookkeeping) stays off the server's core.
    os.sched_setaffinity(0, {cfg.load_cpu})
    print(
        f"bench: {cfg.runs} runs of {cfg.duration:g} s per figure; server on CPU {cfg.server_cpu}, load on CPU "
        f"{cfg.load_cpu}; figures {', '.join(cfg.figures)}",
        file=sys.stderr,
    )
    results = _main_figures(cfg)
    if "P5" in cfg.figures:
        results += _p5_figures(cfg)
    if "P6" in cfg.figures:
        results.append(scaling.p6(cfg))
    for figure in results:
        figure.check_loadgen()
    order = {name: n for n, name in enumerate(ALL_FIGURES)}
    results.sort(key=lambda f: order[f.id])
    write_results(RESULTS_JSON, cfg, host, results)
    print()
    print(table(results))
    print(f"\nmachine: {host['cpu']}, {host['cores']} cores, load average at start {host['load_average_at_start']}")
    print(f"written: {RESULTS_JSON.relative_to(RESULTS_JSON.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
