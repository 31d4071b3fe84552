"""Browser-test helpers: a real `gql-server serve` on SQLite, Debian's chromium through Playwright.

`Site` is the running service (seeded through the CLI); `Visit` is one browser tab that records the
URLs it requested and what its console said, saves a screenshot of each step under
var/screenshots/<test>/, and checks what every step must satisfy (labels, phone width).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import ConsoleMessage, Page, Request

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
EXE = [sys.executable, "-m", "gql_server.cli"]
# The mark of every browser test module: the package's event loop, in which its one chromium runs (conftest.py).
LOOP = pytest.mark.asyncio(loop_scope="package")


@dataclass
class Site:
    """A running service: its URL, the environment its CLI needs, and its log file."""

    url: str
    env: dict[str, str]
    workdir: Path
    log: Path

    _commands: subprocess.Popen[str] | None = field(default=None, repr=False)

    def cli(self, *args: str) -> dict[str, Any]:
        """Run `gql-server ARGS` against the site's database; its JSON answer. The commands run in one
        process of the site's own (cli_worker.py: the same code, environment and directory), started on the
        first command, so that each does not pay for Python importing the service again."""
        worker = self._commands
        if worker is None or worker.poll() is not None:
            # Its log lines go to a file (a pipe nobody reads could fill and stop it); the child keeps its own
            # descriptor, ours is closed at once.
            with (self.workdir / "cli.log").open("a") as log:
                worker = self._commands = subprocess.Popen(
                    [sys.executable, str(Path(__file__).with_name("cli_worker.py"))],
                    env={**self.env, "PYTHONPATH": str(ROOT)},
                    cwd=self.workdir,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                )
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write(json.dumps(list(args)) + "\n")
        worker.stdin.flush()
        result = json.loads(worker.stdout.readline())
        assert result["code"] == 0, result["stderr"]
        answer: dict[str, Any] = json.loads(result["stdout"])
        return answer

    def close(self) -> None:
        """End the site's command process (its stdin closes; it finishes what it was doing)."""
        if self._commands is not None:
            assert self._commands.stdin is not None and self._commands.stdout is not None
            self._commands.stdin.close()
            self._commands.wait(timeout=30)
            self._commands.stdout.close()
            self._commands = None

    def customer(self, name: str) -> str:
        """A new customer's id."""
        return str(self.cli("customer", "create", name)["id"])

    def user(self, customer: str, email: str, password: str | None, level: str = "company") -> None:
        """A member of `customer`; without a password, a new two-factor account invited by email."""
        args = ["user", "create", "--customer", customer, "--email", email, "--level", level]
        self.cli(*args, *(["--password", password] if password else []))

    def server_log(self) -> str:
        """Everything the server printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")


def start_server(env: dict[str, str], workdir: Path, port: int) -> subprocess.Popen[bytes]:
    """`gql-server serve` on `port`, logging to workdir/serve.log; waits until /login answers."""
    log = (workdir / "serve.log").open("wb")
    process = subprocess.Popen(
        [*EXE, "serve", "--port", str(port)], env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, (workdir / "serve.log").read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.terminate()
    raise AssertionError("gql-server serve did not answer")


@dataclass
class Shots:
    """A test's screenshot folder; every tab of the test numbers its steps in one sequence."""

    folder: Path
    count: int = 0

    def next(self, name: str) -> Path:
        """The path of the next numbered screenshot."""
        self.count += 1
        return self.folder / f"{self.count:02d}-{name}.png"


@dataclass
class Visit:
    """One browser tab of a test, with what it requested and logged, and its screenshots."""

    page: Page
    shots: Shots
    requested: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("request", self._request)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _request(self, request: Request) -> None:
        self.requested.append(request.url)

    def _console(self, message: ConsoleMessage) -> None:
        self.console.append(message.text)
        # A blocked script or style (CSP), a failed load or an uncaught rejection all land here.
        if message.type == "error":
            self.errors.append(message.text)

    async def shot(self, name: str) -> None:
        """Save a full-page screenshot as the next numbered step."""
        await self.page.screenshot(path=self.shots.next(name), full_page=True)

    async def step(self, section: str, name: str) -> None:
        """Wait for a page section to show; check it (labels, fits the screen); screenshot it."""
        await self.page.locator(f"#{section}").wait_for(state="visible")
        await self.check_accessible()
        await self.shot(name)

    async def check_accessible(self) -> None:
        """Every visible field has a label, code fields offer one-time codes, nothing overflows sideways."""
        problems: list[str] = await self.page.evaluate(
            """() => {
              const problems = [];
              for (const input of document.querySelectorAll("input, select, textarea")) {
                if (!input.checkVisibility()) continue;
                if (input.labels.length === 0 && !input.getAttribute("aria-label")) problems.push(`no label: #${input.id}`);
                if (input.id === "code" && input.autocomplete !== "one-time-code") problems.push("code without one-time-code");
              }
              if (document.documentElement.scrollWidth > window.innerWidth) problems.push("wider than the screen");
              return problems;
            }"""
        )
        assert problems == [], problems

    async def wait_for_path(self, path: str) -> None:
        """Wait until the tab shows `path` (after a navigation by the page's script)."""
        await self.page.wait_for_url(re.compile(rf"^https?://[^/]+{re.escape(path)}$"))

    async def text(self, selector: str) -> str:
        """The visible text of the first element matching `selector`."""
        return await self.page.locator(selector).first.inner_text()

    def assert_never_leaked(self, *secrets: str) -> None:
        """The tab logged no error (CSP, script, load) and no secret appears in a URL it requested or its console."""
        assert self.errors == [], self.errors
        for secret in secrets:
            assert not any(secret in url for url in self.requested), secret
            assert not any(secret in line for line in self.console), secret
