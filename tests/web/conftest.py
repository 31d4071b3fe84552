"""Fixtures of the browser tests: Debian's chromium, and one real `gql-server serve` on SQLite for the
package, its links pointing at itself and its mail going to the test SMTP server.

Without /usr/bin/chromium the browser tests are skipped, except under CI=true, where that is a
failure (as for PostgreSQL in tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from ..flows import PASSWORD
from ..local_services import free_port
from ..mailbox import Mailbox
from .pages import CHROMIUM, SCREENSHOTS, Shots, Site, start_server
from .steps import enforce

SECRET = "browser-test-secret-key-long-enough-0123456789"


@pytest.fixture(scope="package")
def chromium() -> Path:
    """Debian's chromium; CI must have it (.ci/run installs it), elsewhere its absence skips."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the browser tests")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="package")
def site(chromium: Path, smtp_session: Mailbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """`gql-server serve` on a fresh SQLite file; its links point at itself; mail goes to the test SMTP."""
    workdir = tmp_path_factory.mktemp("web")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{workdir / 'web.sqlite3'}",
        "SMTP_URL": smtp_session.url,
        "SECRET_KEY": SECRET,
        "PUBLIC_URL": url,
        "GQL_SERVER_ENV": "development",
        # The third-party sms and webauthn packages may or may not be installed; the flows here do not depend on
        # them (the web client has no WebAuthn ceremony yet).
        "GQL_SERVER_DISABLED_PLUGINS": "sms,webauthn",
        "RATE_LIMIT_LOGIN": "10000/minute",
        "RATE_LIMIT_VERIFY_SECOND_FACTOR": "10000/minute",
        "RATE_LIMIT_SEND_LOGIN_CODE": "10000/minute",
        "RATE_LIMIT_REQUEST_CONVERSION": "10000/minute",
    }
    for name in ("REDIS_URL", "TRUSTED_PROXIES", "GQL_SERVER_PLUGINS", "GQL_SERVER_AUDIT_JSONL"):
        env.pop(name, None)
    process = start_server(env, workdir, port)
    try:
        yield Site(url=url, env=env, workdir=workdir, log=workdir / "serve.log")
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    """A headless chromium for one test."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), headless=True, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    """This test's screenshot folder (var/screenshots/<test>), emptied."""
    folder = SCREENSHOTS / request.node.name.removeprefix("test_")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Shots(folder)


@pytest.fixture
async def enforced(site: Site) -> str:
    """The id of a new customer whose (password) admin switched enforcement on; tests add its users."""
    customer = site.customer("Enforced Oy")
    admin_email = f"admin-{customer[:8]}@example.com"
    site.user(customer, admin_email, PASSWORD, "customer")
    await enforce(site, customer, admin_email)
    return customer
