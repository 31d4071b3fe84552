"""The harness's knobs, read once from BENCH_* environment variables (bench/README.md lists them)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
# Everything a run makes (databases, logs, Lua bodies) lives here; it is ignored by git.
WORKDIR = BENCH_DIR / "results"
RESULTS_JSON = BENCH_DIR / "results.json"
VENV_BIN = REPO / ".venv" / "bin"

# Fixed so that factor states seeded by the harness decrypt in the server (S23): benchmark data only.
SECRET_KEY = "bench-only-secret-key-never-used-anywhere-else-0123456789"
PASSWORD = "correct horse battery bench"
# Far above any rate a benchmark reaches: P1-P4 measure the service, not the per-address budgets.
UNLIMITED = "1000000/second"

ALL_FIGURES = ("P1", "P2", "P3", "P4", "P5", "P6", "F1", "S3", "L1", "L2", "L3", "L4")
# Figures of the lifecycle work (issue 17) with no target in performance.md: measured and recorded only.
LIFECYCLE_FIGURES = ("L1", "L2", "L3", "L4")


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass(frozen=True)
class Config:
    """One benchmark run's settings."""

    duration: float
    runs: int
    warmup: float
    server_cpu: int
    load_cpu: int
    connections: int
    p1_users: int
    p2_sessions: int
    p3_pool: int
    p4_flood: int
    p4_viewer_connections: int
    p5_users: int
    p5_customers: int
    p5_small_users: int
    p5_duration: float
    s3_samples: int
    l_members: int
    l_sessions: int
    l4_pool: int
    postgres: str
    figures: tuple[str, ...]
    profile: bool

    @classmethod
    def from_env(cls) -> Config:
        """Defaults give the full benchmark (about 20-25 minutes on 2 cores); shrink them while developing."""
        duration = _float("BENCH_DURATION", 10.0)
        only = os.environ.get("BENCH_ONLY", "")
        figures = tuple(f.strip().upper() for f in only.split(",") if f.strip()) or ALL_FIGURES
        unknown = set(figures) - set(ALL_FIGURES)
        if unknown:
            raise SystemExit(f"BENCH_ONLY: unknown figure(s) {sorted(unknown)}; choose from {ALL_FIGURES}")
        return cls(
            duration=duration,
            runs=_int("BENCH_RUNS", 3),
            warmup=_float("BENCH_WARMUP", min(3.0, duration / 2)),
            server_cpu=_int("BENCH_SERVER_CPU", 0),
            load_cpu=_int("BENCH_LOAD_CPU", 1),
            connections=_int("BENCH_CONNECTIONS", 16),
            p1_users=_int("BENCH_P1_USERS", 2000),
            p2_sessions=_int("BENCH_P2_SESSIONS", 1000),
            p3_pool=_int("BENCH_P3_POOL", 20000),
            p4_flood=_int("BENCH_P4_FLOOD", 1000),
            p4_viewer_connections=_int("BENCH_P4_VIEWER_CONNECTIONS", 2),
            p5_users=_int("BENCH_P5_USERS", 1_000_000),
            p5_customers=_int("BENCH_P5_CUSTOMERS", 10_000),
            p5_small_users=_int("BENCH_P5_SMALL_USERS", 1000),
            p5_duration=_float("BENCH_P5_DURATION", min(duration, 5.0)),
            s3_samples=_int("BENCH_S3_SAMPLES", 150),
            l_members=_int("BENCH_L_MEMBERS", 10_000),
            l_sessions=_int("BENCH_L_SESSIONS", 10),
            l4_pool=_int("BENCH_L4_POOL", 10_000),
            postgres=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"),
            figures=figures,
            profile=os.environ.get("BENCH_PROFILE", "") not in ("", "0"),
        )
