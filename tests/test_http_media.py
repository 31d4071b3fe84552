"""GraphQL over HTTP (gql_server/http_media.py): the media type chosen from Accept, and what it changes.

application/graphql-response+json: 400 without `data` for a request GraphQL refuses before executing it,
200 for everything executed. application/json (and no Accept): every answer exactly as before. The whole
audit suite runs against a served instance in test_graphql_over_http.py.
"""

from __future__ import annotations

import pytest
from tortoise import connections

from gql_server.http_media import GRAPHQL_RESPONSE, JSON, negotiate
from gql_server.limits import MAX_ALIASES, MAX_TOKENS

SPEC = "application/graphql-response+json; charset=utf-8"
# What a client that follows the spec sends when it does not know the server (GraphQL over HTTP, "Accept").
SPEC_CLIENT = "application/graphql-response+json, application/json;q=0.9"
INVITATION = "query($t: String!) { invitation(token: $t) { __typename } }"
TWO_OPERATIONS = "query A { __typename } query B { __typename }"

# (what is wrong, query, variables, operationName): each refused by GraphQL before it executes anything.
REQUEST_ERRORS = [
    ("document does not parse", "{ viewer {", None, None),
    ("document does not validate", "{ viewr }", None, None),
    ("too many aliases (S7)", "{ " + " ".join(f"a{i}: __typename" for i in range(MAX_ALIASES + 1)) + " }", None, None),
    ("too many tokens (S7)", "{ " + "__typename " * MAX_TOKENS + "}", None, None),
    ("variable of the wrong type", INVITATION, {"t": 5}, None),
    ("variable missing", INVITATION, {}, None),
    ("no operation", "fragment F on Query { __typename }", None, None),
    ("operation unknown", TWO_OPERATIONS, None, "C"),
]


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", JSON),  # a browser's address bar
        ("application/graphql-response+json", GRAPHQL_RESPONSE),
        ("Application/GraphQL-Response+JSON; charset=UTF-8", GRAPHQL_RESPONSE),
        (SPEC_CLIENT, GRAPHQL_RESPONSE),
        ("application/json;q=0.9, application/graphql-response+json", GRAPHQL_RESPONSE),
        ("application/json, application/graphql-response+json;q=0.9", JSON),
        # Equal weights: named outright beats a wildcard; of two named, the spec's; of two wildcards, JSON.
        ("application/graphql-response+json, application/json", GRAPHQL_RESPONSE),
        ("application/json, */*", JSON),
        ("application/graphql-response+json, */*", GRAPHQL_RESPONSE),
        # The most specific range decides a type's weight.
        ("application/json;q=0, */*", GRAPHQL_RESPONSE),
        ("application/graphql-response+json;q=0, application/*", JSON),
        ("application/json; charset=iso-8859-1, application/graphql-response+json;q=0.5", GRAPHQL_RESPONSE),
        # Nothing readable: as if there were no Accept header.
        ("nonsense", JSON),
        ("application/json;q=2", JSON),
        # Nothing we can answer in: 406.
        ("text/html", None),
        ("application/xml, text/plain;q=0.5", None),
        ("application/json;q=0, application/graphql-response+json;q=0", None),
        ("*/*;q=0", None),
        ("application/json; charset=iso-8859-1", None),
    ],
)
def test_the_media_type_is_the_acceptable_one_of_highest_weight(accept, chosen):
    assert negotiate(accept) == chosen


async def _post(client, accept, query, variables=None, operation_name=None):
    body: dict[str, object] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    if operation_name is not None:
        body["operationName"] = operation_name
    headers = {} if accept is None else {"accept": accept}
    return await client.http.post("/graphql", json=body, headers=headers)


@pytest.mark.parametrize(("wrong", "query", "variables", "operation_name"), REQUEST_ERRORS)
async def test_a_request_error_is_400_without_data_in_graphql_response_json(
    client, wrong, query, variables, operation_name
):
    response = await _post(client, SPEC_CLIENT, query, variables, operation_name)

    assert response.status_code == 400, wrong
    assert response.headers["content-type"] == SPEC
    body = response.json()
    assert "data" not in body
    assert body["errors"] and all("message" in error for error in body["errors"])


@pytest.mark.parametrize(("wrong", "query", "variables", "operation_name"), REQUEST_ERRORS)
@pytest.mark.parametrize("accept", [None, "application/json", "*/*"])
async def test_application_json_and_no_accept_answer_request_errors_as_before(
    client, accept, wrong, query, variables, operation_name
):
    response = await _post(client, accept, query, variables, operation_name)
    spec = await _post(client, SPEC_CLIENT, query, variables, operation_name)

    assert response.headers["content-type"] == "application/json"
    # The same errors either way; only the status and the data entry differ.
    assert response.json()["errors"] == spec.json()["errors"]
    if response.status_code == 200:
        assert response.json()["data"] is None, wrong
    else:
        # Refused by the HTTP view before GraphQL (no operation it can choose): 400, as before, in both.
        assert response.status_code == 400 and "data" not in response.json(), wrong


async def test_an_executed_request_is_200_with_data_in_either_media_type(client):
    for accept, content_type in ((SPEC_CLIENT, SPEC), ("application/json", "application/json")):
        response = await _post(client, accept, "{ viewer { __typename } __typename }")

        assert response.status_code == 200
        assert response.headers["content-type"] == content_type
        assert response.json() == {"data": {"viewer": None, "__typename": "Query"}}


@pytest.fixture
async def audit_table_gone(settings):
    """A real fault: the audit table vanishes under the running service (restored afterwards)."""
    connection = connections.get(settings.database_url.split(":", 1)[0])
    await connection.execute_script('ALTER TABLE "audit_event" RENAME TO "audit_event_gone"')
    yield
    await connection.execute_script('ALTER TABLE "audit_event_gone" RENAME TO "audit_event"')


async def test_a_field_error_that_nulls_the_data_is_still_an_executed_200(client, audit_table_gone):
    # login is non-null: its error nulls the whole data, but the operation was executed (a field error, with a path).
    mutation = 'mutation { login(email: "a@example.com", password: "wrong-guess") { __typename } }'

    response = await _post(client, SPEC_CLIENT, mutation)

    assert response.status_code == 200
    assert response.headers["content-type"] == SPEC
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["message"] == "Unexpected error." and body["errors"][0]["path"] == ["login"]


async def test_get_negotiates_the_same_way(client):
    def get(accept: str, query: str):
        return client.http.get("/graphql", params={"query": query}, headers={"accept": accept})

    read = await get(SPEC_CLIENT, "{ __typename }")
    broken = await get(SPEC_CLIENT, "{ __typename")
    legacy = await get("application/json", "{ __typename")
    mutation = await get(SPEC_CLIENT, "mutation { logout }")

    assert (read.status_code, read.headers["content-type"]) == (200, SPEC)
    assert read.json() == {"data": {"__typename": "Query"}}
    assert (broken.status_code, broken.headers["content-type"], "data" in broken.json()) == (400, SPEC, False)
    assert (legacy.status_code, legacy.headers["content-type"]) == (200, "application/json")
    assert legacy.json()["data"] is None
    # S21 stays: no mutation by GET, whatever the media type.
    assert (mutation.status_code, mutation.headers["content-type"]) == (400, SPEC)
    assert "mutations are not allowed" in mutation.json()["errors"][0]["message"]


async def test_refusals_before_graphql_answer_in_the_negotiated_media_type(client):
    form = await client.http.post(
        "/graphql", content=b"query=x", headers={"content-type": "text/plain", "accept": SPEC_CLIENT}
    )
    not_json = await client.http.post(
        "/graphql", content=b'{"query":', headers={"content-type": "application/json", "accept": SPEC_CLIENT}
    )
    not_json_legacy = await client.http.post(
        "/graphql", content=b'{"query":', headers={"content-type": "application/json"}
    )

    assert (form.status_code, form.headers["content-type"]) == (415, SPEC)
    assert form.json() == {"errors": [{"message": "POST requests must be application/json."}]}
    assert (not_json.status_code, not_json.headers["content-type"], "data" in not_json.json()) == (400, SPEC, False)
    assert (not_json_legacy.status_code, not_json_legacy.headers["content-type"]) == (400, "application/json")


async def test_an_accept_header_that_allows_neither_type_is_406_but_graphiql_still_opens(client):
    refused = await _post(client, "text/html", "{ __typename }")
    read = await client.http.get("/graphql", params={"query": "{ __typename }"}, headers={"accept": "image/png"})
    explorer = await client.http.get("/graphql", headers={"accept": "text/html"})

    assert (refused.status_code, refused.headers["content-type"]) == (406, "application/json")
    assert GRAPHQL_RESPONSE in refused.json()["errors"][0]["message"]
    assert read.status_code == 406
    assert explorer.status_code == 200 and explorer.headers["content-type"].startswith("text/html")
