"""Security headers on every HTTP response (issue 5, item 8): no referrer, no sniffing, no framing.

A pure ASGI middleware: it only edits the `http.response.start` message, so it works the same for
streamed bodies, for the router's own 404/405 answers and for GraphiQL's page, and costs nothing per
body chunk.

The CSP sent here only forbids framing (`frame-ancestors 'none'`, the modern twin of X-Frame-Options), on
every response. The HTML pages add a strict policy of their own beside it (a browser enforces both): the web
client's in gql_server/web/routes.py, GraphiQL's (development) in gql_server/api/graphiql.py.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Set on every HTTP response, replacing whatever an endpoint set: these are the service's policy.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    # Links in emails carry tokens in the fragment; no page of ours should leak its URL onward either.
    ("Referrer-Policy", "no-referrer"),
    # JSON must never be sniffed into HTML or script by an old browser.
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
)
FRAME_ANCESTORS = "frame-ancestors 'none'"
# Responses of /graphql carry session tokens, tickets and recovery codes: no cache may keep them.
NO_STORE_PATHS = ("/graphql",)


class SecurityHeaders:
    """The service's headers for an HTTP response start message: the security headers, and
    `Cache-Control: no-store` under `no_store_paths`. Applied by the request log's middleware, which already
    sees every response start (one middleware layer less per request, performance.md P2), or on its own by
    `SecurityHeadersMiddleware`."""

    def __init__(self, no_store_paths: Iterable[str] = NO_STORE_PATHS) -> None:
        self._no_store = frozenset(_normalize(path) for path in no_store_paths)

    def apply(self, scope: Scope, message: Message) -> None:
        """Set the headers on `message`, an `http.response.start` of the request `scope`."""
        headers = MutableHeaders(scope=message)
        for name, value in SECURITY_HEADERS:
            headers[name] = value
        # Added beside any policy an endpoint set, not in its place: browsers enforce every CSP header they
        # get, so this can only tighten an endpoint's own policy, never loosen it.
        if FRAME_ANCESTORS not in headers.getlist("content-security-policy"):
            headers.append("Content-Security-Policy", FRAME_ANCESTORS)
        if _normalize(_route_path(scope)) in self._no_store:
            headers["Cache-Control"] = "no-store"


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response, and `Cache-Control: no-store` under `no_store_paths`."""

    def __init__(self, app: ASGIApp, no_store_paths: Iterable[str] = NO_STORE_PATHS) -> None:
        self.app = app
        self._headers = SecurityHeaders(no_store_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass WebSocket and lifespan traffic through untouched; decorate HTTP responses."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._headers.apply(scope, message)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _route_path(scope: Scope) -> str:
    """The path within this application: behind a proxy prefix (`root_path`) the ASGI path includes it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def _normalize(path: str) -> str:
    # "/graphql/" is the same resource to a cache as "/graphql".
    return path.rstrip("/") or "/"
