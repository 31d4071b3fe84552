"""The GraphQL transport: S7 (aliases, depth, size), S21 (POST JSON only, no batching), S22 (masking)."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from tortoise import connections


@pytest.fixture
async def audit_table_gone(settings):
    """A real fault: the audit table vanishes under the running service (restored afterwards)."""
    connection = connections.get(settings.database_url.split(":", 1)[0])
    await connection.execute_script('ALTER TABLE "audit_event" RENAME TO "audit_event_gone"')
    yield
    await connection.execute_script('ALTER TABLE "audit_event_gone" RENAME TO "audit_event"')


LOGIN = 'login(email: "a@example.com", password: "wrong-guess") { __typename }'


async def test_s21_mutation_by_get_is_refused(client):
    response = await client.http.get("/graphql", params={"query": "mutation { logout }"})

    assert response.status_code == 400
    assert "mutations are not allowed" in response.json()["errors"][0]["message"]


async def test_s21_queries_by_get_still_work(client):
    response = await client.http.get("/graphql", params={"query": "{ __typename }"})

    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ("query=mutation%20%7B%20logout%20%7D", "application/x-www-form-urlencoded"),
        ('{"query": "mutation { logout }"}', "text/plain"),
        (
            '--b\r\nContent-Disposition: form-data; name="query"\r\n\r\n{ __typename }\r\n--b--',
            "multipart/form-data; boundary=b",
        ),
    ],
)
async def test_s21_post_must_be_json(client, content, content_type):
    response = await client.http.post("/graphql", content=content, headers={"content-type": content_type})

    assert response.status_code == 415
    assert response.json() == {"errors": [{"message": "POST requests must be application/json."}]}


@pytest.mark.parametrize(
    "content_type", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8", "application/Json;charset=utf-8"]
)
async def test_s21_json_is_json_in_any_case_and_with_parameters(client, content_type):
    # Media types are case-insensitive (RFC 9110): what passes the S21 guard must also be read as JSON.
    response = await client.http.post(
        "/graphql", content='{"query": "{ __typename }"}', headers={"content-type": content_type}
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_s21_batched_requests_are_refused(client, make_customer, make_user, services):
    await make_user(await make_customer(), "a@example.com", "correct horse battery")
    checks_before = services.passwords.stats.checks

    response = await client.http.post("/graphql", json=[{"query": f"mutation {{ {LOGIN} }}"}] * 5)

    assert response.status_code == 400
    assert "batch" in response.text.lower()
    assert services.passwords.stats.checks == checks_before


async def test_s7_more_than_five_aliases_are_refused_before_anything_runs(client, make_customer, make_user, services):
    await make_user(await make_customer(), "a@example.com", "correct horse battery")
    checks_before = services.passwords.stats.checks
    aliased = " ".join(f"a{i}: {LOGIN}" for i in range(6))

    response = await client.post(f"mutation {{ {aliased} }}")

    body = response.json()
    assert body.get("data") is None
    assert "aliases" in body["errors"][0]["message"]
    assert services.passwords.stats.checks == checks_before


async def test_s7_aliases_within_the_limit_each_count_as_an_attempt(client, make_customer, make_user, services):
    await make_user(await make_customer(), "a@example.com", "correct horse battery")
    aliased = " ".join(f"a{i}: {LOGIN}" for i in range(5))

    response = await client.post(f"mutation {{ {aliased} }}")

    assert len(response.json()["data"]) == 5
    # Three reach the check, then the lockout refuses the rest (S4 holds per resolver call).
    assert services.passwords.stats.checks == 3


async def test_s7_deep_queries_are_refused(client):
    deep = "{ viewer { user { memberships { customer { enforcementImpact { usersToConvert { memberships { customer { enforcementImpact { usersToConvert { memberships { customer { name } } } } } } } } } } } } }"

    response = await client.post(deep)

    assert "exceeds maximum operation depth" in response.json()["errors"][0]["message"]


async def test_s7_oversized_documents_are_refused(client):
    response = await client.post("{ " + "__typename " * 3000 + "}")

    assert "token" in response.json()["errors"][0]["message"].lower()


async def test_s22_unexpected_failures_are_masked_without_sql_or_trace(client, audit_table_gone):
    response = await client.post(f"mutation {{ {LOGIN} }}")

    assert response.status_code == 200
    body = response.json()
    assert body["errors"][0]["message"] == "Unexpected error."
    for leak in ("audit_event", "Traceback", "SELECT", "INSERT", "relation", "no such table"):
        assert leak not in response.text


# One mistake of each kind for which graphql-core suggests names of the schema, and the message without the
# suggestion. (The schema has no enum-typed inputs, so no request can misspell an enum value.)
MISTAKES = [
    ("field", "{ viewr }", None, "Cannot query field 'viewr' on type 'Query'."),
    (
        "field of a union",
        'mutation { login(email: "a@example.com", password: "x") { token } }',
        None,
        "Cannot query field 'token' on type 'LoginResult'.",
    ),
    ("type", "query($t: Strin!) { invitation(token: $t) { __typename } }", {"t": "x"}, "Unknown type 'Strin'."),
    ("fragment type", "{ ... on Quer { __typename } }", None, "Unknown type 'Quer'."),
    (
        "argument",
        'mutation { login(email: "a@example.com", pasword: "x") { __typename } }',
        None,
        "Unknown argument 'pasword' on field 'Mutation.login'.",
    ),
    (
        "directive argument",
        "{ __typename @include(iff: true) }",
        None,
        "Unknown argument 'iff' on directive '@include'.",
    ),
    (
        "input field",
        'mutation { updateCustomerSettings(customerId: "1", input: {enforceTwoFactr: true}) { __typename } }',
        None,
        "Expected value of type 'CustomerSettingsInput' not to include unknown field 'enforceTwoFactr',"
        " found: { enforceTwoFactr: true }.",
    ),
    (
        "input field in variables",
        'mutation($i: CustomerSettingsInput!) { updateCustomerSettings(customerId: "1", input: $i) { __typename } }',
        {"i": {"enforceTwoFactr": True}},
        "Variable '$i' has invalid value: Expected value of type 'CustomerSettingsInput' not to include"
        " unknown field 'enforceTwoFactr', found: {'enforceTwoFactr': True}.",
    ),
]


async def messages_for(client, query: str, variables) -> list[str]:
    response = await client.post(query, variables)
    assert response.status_code == 200, response.text
    return [error["message"] for error in response.json()["errors"]]


class TestProduction:
    @pytest.fixture
    def settings_overrides(self):
        return {"gql_server_env": "production"}

    async def test_s28_no_error_of_any_kind_suggests_names_in_production(self, client):
        for kind, query, variables, expected in MISTAKES:
            messages = await messages_for(client, query, variables)

            assert expected in messages, (kind, messages)
            assert not [m for m in messages if "Did you mean" in m], (kind, messages)

    async def test_s22_no_field_suggestions_in_production(self, client):
        response = await client.post("{ viewr }")

        message = response.json()["errors"][0]["message"]
        assert "Cannot query field 'viewr'" in message
        assert "Did you mean" not in message

    async def test_introspection_and_graphiql_are_off_in_production(self, client):
        introspection = await client.post("{ __schema { queryType { name } } }")
        graphiql = await client.http.get("/graphql", headers={"accept": "text/html"})

        assert "introspection" in introspection.json()["errors"][0]["message"].lower()
        assert graphiql.status_code == 404


async def test_field_suggestions_help_in_development(client):
    response = await client.post("{ viewr }")

    assert "Did you mean 'viewer'" in response.json()["errors"][0]["message"]


async def test_s28_development_still_suggests_for_every_kind(client):
    for kind, query, variables, _ in MISTAKES:
        messages = await messages_for(client, query, variables)

        assert [m for m in messages if " Did you mean '" in m or " Did you mean to " in m], (kind, messages)


async def test_graphiql_is_served_in_development(client):
    response = await client.http.get("/graphql", headers={"accept": "text/html"})

    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_graphiql_never_puts_the_editor_into_the_url(client):
    import re

    from strawberry.http.ides import get_graphql_ide_html

    from gql_server.api.graphiql import SCRIPT_URL

    page = (await client.http.get("/graphql", headers={"accept": "text/html"})).text
    # The page's own script, which Strawberry has inline, is a file of its own here (the page's CSP).
    script = (await client.http.get(SCRIPT_URL)).text
    strawberrys = get_graphql_ide_html("graphiql")

    # Nothing on the page writes to the address bar or the history, or reads the editor from the URL (the
    # README's first step types a password into it).
    for writer in ("history.", "replaceState", "pushState", "location.search", "location.hash", "location.assign"):
        assert writer not in page + script, writer
    assert not re.search(r"location(\.href)?\s*=[^=]", page + script)
    # Otherwise it is Strawberry's page: the same scripts and styles, at the same versions and hashes, in the
    # same order, served from here instead of the CDN (tests/test_graphiql.py).
    pinned = re.compile(r'(?:src|href)="(?:https://unpkg\.com/|/static/graphiql/)([^"]+)"\s+integrity="([^"]+)"')
    own = ("start.js", "page.css")  # Strawberry's inline script and style
    assert [asset for asset in pinned.findall(page) if asset[0] not in own] == pinned.findall(strawberrys)
    assert "GraphiQL.createFetcher" in script and "onEditQuery" in script


async def test_graphiql_typing_a_password_leaves_the_url_alone(client):
    """The page's own script, run in node with a stand-in browser: what it does when someone types."""
    import asyncio
    import re
    import shutil
    import subprocess
    from pathlib import Path

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    page = (await client.http.get("/graphql", headers={"accept": "text/html"})).text
    # The page's last script is its own (Strawberry's inline script, served as a file).
    script = (await client.http.get(re.findall(r'<script[^>]*\ssrc="([^"]+)"', page)[-1])).text

    harness = str(Path(__file__).with_name("graphiql_page.js"))
    run = await asyncio.to_thread(subprocess.run, [node, harness], input=script, capture_output=True, text=True)

    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["writes"] == []
    assert seen["href"] == "http://testserver/graphql?q=%7B%20viewer%20%7D"
    assert seen["initialQuery"] != "{ viewer }"  # a link cannot fill the editor either
    assert "s3cret" not in run.stdout
    # The editor lasts as long as the tab (not in localStorage for good); the headers are not kept at all.
    assert (seen["storage"], seen["persistHeaders"]) == ("sessionStorage", False)


def test_a_graphiql_page_that_can_no_longer_be_made_safe_is_refused_not_served():
    from gql_server.api.graphiql import GraphiQLPageChanged, without_url_sync

    with pytest.raises(GraphiQLPageChanged):
        without_url_sync("<html>history.pushState(null, null, location.search)</html>")


async def test_s25_passwords_never_reach_the_logs(client, make_customer, make_user, caplog):
    await make_user(await make_customer(), "a@example.com", "correct horse battery")
    caplog.set_level("DEBUG")

    await client.login("a@example.com", "correct horse battery")
    await client.login("a@example.com", "my-secret-guess")
    # A password typed as a number is a variable error that echoes the value to the caller.
    await client.post(
        'mutation($p: String!) { login(email: "a@example.com", password: $p) { __typename } }',
        {"p": 31415926535},
    )

    for secret in ("correct horse battery", "my-secret-guess", "31415926535"):
        assert secret not in caplog.text


async def test_s22_unexpected_failures_are_logged_for_operators(client, audit_table_gone, caplog):

    await client.post(f"mutation Guess {{ {LOGIN} }}")

    assert "unexpected error at login in operation Guess" in caplog.text


async def test_s22_text_that_is_not_unicode_is_refused_clearly_and_changes_nothing(client, make_customer, make_user):
    await make_user(await make_customer(), "a@example.com", "correct horse battery")
    query = 'mutation($p: String!) { login(email: "a@example.com", password: $p) { __typename } }'

    # What a browser may send: JSON allows an escaped lone surrogate ("\\ud800").
    payload = json.dumps({"query": query, "variables": {"p": "\ud800"}})
    headers = {"content-type": "application/json"}
    responses = [await client.http.post("/graphql", content=payload, headers=headers) for _ in range(3)]

    assert {r.status_code for r in responses} == {400}
    assert responses[0].json() == {"errors": [{"message": "The request contains text that is not valid Unicode."}]}
    # No attempt was counted: the password step is not locked.
    assert (await client.login("a@example.com", "correct horse battery"))["__typename"] == "LoginSuccess"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"null", "must be a JSON object"),
        (b'"query"', "must be a JSON object"),
        (b'{"query": "{ __typename }", "operationName": "\xff"}', "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"query": "{ __typename }", "variables": {"a": "x\\u0000"}}', "NUL"),
    ],
)
async def test_s22_malformed_bodies_are_a_clear_400(client, body, message):
    response = await client.http.post("/graphql", content=body, headers={"content-type": "application/json"})

    assert response.status_code == 400
    assert message in response.json()["errors"][0]["message"]


def test_addresses_with_mail_header_specials_or_controls_are_not_email_addresses():
    from gql_server.emails import looks_like_email

    for address in ("a,b@c.example", "a<evil.example>b@c.example", "0@0.:", "a\x01@b.example", "a@b.c\x7f"):
        assert not looks_like_email(address), address
    assert looks_like_email("anna.k+tag@example.org")


def test_addresses_longer_than_smtp_allows_are_not_email_addresses():
    from gql_server.emails import looks_like_email

    # RFC 5321: 64 octets of local part, 254 in all; counted in UTF-8, where "¡" takes two.
    assert looks_like_email("a" * 64 + "@example.org")
    assert not looks_like_email("a" * 65 + "@example.org")
    assert not looks_like_email("\u00a1" * 33 + "@example.org")
    assert looks_like_email("a@" + "b" * 240 + ".example")
    assert not looks_like_email("a@" + "b" * 245 + ".example")
    assert not looks_like_email("\ud800@example.org")  # checked, not crashed on


@given(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20),
    st.sampled_from(["", ".", "..", "-"]),
)
@example("0", "0.", "")  # 0@0..fi: once mailed to an empty recipient
@example("a", "b", ".")  # a.@b.fi
def test_every_email_address_the_service_accepts_survives_the_mail_header(local, domain, joint):
    """Whatever passes the check is the recipient of the message built for it, not an empty one."""
    from email.message import EmailMessage

    from gql_server.emails import looks_like_email

    address = f"{local}{joint}@{domain}.fi"
    if looks_like_email(address):
        message = EmailMessage()
        message["To"] = address
        [recipient] = message["To"].addresses
        assert recipient.addr_spec == address
