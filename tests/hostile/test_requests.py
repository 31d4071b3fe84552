"""Request-level properties: arguments of the wrong type, lone surrogates, huge, deep and malformed documents,
and request objects of any shape are refused with an explanation (never a 5xx or a masked error)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

from gql_server.api.schema import MAX_ALIASES, MAX_DEPTH

from .answers import MUTATIONS, no_masked_error, refused
from .strategies import DOCUMENTS, FEWER, HOSTILE, HOSTILE_TEXT, JSON_VALUES, has_nul, has_surrogate

# Part of `make test`; `make test-hostile` runs the package alone.
pytestmark = pytest.mark.hostile


@HOSTILE
@given(field=st.sampled_from(sorted(MUTATIONS)), data=st.data())
async def test_arguments_of_the_wrong_type_are_graphql_errors(world, field, data):
    document, arguments = MUTATIONS[field]
    variables = {name: data.draw(JSON_VALUES, label=name) for name in arguments}
    extra = data.draw(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=3), label="extra")
    variables = {**extra, **variables}
    # Only values that GraphQL must refuse: at least one argument is not of its declared type.
    assume(any(not _fits(value, arguments[name]) for name, value in variables.items() if name in arguments))
    assume(not has_surrogate(variables))

    response = await world.send(document, variables)

    errors = refused(response)
    assert any("Variable" in e["message"] for e in errors), errors
    await world.unchanged()


def _fits(value: Any, kind: str) -> bool:
    """Whether GraphQL input coercion accepts `value` for a variable of type `kind` (a simple model)."""
    if value is None:
        return not kind.endswith("!")
    base = kind.rstrip("!")
    if base == "String":
        return isinstance(value, str)
    if base == "Boolean":
        return isinstance(value, bool)
    if base == "ID":
        # An ID is a string or an integer; GraphQL also takes a float with an integral value.
        integral = isinstance(value, float) and math.isfinite(value) and value.is_integer()
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)) or integral
    # CustomerSettingsInput: anything but an object of the right shape is refused; objects are not
    # modelled here (unknown fields, nested types), so they count as fitting and are left out.
    return isinstance(value, dict)


@FEWER
@given(
    field=st.sampled_from(sorted(MUTATIONS)),
    surrogate=st.integers(0xD800, 0xDFFF),
    prefix=st.text(max_size=8),
    suffix=st.text(max_size=8),
    data=st.data(),
)
async def test_lone_surrogates_are_refused_at_the_json_boundary(world, field, surrogate, prefix, suffix, data):
    document, arguments = MUTATIONS[field]
    variables: dict[str, Any] = dict.fromkeys(arguments, "x")
    variables["input"] = {"allowedMethods": ["totp"]}
    text = prefix + chr(surrogate) + suffix
    where = data.draw(st.sampled_from([*(n for n in arguments if n != "input"), "extra", "nested"]), label="where")
    if where == "nested":
        variables["input"]["allowedMethods"].append(text)
    else:
        variables[where] = text

    response = await world.send(document, variables)

    assert response.status_code == 400, response.text
    assert response.json() == {"errors": [{"message": "The request contains text that is not valid Unicode."}]}
    await world.unchanged()


@HOSTILE
@given(
    document=DOCUMENTS,
    operation_name=st.none() | HOSTILE_TEXT,
    variables=st.none() | st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4),
)
async def test_huge_deep_and_malformed_documents(world, document, operation_name, variables):
    kind, size, query = document
    body = {"query": query, "variables": variables, "operationName": operation_name}
    note(f"{kind} ({size}): {query[:300]!r}... ({len(query)} characters)")

    response = await world.post(json.dumps(body))

    answer = no_masked_error(response)
    messages = " ".join(e["message"] for e in answer.get("errors", []))
    if has_nul(body):
        # U+0000 anywhere (a variable's name too) is refused at the JSON boundary, before any guard.
        assert response.status_code == 400 and "NUL" in messages and answer.get("data") is None, answer
        await world.unchanged()
        return
    # S7: the guards refuse before anything runs (with an operation name, the document may instead
    # be refused for not having that operation).
    if kind == "aliases" and size > MAX_ALIASES and operation_name is None:
        assert "aliases" in messages and answer.get("data") is None, answer
    if kind == "depth" and size > MAX_DEPTH + 1 and operation_name is None:
        assert "exceeds maximum operation depth" in messages and answer.get("data") is None, answer
    if kind == "aliases" and size <= MAX_ALIASES and operation_name is None and not variables:
        assert answer["data"] == {f"a{i}": {"__typename": "ChallengeExpired"} for i in range(size)}, answer
    await world.unchanged()


@FEWER
@given(
    query=JSON_VALUES | st.text(max_size=64),
    variables=JSON_VALUES,
    operation_name=JSON_VALUES,
    extensions=JSON_VALUES,
)
async def test_request_objects_of_any_shape(world, query, variables, operation_name, extensions):
    body = {"query": query, "variables": variables, "operationName": operation_name, "extensions": extensions}
    assume(not has_surrogate(body))

    response = await world.post(json.dumps(body))

    no_masked_error(response)
    await world.unchanged()
