"""The web client as files and HTTP answers: pages, assets, strings and operation documents (issue 7).

The flows themselves are tested in a real browser (test_conversion.py, test_settings.py and
test_failures.py); these checks are fast, and catch what a browser test would only show as a blank
screen.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from gql_server.limits import REMEMBER_DEVICE_MAX_DAYS
from gql_server.web.routes import CONTENT_SECURITY_POLICY, OPERATIONS, PAGE_FILES, PAGES, STATIC

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((STATIC / "js").glob("*.js"))
STRINGS = {language: json.loads((STATIC / "i18n" / f"{language}.json").read_text("utf-8")) for language in ("en", "fi")}
PAGE_URLS = [url.replace("{customer_id}", "42") for url in PAGE_FILES]


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only: nothing here touches the database beyond the app's start."""
    path = tmp_path / "web.sqlite3"
    path.write_bytes(sqlite_template.read_bytes())
    return f"sqlite://{path}"


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to the app, as a browser's first request is."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


@pytest.mark.parametrize("url", PAGE_URLS)
async def test_each_page_is_html_with_a_strict_content_security_policy(http, url):
    response = await http.get(url)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policies = response.headers.get_list("content-security-policy")
    # The page's own policy and the service-wide frame-ancestors one: a browser enforces both.
    assert CONTENT_SECURITY_POLICY in policies
    assert "frame-ancestors 'none'" in policies
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "form-action 'none'" in CONTENT_SECURITY_POLICY
    assert response.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("url", PAGE_URLS)
async def test_no_header_keeps_the_pages_from_running_passkey_ceremonies(http, url):
    # navigator.credentials.create()/get() in the page itself: a Permissions-Policy naming
    # publickey-credentials-create/-get could forbid them (the CSP has no directive for WebAuthn).
    response = await http.get(url)

    assert "publickey-credentials" not in ",".join(response.headers.get_list("permissions-policy"))


@pytest.mark.parametrize("page", sorted(PAGES.glob("*.html")), ids=lambda p: p.stem)
def test_pages_hold_no_inline_script_or_style(page):
    html = page.read_text("utf-8")

    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    assert re.findall(r"\sstyle=", html) == []
    assert re.findall(r"\son[a-z]+=", html) == []


async def test_the_home_page_leads_to_the_account_page(http):
    response = await http.get("/")

    assert response.status_code == 303
    assert response.headers["location"] == "/account"


async def test_scripts_styles_strings_and_operation_documents_are_served(http):
    for path in ("/static/js/api.js", "/static/app.css", "/static/i18n/fi.json", "/static/operations/Login.graphql"):
        response = await http.get(path)
        assert response.status_code == 200, path
        # Revalidated on every use, so an upgraded server's client is used at once.
        assert response.headers["cache-control"] == "no-cache", path
    assert (await http.get("/static/js/api.js")).headers["content-type"].startswith("text/javascript")
    assert (await http.get("/static/operations/Nope.graphql")).status_code == 404


def test_schema_operations_is_the_packaged_directory():
    # One copy of each document: the tests, the README and the client all read the package's files.
    assert (ROOT / "schema" / "operations").resolve() == OPERATIONS


def test_every_operation_the_client_runs_is_a_document():
    used = {name for script in SCRIPTS for name in re.findall(r'\brun(?:Stepped)?\("(\w+)"', script.read_text("utf-8"))}
    documents = {path.stem for path in OPERATIONS.glob("*.graphql")}

    assert used, "no run(...) calls found"
    assert used <= documents, used - documents


def test_english_and_finnish_have_the_same_strings():
    english, finnish = STRINGS["en"], STRINGS["fi"]

    assert set(english) - set(finnish) == set(), "missing in fi.json"
    assert set(finnish) - set(english) == set(), "missing in en.json"
    for key, text in english.items():
        placeholders = set(re.findall(r"\{(\w+)\}", text))
        assert placeholders == set(re.findall(r"\{(\w+)\}", finnish[key])), key


def test_every_string_key_in_the_pages_and_scripts_exists():
    namespaces = {key.split(".")[0] for key in STRINGS["en"]}
    html_keys = {
        key
        for page in PAGES.glob("*.html")
        for key in re.findall(r'data-i18n(?:-alt)?="([^"]+)"', page.read_text("utf-8"))
    }
    # Quoted literals shaped like a key in one of the strings' namespaces ("error.network", ...).
    script_keys = {
        key
        for script in SCRIPTS
        for key in re.findall(r'"([a-z]\w*(?:\.[\w]+)+)"', script.read_text("utf-8"))
        if key.split(".")[0] in namespaces
    }

    assert html_keys, "no data-i18n keys found"
    assert (html_keys | script_keys) - set(STRINGS["en"]) == set()


def test_every_failure_member_of_the_schema_has_words():
    schema = (ROOT / "schema" / "schema.graphql").read_text("utf-8")
    failures = set(re.findall(r"^type (\w+) implements Error", schema, flags=re.M))

    assert failures, "no Error types found"
    assert {f"error.{name}" for name in failures} - set(STRINGS["en"]) == set()


@pytest.mark.parametrize("page", sorted(PAGES.glob("*.html")), ids=lambda p: p.stem)
def test_every_field_has_a_label_and_code_fields_offer_one_time_codes(page):
    html = page.read_text("utf-8")
    labelled = set(re.findall(r'<label for="([^"]+)"', html))
    for tag in re.findall(r"<input\b[^>]*>", html):
        if re.search(r"\b(hidden|readonly)\b", tag) and 'type="checkbox"' not in tag:
            continue  # the password manager's username hint, never shown
        field = re.search(r'\bid="([^"]+)"', tag)
        assert field and field.group(1) in labelled, tag
        if 'id="code"' in tag:
            assert 'autocomplete="one-time-code"' in tag, tag


def test_r18_the_settings_page_and_its_words_know_the_remember_limit():
    # The days field's bounds and the words around it follow REMEMBER_DEVICE_MAX_DAYS (gql_server/limits.py).
    html = (PAGES / "settings.html").read_text("utf-8")
    field = re.search(r'<input id="remember-days"[^>]*>', html)

    assert field is not None
    assert 'type="number"' in field.group(0) and 'min="0"' in field.group(0)
    assert f'max="{REMEMBER_DEVICE_MAX_DAYS}"' in field.group(0)
    for strings in STRINGS.values():
        for key in ("settings.remember.hint", "error.InvalidInput.rememberDeviceDays"):
            assert str(REMEMBER_DEVICE_MAX_DAYS) in strings[key], key
        # "N days" and its singular, the way the i18n helper picks `.one` when the count is 1.
        assert "{count}" in strings["second.remember"] and "1" in strings["second.remember.one"]
