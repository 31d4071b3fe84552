"""create_app(settings) -> Starlette: the lifespan (Tortoise, plugins), /graphql, the guards of S21, and the
operator's endpoints /healthz and /readyz (docs/operations.md)."""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cached_property
from typing import cast

import orjson
from argon2 import PasswordHasher
from cross_web import HTTPException, StarletteRequestAdapter
from graphql import GraphQLSchema
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult
from tortoise.contrib.starlette import RegisterTortoise
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from gql_server import metrics, metrics_server, spans
from gql_server.api.context import Context
from gql_server.api.graphiql import GraphiQLPage, graphiql_routes, offline_page, page_response
from gql_server.api.schema import build_schema
from gql_server.body_limit import BodyLimitMiddleware
from gql_server.db import secure_sqlite_files, tortoise_config
from gql_server.forward_auth_route import METHODS as FORWARD_AUTH_METHODS
from gql_server.forward_auth_route import auth_check
from gql_server.headers import SecurityHeaders
from gql_server.health import Readiness, healthz, readyz
from gql_server.http_media import (
    ACCEPT_TOO_LONG,
    CONTENT_TYPES,
    GRAPHQL_RESPONSE,
    JSON,
    NOT_ACCEPTABLE,
    MediaType,
    accept_too_long,
    is_request_error,
    response_media_type,
)
from gql_server.models import HealthProbe
from gql_server.request_log import RequestLogMiddleware
from gql_server.services import Services, build_services
from gql_server.settings import Settings
from gql_server.shedding import ShedWhileHashing, busy_answers, is_json
from gql_server.web.routes import OPERATIONS, web_routes


class RequestAdapter(StarletteRequestAdapter):
    """Strawberry's view of a request, with the media type in lower case.

    Media types are case-insensitive (RFC 9110, 8.3.1): `Application/JSON; charset=UTF-8` passes the S21
    guard, and Strawberry, which compares them as written, must accept it too.
    """

    @property
    def content_type(self) -> str | None:
        """The Content-Type header with its media type (not its parameters) in lower case."""
        value = super().content_type
        if value is None:
            return None
        media_type, separator, parameters = value.partition(";")
        return media_type.strip().lower() + separator + parameters


log = logging.getLogger(__name__)


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI app with our typed context and POST-only JSON for everything but reads."""

    request_adapter_class = RequestAdapter

    def __init__(self, services: Services) -> None:
        settings = services.settings
        super().__init__(
            build_schema(
                introspection=settings.introspection_enabled,
                field_suggestions=not settings.production,
            ),
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            # Queries may come by GET (cacheable reads); Strawberry refuses mutations by GET.
            allow_queries_via_get=True,
            multipart_uploads_enabled=False,
        )
        self.services = services
        if self.graphql_ide:
            _ = self.graphql_ide_html  # made once, now: a page that cannot be made fails the start, not a request

    def decode_json(self, data: str | bytes) -> object:
        """JSON as sent, refused when it holds text that is not valid Unicode (a lone surrogate).

        JSON allows "\\ud800"; nothing downstream (hashing, argon2, the database) can encode it. It is
        bad input and gets a clear answer here, once, instead of failing deep inside a service.
        """
        try:
            # orjson accepts only valid UTF-8 without lone surrogates, nested at most 1024 deep: what it
            # accepts needs no further Unicode check. Anything else takes the slow path, which says why.
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            value = self._decode_json_strictly(data)
        if not isinstance(value, dict | list):
            # Strawberry expects an object (or a batch, which it refuses itself).
            raise HTTPException(400, "The request body must be a JSON object.")
        try:
            holds_nul = _holds_nul(value)
        except RecursionError:
            raise HTTPException(400, "The request body is nested too deeply.") from None
        if holds_nul:
            # PostgreSQL cannot store U+0000 in text, and no name, address, code or token holds one.
            raise HTTPException(400, "The request contains a NUL character (U+0000).")
        return value

    @cached_property
    def graphiql(self) -> GraphiQLPage:
        """Strawberry's GraphiQL page, without mirroring the editor into the address bar (it may hold a password),
        loading its scripts and styles from this origin (gql_server/api/graphiql.py)."""
        return offline_page(super().graphql_ide_html)

    @cached_property
    def graphql_ide_html(self) -> str:
        """The page as served (graphiql)."""
        return self.graphiql.html

    async def render_graphql_ide(self, request: Request) -> Response:
        """The page, with the Content-Security-Policy its assets allow."""
        return page_response(self.graphiql)

    def encode_json(self, data: object) -> bytes:
        """orjson: a few times faster than the standard library for every response."""
        return orjson.dumps(data)

    @staticmethod
    def _decode_json_strictly(data: str | bytes) -> object:
        """The standard library's reading, with the reason for refusing what orjson did not accept."""
        try:
            value = json.loads(data)
        except UnicodeDecodeError:
            raise HTTPException(400, "The request body is not UTF-8.") from None
        except RecursionError:
            raise HTTPException(400, "The request body is nested too deeply.") from None
        if not isinstance(value, dict | list):
            # Strawberry expects an object (or a batch, which it refuses itself).
            raise HTTPException(400, "The request body must be a JSON object.")
        try:
            text = json.dumps(value, ensure_ascii=False)
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise HTTPException(400, "The request contains text that is not valid Unicode.") from None
        except RecursionError:
            raise HTTPException(400, "The request body is nested too deeply.") from None
        return value

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        assert isinstance(request, Request) and isinstance(response, Response)
        return Context(request=request, response=response, services=self.services)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        """Strawberry's response for the resolvers' cookies, carrying the media type to answer in (Accept)."""
        sub_response = await super().get_sub_response(request)
        if isinstance(request, Request):
            sub_response.media_type = response_media_type(request)
        return sub_response

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        """The result as JSON; in application/graphql-response+json a request error has no `data` entry."""
        response = await super().process_result(request, result)
        if response_media_type(request) == GRAPHQL_RESPONSE and is_request_error(result.data, result.errors):
            del response["data"]
        return response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        """Strawberry's response, in the negotiated media type: 400 for a request error (no `data`) in
        application/graphql-response+json, 200 for everything executed (http_media.py)."""
        media_type = cast(MediaType | None, sub_response.media_type) or JSON
        status = 400 if isinstance(response_data, dict) and "data" not in response_data else 200
        response = Response(self.encode_json(response_data), status_code=status, media_type=CONTENT_TYPES[media_type])
        response.headers.raw.extend(sub_response.headers.raw)
        response.background = sub_response.background
        if sub_response.status_code:
            response.status_code = sub_response.status_code
        return response


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def _refusal(status: int, message: str, media_type: MediaType | None) -> Response:
    """A request refused before GraphQL ran: its reason as a GraphQL error, in the negotiated media type."""
    return JSONResponse(
        {"errors": [{"message": message}]}, status_code=status, media_type=CONTENT_TYPES[media_type or JSON]
    )


async def _open_database() -> None:
    """Open the database connection now rather than at the first query. Opened later, lazily, at a moment
    when the file is not where it should be (moved, being restored), SQLite would create an empty database
    in its place and keep writing there. A database that cannot be reached is not fatal: /readyz says so."""
    try:
        await HealthProbe.exists()
    except Exception:
        log.warning("the database cannot be reached at start-up; /readyz answers 503 until it can", exc_info=True)


def create_app(settings: Settings | None = None, *, password_hasher: PasswordHasher | None = None) -> Starlette:
    """The ASGI application for these settings (read from the environment when not given).

    `password_hasher` replaces S1's argon2id parameters (build_services); only the tests pass one.
    """
    settings = settings or Settings()
    settings.check()
    secure_sqlite_files(settings.database_url)
    services = build_services(settings, password_hasher=password_hasher)
    metrics.register_observer(services.plugins)
    graphql = GraphQLApp(services)

    async def graphql_endpoint(request: Request) -> Response:
        if accept_too_long(request):
            return _refusal(431, ACCEPT_TOO_LONG, None)
        media_type = response_media_type(request)
        # S21: POST bodies must be JSON. A form post is what a cross-site page can send without
        # a CORS preflight, so refusing it also closes that CSRF door for cookie sessions.
        if request.method == "POST":
            if not is_json(request.headers.get("content-type", "")):
                return _refusal(415, "POST requests must be application/json.", media_type)
        if media_type is None and not graphql.should_render_graphql_ide(RequestAdapter(request)):
            return _refusal(406, NOT_ACCEPTABLE, None)
        try:
            return await graphql.run(request)
        except HTTPException as exc:
            return _refusal(exc.status_code, exc.reason, media_type)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            await _open_database()
            await services.passwords.warm_up()
            # What start-up made (modules, schema, plugins) lives as long as the app: out of the collector's
            # sight while serving, a full collection no longer walks it (68-93 ms pauses -> 0 for those).
            gc.freeze()
            try:
                # Mail written to the outbox and not delivered yet goes out from here (S36).
                async with services.outbox.running():
                    yield
            finally:
                await services.close()
                metrics_server.worker_stopped()
                # An app started again in the same process (the tests) must not pin the last one's objects.
                gc.unfreeze()

    # Outermost: the request id and the access line cover everything below, and the security headers go on
    # every response it sees, the router's 404/405 and the 415 above included (one pure-ASGI layer for the
    # three, P2). Then S27's body limit, above everything that reads a body.
    middleware = [
        Middleware(RequestLogMiddleware, headers=SecurityHeaders()),
        # TRACING_ENABLED (off by default): each request's span, inside the request log, which writes its trace id.
        *([spans.tracing_middleware(settings)] if settings.tracing else []),
        Middleware(BodyLimitMiddleware, max_bytes=settings.max_request_body_bytes),
    ]
    if settings.trusted_proxy_list:
        # Only these peers may say who the client is (X-Forwarded-For); everyone else is who they are.
        middleware.append(Middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list))
    # Innermost, below the body limit: while password hashing is saturated, logins are refused before GraphQL
    # costs the event loop anything (P4); otherwise one comparison.
    # graphql-core's schema under Strawberry's (Schema._schema: what it executes against).
    core_schema = cast(GraphQLSchema, getattr(graphql.schema, "_schema"))  # noqa: B009 - a private attribute
    answers = busy_answers(sorted(OPERATIONS.glob("*.graphql")), core_schema)
    middleware.append(Middleware(ShedWhileHashing, queue=services.passwords.queue, answers=answers))
    app = Starlette(
        routes=[
            Route("/graphql", graphql_endpoint, methods=["GET", "POST"]),
            # /metrics is not here: it is served on METRICS_PORT only (metrics_server.py).
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            # Forward auth for the reverse proxy in front of other services (forward_auth_route.py).
            Route("/auth/check", auth_check, methods=FORWARD_AUTH_METHODS),
            # GraphiQL's scripts and styles (development), before the web client's /static.
            *(graphiql_routes(graphql.graphiql) if graphql.graphql_ide else []),
            # The reference web client (issue 7), at the same origin so that its session cookie works.
            *web_routes(),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.readiness = Readiness(settings.database_url, services.rate_limiter)
    return app
