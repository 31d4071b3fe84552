"""Forward auth behind a real nginx (issue 18): Debian's nginx with `auth_request`, configured with the very
snippet docs/operations.md shows (only its ports changed), in front of `gql-server serve` and a tiny upstream
that echoes the headers it receives. Anonymous requests are refused by nginx, a signed-in one reaches the
upstream with the user's headers (cookie or bearer), a password session is refused where two factors are
asked, and a client cannot forge the `X-Auth-*` headers or loosen a route's requirements.

nginx comes from the Debian package (`.ci/run` installs it when missing); without it the test is skipped with
the reason, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from gql_server.testing.client import operation

from .flows import PASSWORD
from .local_services import free_port
from .test_serve import Served, _base_env, _cli

pytestmark = pytest.mark.slow

OPERATIONS_DOC = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
# The documented snippet's addresses, which the test replaces with its own.
DOC_SERVICE, DOC_APP, DOC_LISTEN = "127.0.0.1:8000", "127.0.0.1:9000", "listen 80;"


def documented_nginx_snippet() -> str:
    """The ```nginx block under docs/operations.md's "nginx (`auth_request`)" heading."""
    text = OPERATIONS_DOC.read_text(encoding="utf-8")
    section = text.split("### nginx (`auth_request`)", 1)[1]
    found = re.search(r"```nginx\n(.*?)```", section, re.DOTALL)
    assert found, "docs/operations.md has no nginx block under its nginx heading"
    return found.group(1)


def nginx_binary() -> str:
    """Debian's nginx (in /usr/sbin, which is not on every PATH); skipped without it, failed under CI=true."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        reason = "nginx is not installed (apt-get install nginx)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the forward-auth test behind nginx")
        pytest.skip(reason)
    return found


@dataclass
class Upstream:
    """The protected service: answers every request with what it received, and remembers it."""

    port: int = field(default_factory=free_port)
    seen: list[dict[str, Any]] = field(default_factory=list)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        seen = self.seen

        class Echo(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = {
                    "method": self.command,
                    "path": self.path,
                    "headers": {name.lower(): value for name, value in self.headers.items()},
                    "body": self.rfile.read(length).decode() if length else "",
                }
                seen.append(request)
                body = json.dumps(request).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

        return Echo


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """The echoing upstream, on a thread of the test's own."""
    echo = Upstream()
    server = ThreadingHTTPServer(("127.0.0.1", echo.port), echo.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield echo
    finally:
        server.shutdown()
        server.server_close()


def nginx_conf(tmp_path: Path, *, listen: int, service: int, app: int) -> Path:
    """A whole nginx.conf around the documented snippet: in the foreground, every file in tmp_path."""
    snippet = documented_nginx_snippet()
    for documented in (DOC_SERVICE, DOC_APP, DOC_LISTEN):
        assert documented in snippet, documented
    snippet = (
        snippet.replace(DOC_SERVICE, f"127.0.0.1:{service}")
        .replace(DOC_APP, f"127.0.0.1:{app}")
        .replace(DOC_LISTEN, f"listen 127.0.0.1:{listen};")
    )
    temp = tmp_path / "nginx-temp"
    temp.mkdir()
    # As root, nginx's workers would run as `nobody`, who cannot enter pytest's tmp_path: keep them as we are.
    user = f"user {pwd.getpwuid(os.getuid()).pw_name};" if os.geteuid() == 0 else ""
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"""
daemon off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/nginx-error.log info;
{user}
events {{ worker_connections 64; }}
http {{
    access_log {tmp_path}/nginx-access.log;
    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
{snippet}
}}
"""
    )
    return conf


class Nginx:
    """nginx in the foreground on `port`, with its own configuration file and logs."""

    def __init__(self, binary: str, conf: Path, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.error_log = conf.parent / "nginx-error.log"
        checked = subprocess.run(
            [binary, "-t", "-c", str(conf), "-e", str(self.error_log)], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stderr
        # Its own messages before the error log is open go to the same file.
        with self.error_log.open("a") as stderr:
            self.process = subprocess.Popen(
                [binary, "-c", str(conf), "-e", str(self.error_log)], stdout=subprocess.DEVNULL, stderr=stderr
            )

    def wait_until_listening(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"nginx exited early: {self.log()}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"nginx did not listen: {self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=20)

    def log(self) -> str:
        return self.error_log.read_text() if self.error_log.exists() else ""


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Served, dict[str, str]]]:
    """`gql-server serve` on SQLite with one customer (not enforcing) and one password user: its ids."""
    env = _base_env(tmp_path, DATABASE_URL=f"sqlite://{tmp_path / 'serve.sqlite3'}")
    customer = _cli(env, tmp_path, "customer", "create", "Relaxed Oy")["id"]
    user = _cli(env, tmp_path, "user", "create", "--customer", customer, "--email", "ville@example.com",
                "--password", PASSWORD, "--level", "company")["id"]  # fmt: skip
    served = Served(env, tmp_path)
    try:
        yield served, {"customer": customer, "user": user}
    finally:
        served.stop()


@pytest.fixture
def nginx(tmp_path: Path, service: tuple[Served, dict[str, str]], upstream: Upstream) -> Iterator[Nginx]:
    """nginx with the documented configuration in front of the service and the upstream."""
    binary = nginx_binary()
    port = free_port()
    proxy = Nginx(binary, nginx_conf(tmp_path, listen=port, service=service[0].port, app=upstream.port), port)
    try:
        proxy.wait_until_listening()
        yield proxy
    finally:
        proxy.stop()


async def test_nginx_auth_request_lets_only_the_sessions_user_through_with_headers_it_cannot_forge(
    nginx, service, upstream
):
    served, ids = service
    await served.wait_until_ready()
    forged = {
        "X-Auth-User-Id": "00000000-0000-0000-0000-000000000000",
        "X-Auth-User-Email": "ceo@example.com",
        "X-Auth-Assurance": "TWO_FACTOR",
        "X-Auth-Memberships": "11111111-1111-1111-1111-111111111111:CUSTOMER",
        "X_Auth_User_Email": "ceo@example.com",
    }
    async with httpx.AsyncClient(base_url=nginx.url, timeout=30) as browser:
        # Anonymous: nginx refuses, the upstream never hears of it; forged headers change nothing.
        assert (await browser.get("/app/hello")).status_code == 401
        assert (await browser.get("/app/hello", headers=forged)).status_code == 401
        assert upstream.seen == []

        # A real login through nginx: the session cookie comes back through it.
        login = await browser.post(
            "/graphql",
            json={"query": operation("Login"), "variables": {"email": "ville@example.com", "password": PASSWORD}},
        )
        result = login.json()["data"]["login"]
        assert result["__typename"] == "LoginSuccess", login.text
        assert "gql_session" in browser.cookies

        by_cookie = await browser.get("/app/hello?x=1")
        assert by_cookie.status_code == 200, nginx.log()
        received = upstream.seen[-1]
        assert received["path"] == "/app/hello?x=1"
        assert received["headers"]["x-auth-user-id"] == ids["user"]
        assert received["headers"]["x-auth-user-email"] == "ville@example.com"
        assert received["headers"]["x-auth-assurance"] == "PASSWORD"
        assert received["headers"]["x-auth-memberships"] == f"{ids['customer']}:COMPANY"

        # The client's own X-Auth-* headers are replaced by the check's, and the underscore spelling dropped.
        spoofing = await browser.get("/app/hello", headers=forged)
        assert spoofing.status_code == 200
        headers = upstream.seen[-1]["headers"]
        assert headers["x-auth-user-id"] == ids["user"]
        assert headers["x-auth-user-email"] == "ville@example.com"
        assert headers["x-auth-assurance"] == "PASSWORD"
        assert headers["x-auth-memberships"] == f"{ids['customer']}:COMPANY"
        assert "x_auth_user_email" not in headers

        # nginx's subrequest keeps the method: a POST is checked (and passed on) like a GET.
        posted = await browser.post("/app/form", content=b"a=1", headers={"Content-Type": "text/plain"})
        assert posted.status_code == 200, nginx.log()
        assert (upstream.seen[-1]["method"], upstream.seen[-1]["body"]) == ("POST", "a=1")

        # Two factors asked: a password session is refused, and the client's query string cannot loosen it.
        seen_before = len(upstream.seen)
        assert (await browser.get("/app/admin/")).status_code == 403
        assert (await browser.get("/app/admin/?assurance=PASSWORD")).status_code == 403
        assert len(upstream.seen) == seen_before

        # The internal check locations are not reachable from outside.
        assert (await browser.get("/_auth/check")).status_code == 404

    # The same session as a bearer token, from a client without the cookie.
    async with httpx.AsyncClient(base_url=nginx.url, timeout=30) as api:
        bearer = {"Authorization": f"Bearer {result['token']}"}
        assert (await api.get("/app/hello", headers=bearer)).status_code == 200
        assert upstream.seen[-1]["headers"]["x-auth-user-id"] == ids["user"]
        assert (await api.get("/app/admin/x", headers=bearer)).status_code == 403

        # Signed out: the token no longer passes.
        logout = await api.post("/graphql", json={"query": operation("Logout")}, headers=bearer)
        assert logout.status_code == 200, logout.text
        assert (await api.get("/app/hello", headers=bearer)).status_code == 401
