"""Issue 13 (names and side effects): importing the package or running a command that only reads creates
no file. A fresh clone stays clean until the service or an operator command that writes is run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # A development environment (no SECRET_KEY, no DATABASE_URL): the defaults point into ./var.
    env = {key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "DATABASE_URL"}}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["GQL_SERVER_ENV"] = "development"
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    "module", ["gql_server.db", "gql_server.settings", "gql_server.app", "gql_server.cli", "gql_server.plugins"]
)
def test_importing_a_module_creates_no_file(tmp_path: Path, module: str) -> None:
    done = _run([sys.executable, "-c", f"import {module}"], tmp_path)

    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("command", "prints"), [("plugins", '"totp"'), ("export-schema", "type Mutation")])
def test_a_command_that_only_reads_creates_no_file(tmp_path: Path, command: str, prints: str) -> None:
    done = _run([sys.executable, "-m", "gql_server.cli", command], tmp_path)

    assert done.returncode == 0, done.stderr
    assert prints in done.stdout
    assert list(tmp_path.iterdir()) == []
