"""Figures as rows: the Markdown table printed at the end and bench/results.json."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.config import Config

# A load generator using more than this share of its core might be what limits the figure.
LOADGEN_LIMIT = 0.5


@dataclass
class Figure:
    """One row of the table: what was measured, against what target, and whether it holds."""

    id: str
    what: str
    measured: str
    target: str
    ratio: float | None
    passed: bool | None
    # The load generator's highest CPU share over the runs (None when no load generator took part).
    loadgen_cpu: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def check_loadgen(self) -> None:
        """Note it when the load generator was busy enough to be the bottleneck."""
        if self.loadgen_cpu is not None and self.loadgen_cpu >= LOADGEN_LIMIT:
            self.notes.append(f"load generator used {self.loadgen_cpu:.0%} of its core: figure may be client-bound")


def median(values: list[float]) -> float:
    """The median of the runs (0 for none)."""
    return statistics.median(values) if values else 0.0


def machine() -> dict[str, Any]:
    """What the figures ran on."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines() if "model name" in ln), "")
    mem_kib = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        mem_kib = int(meminfo.read_text().split()[1])
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "load_average_at_start": os.getloadavg(),
    }


def _cell(figure: Figure) -> str:
    verdict = {True: "yes", False: "**no**", None: "-"}[figure.passed]
    ratio = f"{figure.ratio:.2f}" if figure.ratio is not None else "-"
    cpu = f"{figure.loadgen_cpu:.0%}" if figure.loadgen_cpu is not None else "-"
    return f"| {figure.id} | {figure.what} | {figure.measured} | {figure.target} | {ratio} | {verdict} | {cpu} |"


def table(figures: list[Figure]) -> str:
    """The Markdown table of the figures, with their notes below it."""
    lines = [
        "| figure | what | measured (median of runs) | target | ratio | meets | load gen. CPU |",
        "|---|---|---|---|---|---|---|",
        *(_cell(f) for f in figures),
    ]
    notes = [f"- {f.id}: {note}" for f in figures for note in f.notes]
    return "\n".join(lines + (["", *notes] if notes else []))


def write_results(path: Path, cfg: Config, host: dict[str, Any], figures: list[Figure]) -> None:
    """bench/results.json: the settings, the machine, every figure with its per-run numbers."""
    host = dict(host, load_average_at_end=os.getloadavg())
    document = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": asdict(cfg),
        "machine": host,
        "figures": [asdict(f) for f in figures],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
