"""GraphiQL (development only): Strawberry's own page, served from this package, never putting the editor in the URL.

Strawberry's page copies the query and the variables into the address bar as they are typed
(`?q=…&variables=…`, by `history.replaceState`), and reads them back from it on load. The README's first
step is a login mutation, so the admin's password would land in the address bar, the browser history and
anything that syncs or logs URLs. The page here is Strawberry's with both directions taken out.

For the same reason the editor is kept in the tab's sessionStorage instead of GraphiQL's default
localStorage, which outlives the browser (a shared computer keeps the login mutation and its password),
and the headers editor (where a bearer session token goes) is not kept at all.

Strawberry's page loads React, GraphiQL and its explorer plugin from a public CDN: behind a firewall or
offline it would stay at "Loading…". The same files, at the versions and SRI hashes the page pins, are kept
in `graphiql_assets/` (copied from the npm registry by scripts/vendor_graphiql.py, `make vendor-graphiql`)
and served from this origin, the `integrity` attributes kept. The page's inline script and style move into
files of their own, so that the page runs under a strict Content-Security-Policy (`GRAPHIQL_CSP`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from gql_server.web.routes import REVALIDATE, RevalidatedStaticFiles

# (text of Strawberry's page, what replaces it): each must occur exactly once, or the page changed under us.
URL_SYNC_EDITS: tuple[tuple[str, str], ...] = (
    # Never write the editor into the address bar or the history ...
    ("history.replaceState(null, null, newSearch);", ""),
    # ... nor fill it from a link.
    ('window.location.search.slice(1).split("&")', "[]"),
    # Queries and variables last as long as the tab, not in localStorage for good; headers not at all.
    ("shouldPersistHeaders: true,", "shouldPersistHeaders: false,\n          storage: window.sessionStorage,"),
)

# Where Strawberry's page takes its scripts and styles from; the same paths are kept under ASSETS.
CDN = "https://unpkg.com/"
ASSETS = Path(__file__).resolve().with_name("graphiql_assets")
# Same origin as /graphql, so that the page works wherever the API does (and its cookie session with it).
ASSETS_URL = "/static/graphiql/"
SCRIPT_URL = ASSETS_URL + "start.js"
STYLE_URL = ASSETS_URL + "page.css"

# sha256 of the scroll lock style of GraphiQL 3.8.3's dialogs (below). tests/web/test_graphiql.py opens them: after
# `make vendor-graphiql` brings another version, it fails if the style changed, and chromium's message names the
# new hash.
SCROLL_LOCK_STYLE = "sha256-Y/huXlwoYkVyQlxwSVcCi1RCDGDCSVBzDt0hYP9qlTc="
# The web pages' policy (gql_server/web/routes.py) with what GraphiQL needs besides, and nothing more:
GRAPHIQL_CSP = "; ".join(
    (
        "default-src 'none'",
        # No inline script and no eval: the page's own script is start.js.
        "script-src 'self'",
        # No inline style either: the page's own style is page.css. React, CodeMirror and Radix set styles
        # through the CSSOM (element.style), which a policy does not govern. One exception, by its hash: the
        # <style> that GraphiQL's dialogs (settings, shortcuts) add to lock the page's scrolling
        # (react-remove-scroll-bar in graphiql.min.js). Its text is fixed on this page, whose body neither
        # scrolls nor has margins (0px everywhere); refused, it changes nothing but shows a console error.
        f"style-src 'self' '{SCROLL_LOCK_STYLE}'",
        # GraphiQL's stylesheet embeds its fonts (Roboto, Fira Code) and a few images as data: URLs, and the
        # page's icon is a data: SVG.
        "font-src data:",
        "img-src 'self' data:",
        # /graphql (introspection, the operations); 'self' also covers ws:// to the same host for subscriptions.
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        # Not `require-trusted-types-for 'script'` as the web pages have: GraphiQL's documentation explorer
        # renders the schema's descriptions (markdown) as HTML strings (innerHTML), which that refuses (it stays
        # empty), and so do CodeMirror's search dialog, lint tooltips and completion hints. What they write
        # comes from GraphiQL itself and from this service's own schema, never from a URL (the URL sync is gone).
        # Nothing needs 'unsafe-eval' or 'unsafe-inline': tests/web/test_graphiql.py signs in, runs queries, opens
        # the documentation, the explorer plugin, the dialogs and the completion under this policy, offline, and
        # fails on any violation.
    )
)


class GraphiQLPageChanged(Exception):
    """Strawberry's GraphiQL page no longer has what this module edits or serves (after an upgrade)."""


@dataclass(frozen=True)
class CdnAsset:
    """A script or stylesheet that Strawberry's page loads from the CDN, with the SRI hash it pins."""

    url: str
    integrity: str

    @property
    def path(self) -> str:
        """Its path on the CDN, e.g. `react@18.2.0/umd/react.production.min.js`: the same under ASSETS."""
        return self.url.removeprefix(CDN)


@dataclass(frozen=True)
class GraphiQLPage:
    """The page as served, and its script and style, which it loads from SCRIPT_URL and STYLE_URL."""

    html: str
    script: str
    style: str


_ASSET = re.compile(r'(?:src|href)="(https?://[^"]+)"\s+integrity="(sha384-[A-Za-z0-9+/=]+)"')
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
_INLINE_STYLE = re.compile(r"<style>(.*?)</style>", re.S)
# What would load from elsewhere, or run or style the page inline, once the page is made.
_EXTERNAL = re.compile(r'(?:src|href)="(?:https?:)?//')
_INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=")


def without_url_sync(page: str) -> str:
    """Strawberry's GraphiQL page with the URL sync taken out; raises GraphiQLPageChanged when it cannot be."""
    for old, new in URL_SYNC_EDITS:
        if page.count(old) != 1:
            # Serving the page unchanged would quietly put passwords in URLs again.
            raise GraphiQLPageChanged(f"Strawberry's GraphiQL page changed: {old!r} not found once")
        page = page.replace(old, new)
    return page


def cdn_assets(page: str) -> list[CdnAsset]:
    """The CDN scripts and stylesheets of Strawberry's page, in the page's order."""
    assets = [CdnAsset(url, integrity) for url, integrity in _ASSET.findall(page)]
    for asset in assets:
        if not asset.url.startswith(CDN):
            raise GraphiQLPageChanged(f"Strawberry's GraphiQL page loads {asset.url}, not from {CDN}")
    return assets


def sri(content: bytes) -> str:
    """The Subresource Integrity value (sha384) of `content`, as in an `integrity` attribute."""
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode("ascii")


def vendored(asset: CdnAsset, assets: Path = ASSETS) -> Path:
    """The kept copy of `asset`; raises GraphiQLPageChanged when it is missing or is not what the page pins."""
    path = assets / asset.path
    if not path.is_file() or sri(path.read_bytes()) != asset.integrity:
        # A newer Strawberry pinning other versions, or a damaged copy: the browser would refuse the file.
        raise GraphiQLPageChanged(
            f"GraphiQL's {asset.path} is not in {assets} with the hash Strawberry's page pins: run "
            "`make vendor-graphiql` (scripts/vendor_graphiql.py), or switch GraphiQL off (GRAPHIQL=false)"
        )
    return path


@cache
def offline_page(page: str) -> GraphiQLPage:
    """Strawberry's GraphiQL page without the URL sync, loading everything from this origin with integrity
    kept; raises GraphiQLPageChanged when a part of it cannot be made so."""
    page = without_url_sync(page)
    for asset in cdn_assets(page):
        vendored(asset)
        page = page.replace(f'"{asset.url}"', f'"{ASSETS_URL}{asset.path}"')
    script, style = _INLINE_SCRIPT.findall(page), _INLINE_STYLE.findall(page)
    if len(script) != 1 or len(style) != 1:
        raise GraphiQLPageChanged("Strawberry's GraphiQL page no longer has one inline script and one inline style")
    # The page's own script and style, from files, so that the policy needs no 'unsafe-inline'; hashed like the
    # others. The script stays where it was: after the scripts that define GraphiQL and the element it renders in.
    page = _INLINE_SCRIPT.sub(
        lambda _: f'<script src="{SCRIPT_URL}" integrity="{sri(script[0].encode())}"></script>', page
    )
    page = _INLINE_STYLE.sub(
        lambda _: f'<link rel="stylesheet" href="{STYLE_URL}" integrity="{sri(style[0].encode())}" />', page
    )
    if _EXTERNAL.search(page) or _INLINE.search(page):
        raise GraphiQLPageChanged("Strawberry's GraphiQL page loads from elsewhere or runs inline code left here")
    return GraphiQLPage(html=page, script=script[0], style=style[0])


def page_response(page: GraphiQLPage) -> Response:
    """The GraphiQL page with its Content-Security-Policy."""
    return HTMLResponse(page.html, headers={"Content-Security-Policy": GRAPHIQL_CSP})


def graphiql_routes(page: GraphiQLPage) -> list[BaseRoute]:
    """The page's script, style and vendored assets under ASSETS_URL; before the web client's /static mount."""

    async def script(request: Request) -> Response:
        return Response(page.script, media_type="text/javascript", headers={"Cache-Control": REVALIDATE})

    async def style(request: Request) -> Response:
        return Response(page.style, media_type="text/css", headers={"Cache-Control": REVALIDATE})

    return [
        Route(SCRIPT_URL, script, methods=["GET"]),
        Route(STYLE_URL, style, methods=["GET"]),
        Mount(ASSETS_URL.rstrip("/"), app=RevalidatedStaticFiles(directory=ASSETS), name="graphiql"),
    ]
