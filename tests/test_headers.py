"""Security headers (issue 5, item 8): no-referrer, nosniff, frame-deny, and no-store for /graphql."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from gql_server.api.graphiql import GRAPHIQL_CSP
from gql_server.headers import SecurityHeadersMiddleware

from .graphql import GraphQLClient

EVERY_RESPONSE = {
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
}


async def graphql(_request: Request) -> Response:
    # An endpoint that tries to allow caching: tokens must not be cached whatever it says.
    return JSONResponse({"data": {"token": "t"}}, headers={"Cache-Control": "public, max-age=60"})


async def page(_request: Request) -> Response:
    return PlainTextResponse("hello", headers={"X-Frame-Options": "SAMEORIGIN"})


async def own_policy(_request: Request) -> Response:
    return PlainTextResponse("<html>", headers={"Content-Security-Policy": "script-src 'self'"})


async def streamed(_request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"

    return StreamingResponse(chunks())


def tiny_app(**options: tuple[str, ...]) -> SecurityHeadersMiddleware:
    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/page", page),
            Route("/own-policy", own_policy),
            Route("/streamed", streamed),
        ]
    )
    return SecurityHeadersMiddleware(app, **options)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=tiny_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def security_headers(response: httpx.Response) -> dict[str, str]:
    return {name: response.headers.get(name) for name in EVERY_RESPONSE}


@pytest.mark.parametrize(
    ("method", "path", "status", "cache_control"),
    [
        ("GET", "/page", 200, None),
        ("GET", "/streamed", 200, None),
        ("GET", "/nowhere", 404, None),
        # The router's own answers on /graphql are no-store too: the path decides, not the endpoint.
        ("PUT", "/graphql", 405, "no-store"),
    ],
)
async def test_every_http_response_gets_the_security_headers(http, method, path, status, cache_control):
    response = await http.request(method, path)

    assert response.status_code == status
    assert security_headers(response) == EVERY_RESPONSE
    # Only /graphql carries tokens; other responses keep their own caching.
    assert response.headers.get("cache-control") == cache_control


async def test_the_service_policy_replaces_an_endpoints_weaker_header(http):
    response = await http.get("/page")

    assert response.headers.get_list("x-frame-options") == ["DENY"]
    assert response.text == "hello"


async def test_an_endpoints_own_csp_is_kept_and_framing_is_still_forbidden(http):
    response = await http.get("/own-policy")

    # Browsers enforce every CSP header, so both apply: the endpoint's scripts, and no framing.
    assert response.headers.get_list("content-security-policy") == ["script-src 'self'", "frame-ancestors 'none'"]


@pytest.mark.parametrize("path", ["/graphql", "/graphql/"])
async def test_graphql_responses_are_never_stored(http, path):
    response = await http.post(path, json={"query": "{ __typename }"}, follow_redirects=True)

    assert response.status_code == 200
    assert response.headers.get_list("cache-control") == ["no-store"]
    assert security_headers(response) == EVERY_RESPONSE


async def test_no_store_paths_are_found_behind_a_path_prefix():
    transport = httpx.ASGITransport(app=tiny_app(), root_path="/auth")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/auth/graphql")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"


async def test_no_store_paths_can_be_chosen():
    transport = httpx.ASGITransport(app=tiny_app(no_store_paths=("/page",)))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page_response = await client.get("/page")
        graphql_response = await client.get("/graphql")

    assert page_response.headers["cache-control"] == "no-store"
    assert graphql_response.headers["cache-control"] == "public, max-age=60"


@pytest.mark.parametrize("kind", ["websocket", "lifespan"])
async def test_websockets_and_lifespan_pass_through_untouched(kind):
    seen: list[tuple[Scope, Receive, Send]] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, receive, send))

    async def receive() -> Message:
        return {"type": f"{kind}.connect"}

    async def send(message: Message) -> None:
        raise AssertionError("not called")

    scope: Scope = {"type": kind, "path": "/graphql"}
    await SecurityHeadersMiddleware(inner)(scope, receive, send)

    # The very same callables: nothing is wrapped, so nothing can be altered.
    assert seen == [(scope, receive, send)]


async def test_the_service_sends_the_security_headers(client: GraphQLClient):
    answer = await client.post("{ __typename }")
    explorer = await client.http.get("/graphql", headers={"Accept": "text/html"})
    refused = await client.http.post("/graphql", data={"query": "{ __typename }"})

    assert answer.status_code == 200 and answer.json() == {"data": {"__typename": "Query"}}
    assert (explorer.status_code, refused.status_code) == (200, 415)
    for response in (answer, refused):
        assert security_headers(response) == EVERY_RESPONSE, response.request.url
        assert response.headers["cache-control"] == "no-store"
    # GraphiQL's page has a policy of its own besides (test_graphiql.py); a browser enforces both.
    assert explorer.headers.get_list("content-security-policy") == [GRAPHIQL_CSP, "frame-ancestors 'none'"]
    assert {**security_headers(explorer), "content-security-policy": "frame-ancestors 'none'"} == EVERY_RESPONSE
    assert explorer.headers["cache-control"] == "no-store"
