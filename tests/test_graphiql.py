"""GraphiQL served from the package (issue 18): Strawberry's scripts and styles, at the versions and hashes its
page pins, from this origin under a strict Content-Security-Policy; in the installed package too.

The browser half (a page that can reach nothing but the service) is tests/web/test_graphiql.py; the URL sync
that stays removed is tested in test_transport.py.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from strawberry.http.ides import get_graphql_ide_html

from gql_server.api.graphiql import (
    ASSETS_URL,
    GRAPHIQL_CSP,
    SCRIPT_URL,
    STYLE_URL,
    GraphiQLPageChanged,
    cdn_assets,
    offline_page,
)

ROOT = Path(__file__).resolve().parents[1]
STRAWBERRYS = get_graphql_ide_html("graphiql")
# Every src or href of a page, with the integrity it pins if any.
LOADS = re.compile(r'(?:src|href)="([^"]+)"(?:\s+integrity="([^"]+)")?')


def sha384(content: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only: nothing here touches the database beyond the app's start."""
    path = tmp_path / "graphiql.sqlite3"
    path.write_bytes(sqlite_template.read_bytes())
    return f"sqlite://{path}"


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to the app, as a browser's requests are."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


async def test_everything_the_page_loads_comes_from_here_and_matches_its_pinned_hash(http):
    page = await http.get("/graphql", headers={"accept": "text/html"})
    loads = LOADS.findall(page.text)

    # Nothing from another origin: the icon is a data: URL, the rest is under /static/graphiql/.
    assert [url for url, _ in loads if not url.startswith(("data:", ASSETS_URL))] == []
    served = [(url, integrity) for url, integrity in loads if url.startswith(ASSETS_URL)]
    # Strawberry's files at its versions and hashes, and its inline script and style as files; each pinned.
    assert {integrity for _, integrity in served} >= {asset.integrity for asset in cdn_assets(STRAWBERRYS)}
    assert {url for url, _ in served} >= {SCRIPT_URL, STYLE_URL}
    for url, integrity in served:
        response = await http.get(url)
        assert response.status_code == 200, url
        assert sha384(response.content) == integrity, url
        assert response.headers["content-type"].split(";")[0] in ("text/javascript", "text/css"), url


async def test_the_page_runs_under_a_strict_policy_without_inline_code(http):
    response = await http.get("/graphql", headers={"accept": "text/html"})
    policies = response.headers.get_list("content-security-policy")

    assert GRAPHIQL_CSP in policies and "frame-ancestors 'none'" in policies
    directives = dict(d.split(" ", 1) for d in GRAPHIQL_CSP.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["form-action"] == "'none'"
    # The one style allowed besides the files is GraphiQL's scroll lock, by its hash (tests/web/test_graphiql.py).
    assert re.fullmatch(r"'self' 'sha256-[A-Za-z0-9+/]{43}='", directives["style-src"])
    assert "unsafe-" not in GRAPHIQL_CSP
    page = response.text
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    assert "<style" not in page
    assert re.findall(r"\s(?:style|on[a-z]+)=", page) == []


def test_the_assets_resolve_through_importlib_resources():
    # As the installed package finds them (test_the_built_wheel_carries_the_assets builds one).
    assets = importlib.resources.files("gql_server.api").joinpath("graphiql_assets")

    for asset in cdn_assets(STRAWBERRYS):
        assert sha384(assets.joinpath(*asset.path.split("/")).read_bytes()) == asset.integrity, asset.path


@pytest.mark.slow
def test_the_built_wheel_carries_the_assets(tmp_path: Path):
    """The package as pip builds it (as the Dockerfile does) holds every asset, found by importlib.resources."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path), str(ROOT)],
        env={**os.environ, "PIP_CONSTRAINT": str(ROOT / "requirements.lock")},
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("gql_server-*.whl")
    # Imported from the wheel itself (zipimport), ahead of the editable install.
    probe = f"""
import importlib.resources, json, sys
sys.path.insert(0, {str(wheel)!r})
import gql_server.api
assert gql_server.api.__file__.startswith({str(wheel)!r}), gql_server.api.__file__
assets = importlib.resources.files("gql_server.api").joinpath("graphiql_assets")
print(json.dumps({{path: assets.joinpath(*path.split("/")).read_bytes().hex() for path in sys.stdin.read().split()}}))
"""
    paths = [asset.path for asset in cdn_assets(STRAWBERRYS)]
    run = subprocess.run([sys.executable, "-c", probe], input="\n".join(paths), capture_output=True, text=True)

    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    for asset in cdn_assets(STRAWBERRYS):
        assert sha384(bytes.fromhex(found[asset.path])) == asset.integrity, asset.path
    with zipfile.ZipFile(wheel) as archive:
        assert "gql_server/api/graphiql_assets/README.md" in archive.namelist()


def test_a_page_pinning_files_that_are_not_kept_here_is_refused():
    # A newer Strawberry pinning another GraphiQL: the start fails and says what to run, rather than serving a
    # page that stays at "Loading…".
    newer = STRAWBERRYS.replace("graphiql@3.8.3/graphiql.min.js", "graphiql@9.9.9/graphiql.min.js")
    tampered = STRAWBERRYS.replace("sha384-HbRVEFG0", "sha384-XbRVEFG0")

    for page in (newer, tampered):
        with pytest.raises(GraphiQLPageChanged, match="make vendor-graphiql"):
            offline_page(page)


def test_a_page_loading_from_elsewhere_is_refused():
    unpinned = STRAWBERRYS.replace("</head>", '<script src="https://cdn.example/x.js"></script></head>')
    other_cdn = STRAWBERRYS.replace("https://unpkg.com/react@", "https://cdn.example/react@")

    for page in (unpinned, other_cdn):
        with pytest.raises(GraphiQLPageChanged):
            offline_page(page)


class TestProduction:
    @pytest.fixture
    def settings_overrides(self):
        return {"gql_server_env": "production"}

    async def test_the_assets_are_not_served_without_graphiql(self, http):
        for url in (SCRIPT_URL, STYLE_URL, ASSETS_URL + cdn_assets(STRAWBERRYS)[0].path):
            assert (await http.get(url)).status_code == 404, url
