"""A frontend's view of the service for tests: the shipped operation documents, posted as JSON over HTTP."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

# The documents the web client sends (also reachable as schema/operations in a checkout).
from gql_server.web.routes import OPERATIONS

if TYPE_CHECKING:
    import httpx


@cache
def operation(name: str) -> str:
    """The text of the shipped operation document NAME.graphql (e.g. "Login", "VerifySecondFactor")."""
    return (OPERATIONS / f"{name}.graphql").read_text(encoding="utf-8")


class GraphQLClient:
    """Posts GraphQL as JSON, the way a frontend does; keeps the browser's cookies."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, *, bearer: str | None = None
    ) -> httpx.Response:
        """The raw HTTP response; `bearer` sends a session token in the Authorization header."""
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None, *, bearer: str | None = None
    ) -> dict[str, Any]:
        """`data` of a successful response; fails the test on HTTP or GraphQL errors."""
        response = await self.post(query, variables, bearer=bearer)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def run(self, name: str, *, bearer: str | None = None, **variables: Any) -> dict[str, Any]:
        """Run a shipped operation by name with keyword variables: `await client.run("Login", email=..., ...)`."""
        return await self.execute(operation(name), variables, bearer=bearer)

    async def login(self, email: str, password: str) -> dict[str, Any]:
        """The `login` result object."""
        result: dict[str, Any] = (await self.run("Login", email=email, password=password))["login"]
        return result

    async def login_token(self, email: str, password: str) -> str:
        """Log in and return the session token (the test fails unless it is LoginSuccess)."""
        result = await self.login(email, password)
        assert result["__typename"] == "LoginSuccess", result
        token: str = result["token"]
        return token

    def forget_cookies(self) -> None:
        """Act as a client without the browser's cookie jar."""
        self.http.cookies.clear()
