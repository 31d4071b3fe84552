"""Fixtures of the browser tests: Debian's chromium, and one real `gql-server serve` on SQLite for the
package, its links pointing at itself and its mail going to the test SMTP server; a second one at
http://localhost with the webauthn package for the passkey tests.

Without /usr/bin/chromium the browser tests are skipped, except under CI=true, where that is a
failure (as for PostgreSQL in tests/conftest.py).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
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


def site_environment(workdir: Path, mail: Mailbox, url: str, disabled_plugins: str) -> dict[str, str]:
    """The environment of a test site: a fresh SQLite file in `workdir`, links to `url`, mail to the test SMTP."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{workdir / 'web.sqlite3'}",
        "SMTP_URL": mail.url,
        "SECRET_KEY": SECRET,
        "PUBLIC_URL": url,
        "GQL_SERVER_ENV": "development",
        "GQL_SERVER_DISABLED_PLUGINS": disabled_plugins,
        "RATE_LIMIT_LOGIN": "10000/minute",
        "RATE_LIMIT_VERIFY_SECOND_FACTOR": "10000/minute",
        "RATE_LIMIT_SEND_LOGIN_CODE": "10000/minute",
        "RATE_LIMIT_REQUEST_CONVERSION": "10000/minute",
        # The pages' "we sent it" wording is what these tests read. On a loaded CI machine (two workers, a
        # Chromium each, the server) the local test SMTP once took longer than the default 5 s to answer and
        # the page rightly said "on its way" instead; the queued answer has its own tests (test_outbox.py).
        "MAIL_WAIT_SECONDS": "30",
    }
    for name in ("REDIS_URL", "TRUSTED_PROXIES", "GQL_SERVER_PLUGINS", "GQL_SERVER_AUDIT_JSONL"):
        env.pop(name, None)
    for name in ("GQL_SERVER_WEBAUTHN_RP_ID", "GQL_SERVER_WEBAUTHN_ORIGIN", "GQL_SERVER_WEBAUTHN_RP_NAME"):
        env.pop(name, None)
    return env


def serving(env: dict[str, str], workdir: Path, port: int, url: str) -> Iterator[Site]:
    """`gql-server serve` with `env` on `port` for as long as the generator is not closed."""
    process = start_server(env, workdir, port)
    site = Site(url=url, env=env, workdir=workdir, log=workdir / "serve.log")
    try:
        yield site
    finally:
        site.close()
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="package")
def site(chromium: Path, smtp_session: Mailbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """`gql-server serve` on a fresh SQLite file; its links point at itself; mail goes to the test SMTP."""
    workdir = tmp_path_factory.mktemp("web")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The third-party sms and webauthn packages may or may not be installed; the flows here do not depend on
    # them (passkeys have a site of their own: passkey_site).
    env = site_environment(workdir, smtp_session, url, "sms,webauthn")
    yield from serving(env, workdir, port, url)


@pytest.fixture(scope="package")
def passkey_site(chromium: Path, smtp_session: Mailbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A site with the webauthn package, at http://localhost:PORT: browsers run WebAuthn only in a secure
    context (https, or localhost) and for an RP ID that is a domain, never 127.0.0.1. The relying party is
    `localhost` and the site's own origin, set as an operator would."""
    if importlib.util.find_spec("gql_server_webauthn") is None:
        reason = "gql-server-webauthn is not installed (pip install -e plugins/gql-server-webauthn)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the passkey browser tests")
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("passkeys")
    port = free_port()
    url = f"http://localhost:{port}"
    env = site_environment(workdir, smtp_session, url, "sms")
    env |= {"GQL_SERVER_WEBAUTHN_RP_ID": "localhost", "GQL_SERVER_WEBAUTHN_ORIGIN": url}
    yield from serving(env, workdir, port, url)


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def shared_browser(chromium: Path) -> AsyncIterator[Browser]:
    """One headless chromium for the package (per xdist worker): starting Playwright's driver and chromium
    takes about half a second, and a test's isolation comes from its fresh browser contexts, not the process."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), headless=True, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="package")
async def browser(shared_browser: Browser) -> AsyncIterator[Browser]:
    """The package's chromium for one test. Every tab a test opens is in a context of its own (a fresh profile:
    no cookies, storage or cache, steps.open_tab); the contexts the test opened are closed after it, so the next
    test starts with none. The tests run in the package's event loop (pages.LOOP), which the browser lives in."""
    assert shared_browser.contexts == [], "a browser context outlived its test"
    yield shared_browser
    for context in shared_browser.contexts:
        await context.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    """This test's screenshot folder (var/screenshots/<test>), emptied."""
    folder = SCREENSHOTS / request.node.name.removeprefix("test_")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Shots(folder)


async def enforced_customer(site: Site) -> str:
    """A new customer of `site` whose (password) admin switched enforcement on."""
    customer = site.customer("Enforced Oy")
    admin_email = f"admin-{customer[:8]}@example.com"
    site.user(customer, admin_email, PASSWORD, "customer")
    await enforce(site, customer, admin_email)
    return customer


@pytest.fixture
async def enforced(site: Site) -> str:
    """The id of a new customer whose (password) admin switched enforcement on; tests add its users."""
    return await enforced_customer(site)


@pytest.fixture
async def passkey_customer(passkey_site: Site) -> str:
    """The same on the passkey site."""
    return await enforced_customer(passkey_site)
