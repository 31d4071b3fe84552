"""What the properties found, one reproduction each, and the JSON boundary's refusals (U+0000, bodies that are
not a JSON object, nested too deeply or not UTF-8)."""

from __future__ import annotations

import json

import pytest

from .answers import LOGIN, SEND_LOGIN_CODE, typed
from .world import post

# Part of `make test`; `make test-hostile` runs the package alone.
pytestmark = pytest.mark.hostile


async def test_send_login_code_with_a_method_id_longer_than_the_column(world):
    variables = {"challenge": world.live["challenge"], "method": "x" * 65}

    typed(await world.send(SEND_LOGIN_CODE, variables), "sendLoginCode", {"MethodNotAvailable"})
    await world.unchanged()


async def test_nul_in_a_login_email_is_refused_at_the_boundary(world):
    body = {"query": LOGIN, "variables": {"email": "a\x00@example.com", "password": "x"}}
    response = await world.post(json.dumps(body), {})

    assert response.status_code == 400
    assert "NUL" in response.json()["errors"][0]["message"]
    await world.unchanged()


async def test_nul_in_a_method_id_is_refused_at_the_boundary(world):
    body = {"query": SEND_LOGIN_CODE, "variables": {"challenge": world.live["challenge"], "method": "totp\x00"}}
    response = await world.post(json.dumps(body), {})

    assert response.status_code == 400
    await world.unchanged()


@pytest.mark.parametrize("body", [b"null", b"1", b"1e999", b'"query"', b"true"])
async def test_a_json_body_that_is_not_an_object_is_a_400(app, body):
    response = await post(app, body)

    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    "body",
    [
        b'{"query": "{ __typename }", "variables": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
        b'{"query": "{ __typename }", "variables": ' + b'{"a": ' * 5_000 + b"1" + b"}" * 5_001,
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["arrays", "objects", "top-level"],
)
async def test_deeply_nested_json_is_a_400(app, body):
    response = await post(app, body)

    assert response.status_code == 400, response.text


async def test_a_body_that_is_not_utf8_is_a_400(app):
    response = await post(app, b'{"query": "{ __typename }", "operationName": "\xff"}')

    assert response.status_code == 400, response.text
