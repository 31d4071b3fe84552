"""Routes of the reference web client: its pages, their static assets and the operation documents.

The pages are plain files; everything dynamic happens in the browser against /graphql with the
session cookie. Each page gets a strict Content-Security-Policy of its own (scripts, styles and
fetches from this origin only, no inline code, no native form posts), sent beside the service-wide
`frame-ancestors 'none'` of `gql_server.headers`: a browser enforces both.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

WEB = Path(__file__).resolve().parent
PAGES = WEB / "pages"
STATIC = WEB / "static"
OPERATIONS = WEB / "operations"

# URL path -> page file. The customer's pages read the customer id from their own path.
PAGE_FILES = {
    "/login": "login.html",
    # R13/R16: choosing a new password leads on to what a login with it answers, so it is the login page.
    "/reset-password": "login.html",
    # R16: "forgot your password" asks for the link that /reset-password takes.
    "/forgot-password": "login.html",
    "/report": "report.html",
    # R13: the link mailed to a new address confirms the change.
    "/email-change": "email-change.html",
    "/invitation": "invitation.html",
    "/account": "account.html",
    "/customers/{customer_id}/settings": "settings.html",
    # R19: a customer's admins manage its members and read its audit log.
    "/customers/{customer_id}/members": "members.html",
    "/customers/{customer_id}/audit": "audit.html",
}

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        # data: for the TOTP QR code, which arrives as SVG text in the GraphQL answer.
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        # Forms are handled by the scripts; should a script fail to load, a native submit must not
        # put a password into a URL or send it anywhere.
        "form-action 'none'",
        # No DOM sink takes a string: the scripts build nodes and set textContent only.
        "require-trusted-types-for 'script'",
    )
)
# Revalidate (ETag, 304) on every load, so an upgraded server's pages and scripts are used at once.
REVALIDATE = "no-cache"


class RevalidatedStaticFiles(StaticFiles):
    """StaticFiles whose answers browsers revalidate before each use instead of guessing a lifetime."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        """The file, with `Cache-Control: no-cache`."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = REVALIDATE
        return response


def _page(file_name: str) -> Callable[[Request], Awaitable[Response]]:
    path = PAGES / file_name

    async def page(request: Request) -> Response:
        return FileResponse(
            path,
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": REVALIDATE},
        )

    return page


async def _home(request: Request) -> Response:
    # The account page sends visitors who are not signed in on to /login.
    return RedirectResponse("/account", status_code=303)


def web_routes() -> list[BaseRoute]:
    """The web client's routes, to mount beside /graphql."""
    pages: list[BaseRoute] = [Route(url, _page(name), methods=["GET"]) for url, name in PAGE_FILES.items()]
    return [
        Route("/", _home, methods=["GET"]),
        *pages,
        # Before /static, which would otherwise answer for these paths.
        Mount("/static/operations", app=RevalidatedStaticFiles(directory=OPERATIONS), name="operations"),
        Mount("/static", app=RevalidatedStaticFiles(directory=STATIC), name="static"),
    ]
