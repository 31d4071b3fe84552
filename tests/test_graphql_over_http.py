"""The GraphQL-over-HTTP audit suite (the `graphql-http` npm package's `serverAudits`) against a real
`gql-server serve`: every MUST and every SHOULD audit passes.

The package is installed by the test run itself (`npm ci` of tests/graphql_http/package-lock.json, exact
versions with their integrity hashes) into the pytest cache, once; nothing is installed by hand. Without
node or npm, or without the registry, the test is skipped with the reason, except under CI=true, where that
is a failure (as for PostgreSQL in tests/conftest.py): CI can never pass without having run the audits.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .local_services import free_port

pytestmark = pytest.mark.slow

AUDIT = Path(__file__).with_name("graphql_http")
# What `npm ci` needs, and the script it runs; copied together so that the script resolves the installed package.
AUDIT_FILES = ("package.json", "package-lock.json", "audit.mjs")
# Written after `npm ci` succeeded: the lock it installed.
INSTALLED = "installed-package-lock.json"
EXE = [sys.executable, "-m", "gql_server.cli"]
# The machine's own settings that would change what is served (another database, a metrics port in use, ...).
OPERATOR_SETTINGS = ("DATABASE_URL", "REDIS_URL", "TRUSTED_PROXIES", "METRICS_", "PROMETHEUS_", "SMTP_", "GQL_SERVER_")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the GraphQL-over-HTTP audits", pytrace=False)
    pytest.skip(reason)


def _installed(folder: Path) -> bool:
    """Whether `folder` holds a finished install of this lock (a repeated run does not install again)."""
    done = folder / INSTALLED
    return done.exists() and done.read_bytes() == (AUDIT / "package-lock.json").read_bytes()


@pytest.fixture(scope="session")
def graphql_http(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """node and the audit script, with graphql-http installed beside it (npm ci, at the locked versions)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm are needed for the GraphQL-over-HTTP audits (apt-get install nodejs npm)")
    assert node is not None and npm is not None
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("graphql-http-audit") if cache is not None else tmp_path_factory.mktemp("graphql-http-audit")
    fresh = not _installed(folder)
    for name in AUDIT_FILES:
        shutil.copyfile(AUDIT / name, folder / name)
    if fresh:
        (folder / INSTALLED).unlink(missing_ok=True)
        run = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", str(folder)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if run.returncode != 0:
            _unavailable(f"npm ci of graphql-http failed:\n{run.stdout}\n{run.stderr}")
        shutil.copyfile(AUDIT / "package-lock.json", folder / INSTALLED)
    return node, folder / "audit.mjs"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`gql-server serve` on a fresh SQLite file and a free port, as an operator runs it; its /graphql URL."""
    port = free_port()
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith(OPERATOR_SETTINGS)},
        "DATABASE_URL": f"sqlite://{tmp_path / 'audit.sqlite3'}",
        "SECRET_KEY": "graphql-over-http-audit-secret-key-0123456789",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "GQL_SERVER_ENV": "development",
        "GQL_SERVER_DISABLED_PLUGINS": "sms,webauthn",
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*EXE, "serve", "--port", str(port)], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"gql-server serve exited early:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"gql-server serve did not become ready:\n{log_path.read_text()}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_every_must_and_should_audit_of_graphql_over_http_passes(graphql_http, served):
    node, script = graphql_http

    run = subprocess.run([node, str(script), served], capture_output=True, text=True, timeout=300)

    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    required = [r for r in results if r["name"].startswith(("MUST", "SHOULD"))]
    assert len(required) >= 30, f"the suite ran only {len(required)} MUST/SHOULD audits"
    failed = [f"{r['id']} {r['name']}: {r['status']} ({r['reason']})" for r in required if r["status"] != "ok"]
    assert not failed, "GraphQL-over-HTTP audits that did not pass:\n" + "\n".join(failed)
    # The MAY audits are the server's choice; they are printed (pytest -s) so that a change shows.
    for result in results:
        if not result["name"].startswith(("MUST", "SHOULD")):
            print(result["id"], result["name"], result["status"], result["reason"] or "")
