"""The baseline of P2 and P3: a bare Strawberry `{ __typename }` app on the service's own stack.

Same Strawberry, Starlette and uvicorn, the same uvicorn options as `gql-server serve`
(gql_server.serving), the same logging set-up, and the same parser and validation caches: what is
left between it and the service is the service's own work (sessions, database, resolvers, guards).
"""

from __future__ import annotations

import argparse
import logging
from functools import partial

import strawberry
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

from gql_server.serving import UVICORN_OPTIONS


@strawberry.type
class Query:
    """Nothing but the type name."""

    @strawberry.field
    def ok(self) -> bool:
        """A schema needs one field; the benchmark asks only for __typename."""
        return True


def create_app() -> Starlette:
    """Starlette with one /graphql route, as the service has."""
    schema = strawberry.Schema(
        query=Query,
        extensions=[partial(ParserCache, maxsize=256), partial(ValidationCache, maxsize=256)],
    )
    graphql = GraphQL[None, None](schema, graphql_ide=None, multipart_uploads_enabled=False)
    return Starlette(routes=[Route("/graphql", graphql.run, methods=["GET", "POST"])])


def main() -> None:
    """`python -m bench.baseline_app --port N`, run the way `gql-server serve` runs uvicorn."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    uvicorn.run("bench.baseline_app:create_app", factory=True, host="127.0.0.1", port=args.port, **UVICORN_OPTIONS)


if __name__ == "__main__":
    main()
