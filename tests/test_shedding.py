"""P4: while password hashing is saturated, the shipped hashing operations are answered before GraphQL, with
exactly the typed answer GraphQL gives (TooManyAttempts), and nothing else changes (gql_server/shedding.py)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
from graphql import GraphQLSchema

from gql_server.api import errors
from gql_server.api.schema import build_schema
from gql_server.shedding import HASHING_FIELDS, busy_answer
from gql_server.web.routes import OPERATIONS

from .flows import PASSWORD
from .graphql import operation

SPEC = "application/graphql-response+json; charset=utf-8"


@pytest.fixture
def saturated(services) -> Iterator[None]:
    """Every hashing and waiting place of the queue taken, as during a login flood."""
    queue = services.passwords.queue
    with contextlib.ExitStack() as held:
        for _ in range(queue.workers + queue.max_waiting):
            held.enter_context(queue.admit())
        yield


def _without_wait(answer: dict) -> dict:
    return {key: value for key, value in answer.items() if key != "retryAfterSeconds"}


async def test_p4_a_shipped_login_is_answered_as_graphql_would_without_it(client, services, acme, anna, saturated):
    checks = services.passwords.stats.checks
    shipped = await client.post(operation("Login"), {"email": "anna@example.com", "password": PASSWORD})
    # The same document with a space more is no shipped text: it takes GraphQL's way to the same answer.
    through_graphql = await client.post(operation("Login") + " ", {"email": "anna@example.com", "password": PASSWORD})

    assert shipped.status_code == through_graphql.status_code == 200
    fast, slow = shipped.json()["data"]["login"], through_graphql.json()["data"]["login"]
    assert list(fast) == list(slow)  # the same keys, in the same order
    assert _without_wait(fast) == _without_wait(slow) == {"__typename": "TooManyAttempts", "message": errors.BUSY}
    assert fast["retryAfterSeconds"] >= 1
    assert services.passwords.stats.checks == checks
    assert shipped.headers["x-request-id"] and shipped.headers["x-content-type-options"] == "nosniff"


async def test_p4_everything_else_passes_through_with_its_body(client, acme, anna, saturated):
    viewer = await client.run("Viewer")
    form = await client.http.post("/graphql", content=b"query=x", headers={"content-type": "text/plain"})
    other_mutation = await client.post(operation("RequestPasswordReset"), {"email": "anna@example.com"})

    assert viewer == {"viewer": None}
    assert form.status_code == 415
    assert other_mutation.json()["data"]["requestPasswordReset"]["__typename"] != "TooManyAttempts"


async def test_p4_a_login_is_checked_again_once_the_queue_has_room(client, services, acme, anna):
    queue = services.passwords.queue
    with contextlib.ExitStack() as held:
        for _ in range(queue.workers + queue.max_waiting):
            held.enter_context(queue.admit())
        assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "TooManyAttempts"

    # Anna's password is checked again (Acme enforces two factors: she is asked to convert).
    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "ConversionRequired"


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    """graphql-core's schema under the service's (what the middleware prepares its answers from)."""
    core: GraphQLSchema = build_schema(introspection=True, field_suggestions=False)._schema
    return core


def test_p4_every_shipped_operation_that_hashes_has_a_prepared_answer(schema):
    prepared = {
        path.stem: busy_answer(path.read_text("utf-8"), schema) for path in sorted(OPERATIONS.glob("*.graphql"))
    }

    assert {name for name, answer in prepared.items() if answer} == {"Login", "ResetPassword", "ChangePassword"}
    assert {answer.operation for answer in prepared.values() if answer} == HASHING_FIELDS


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            'mutation { l: login(email: "a", password: "b") { t: __typename ... on TooManyAttempts { w: retryAfterSeconds } } }',
            ("l", (("t", "__typename"), ("w", "retryAfterSeconds"))),
        ),
        ('mutation { login(email: "a", password: "b") { ...F } } fragment F on Error { message }', None),
        ('mutation { login(email: "a", password: "b") { __typename @skip(if: true) } }', None),
        ("query { viewer { user { email } } }", None),
    ],
)
def test_p4_answers_are_prepared_only_where_exact(schema, document, expected):
    answer = busy_answer(document, schema)

    assert (answer and (answer.root_key, answer.fields)) == expected


class TestNothingIsCountedOnTheWayOut:
    @pytest.fixture
    def settings_overrides(self):
        # One login a minute per address: the GraphQL way counts each login against it before the queue.
        return {"rate_limit_login": "1/minute"}

    async def test_p4_the_shed_answer_takes_no_turn_of_the_address(self, client, acme, anna, saturated):
        variables = {"email": "anna@example.com", "password": PASSWORD}
        shed = [(await client.post(operation("Login"), variables)).json()["data"]["login"] for _ in range(3)]
        through_graphql = [
            (await client.post(operation("Login") + " ", variables)).json()["data"]["login"] for _ in range(2)
        ]

        assert [answer["message"] for answer in shed] == [errors.BUSY] * 3
        # GraphQL's way: the first is busy, and it took the address's one login of the minute.
        assert [answer["message"] for answer in through_graphql] == [errors.BUSY, errors.THROTTLED]


class TestABusyRefusalIsHeldForAMoment:
    @pytest.fixture
    def settings_overrides(self):
        return {"password_busy_pause_seconds": 0.3}

    @pytest.mark.parametrize("document", ["Login", "Login "], ids=["shipped", "through-graphql"])
    async def test_p4_a_client_retrying_at_once_sends_one_login_a_pause(self, client, acme, anna, saturated, document):
        text = operation("Login") + document.removeprefix("Login")
        started = time.monotonic()
        answer = (await client.post(text, {"email": "anna@example.com", "password": PASSWORD})).json()
        took = time.monotonic() - started

        assert answer["data"]["login"]["__typename"] == "TooManyAttempts"
        assert took >= 0.3


async def test_p4_the_busy_answer_is_an_executed_result_in_the_media_type_asked_for(client, acme, anna, saturated):
    async def login(accept: str | None, variables: dict[str, str]):
        headers = {"accept": accept} if accept else {}
        return await client.http.post(
            "/graphql", json={"query": operation("Login"), "variables": variables}, headers=headers
        )

    variables = {"email": "anna@example.com", "password": PASSWORD}
    legacy = await login(None, variables)
    spec = await login("application/graphql-response+json, application/json;q=0.9", variables)
    # A request that could not run is not answered busy: GraphQL refuses it first (400 in this media type).
    unrunnable = [
        await client.http.post("/graphql", json=body, headers={"accept": SPEC})
        for body in (
            {"query": operation("Login"), "variables": {}},
            {"query": operation("Login"), "variables": 5},
            {"query": operation("Login"), "variables": variables, "extensions": 5},
        )
    ]
    neither = await login("text/html", variables)

    assert (legacy.status_code, legacy.headers["content-type"]) == (200, "application/json")
    assert (spec.status_code, spec.headers["content-type"]) == (200, SPEC)
    assert _without_wait(spec.json()["data"]["login"]) == _without_wait(legacy.json()["data"]["login"])
    for refused in unrunnable:
        assert (refused.status_code, refused.headers["content-type"]) == (400, SPEC), refused.text
        assert "data" not in refused.json()
    assert _without_wait(legacy.json()["data"]["login"]) == {"__typename": "TooManyAttempts", "message": errors.BUSY}
    # Nothing it can answer in: GraphQL's own 406, not a busy answer in a type the client refused.
    assert neither.status_code == 406
