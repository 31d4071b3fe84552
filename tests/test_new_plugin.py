"""`gql-server new-plugin NAME`: the package it writes passes its own tests as generated, driving a real
service through gql_server.testing, with nothing installed (the module is loaded through GQL_SERVER_PLUGINS,
from the package's src/ on PYTHONPATH)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gql_server.cli import main

from .test_plugin_contract import _core_imports

EXE = [sys.executable, "-m", "gql_server.cli"]


@pytest.mark.slow
def test_the_generated_package_passes_its_own_tests(tmp_path: Path) -> None:
    made = subprocess.run(
        [*EXE, "new-plugin", "toy-token", "--directory", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    root = tmp_path / "gql-server-toy-token"
    assert made.stdout.strip() == f'{{"directory": "{root}"}}'
    source = root / "src" / "gql_server_toy_token" / "__init__.py"
    assert _core_imports(source) == {"gql_server.plugin_api"}
    assert 'toy_token = "gql_server_toy_token"' in (root / "pyproject.toml").read_text("utf-8")

    # Only the package's own pytest configuration: none of this suite's options.
    outer = {key: value for key, value in os.environ.items() if key != "PYTEST_ADDOPTS"}
    env = {
        **outer,
        "PYTHONPATH": str(root / "src"),
        "GQL_SERVER_PLUGINS": "gql_server_toy_token",
    }
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "4 passed" in tested.stdout, tested.stdout
    linted = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=root, capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout


def test_names_that_are_not_plugin_names_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("Hotp", "2fa", "my token", "../escape", "hotp-", ""):
        assert main(["new-plugin", name, "--directory", str(tmp_path)]) == 1, name
        assert "is not a plugin name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_existing_package_is_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-plugin", "hotp", "--directory", str(tmp_path)]) == 0
    written = tmp_path / "gql-server-hotp" / "src" / "gql_server_hotp" / "__init__.py"
    written.write_text("# mine\n", encoding="utf-8")

    assert main(["new-plugin", "hotp", "--directory", str(tmp_path)]) == 1

    assert "already exists" in capsys.readouterr().err
    assert written.read_text("utf-8") == "# mine\n"
