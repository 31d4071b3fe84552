"""BENCH_PROFILE=1: py-spy samples the server during one run of a figure; a summary says where time went.

The raw stacks (bench/results/profile-<figure>.txt, py-spy's collapsed format) can be turned into a
flame graph; the summary (profile-<figure>.md) lists the frames that hold most samples, inclusive.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

from bench.config import VENV_BIN, WORKDIR

# Frames worth naming in a summary: the service, its ORM and driver, GraphQL, the server.
INTERESTING = re.compile(r"gql_server|tortoise|aiosqlite|asyncpg|strawberry|graphql|argon2|uvicorn|starlette")


class Profiler:
    """py-spy record on a server process for `seconds`, pinned to the load generator's CPU."""

    def __init__(self, figure: str, pid: int, seconds: float, cpu: int) -> None:
        self.raw = WORKDIR / f"profile-{figure}.txt"
        self.summary = WORKDIR / f"profile-{figure}.md"
        self._figure = figure
        argv = [str(VENV_BIN / "py-spy"), "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "250"]
        argv += ["-f", "raw", "-o", str(self.raw), "--threads", "--nonblocking"]
        self._proc = subprocess.Popen(
            ["taskset", "-c", str(cpu), *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def finish(self) -> Path | None:
        """Wait for py-spy; write and return the summary (None when py-spy could not sample)."""
        self._proc.wait(timeout=120)
        if not self.raw.exists():
            return None
        self.summary.write_text(summarize(self.raw, self._figure))
        return self.summary


def summarize(raw: Path, figure: str, top: int = 40) -> str:
    """Where the samples went (event loop idle, SQLite's thread, hashing, request work), then the frames
    in most busy samples, inclusive, from py-spy's collapsed stacks."""
    inclusive: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    busy = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        frames = stack.split(";")
        kind = _kind(frames)
        kinds[kind] += samples
        if kind == "inside uvloop (waiting for sockets, or its own C code)":
            continue
        busy += samples
        for frame in {_short(f) for f in frames[1:] if INTERESTING.search(f)}:
            inclusive[frame] += samples
    total = sum(kinds.values())
    lines = [f"# Where the server's time went during {figure} (py-spy, {total} samples)", "", "Samples:", ""]
    lines += [f"- {name}: {100 * n / total:.1f}%" for name, n in kinds.most_common()]
    lines += ["", f"Frames in the busy samples ({busy}), inclusive:", ""]
    lines += [f"- {100 * n / max(busy, 1):5.1f}% {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"


def _kind(frames: list[str]) -> str:
    # A stack ending in Runner.run is inside uvloop's C loop: py-spy cannot tell waiting from its own work.
    if "Runner.run" in frames[-1]:
        return "inside uvloop (waiting for sockets, or its own C code)"
    if "_connection_worker_thread" in ";".join(frames):
        return "SQLite thread (aiosqlite)"
    if any("argon2" in f for f in frames):
        return "password hashing (argon2)"
    return "request work on the event loop"


def _short(frame: str) -> str:
    frame = re.sub(r"\(/[^)]*?site-packages/", "(", frame)
    frame = re.sub(r"\(/[^)]*?/(gql_server|plugins)/", r"(\1/", frame)
    return re.sub(r":\d+\)$", ")", frame)
