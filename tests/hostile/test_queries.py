"""The queries with hostile arguments: nothing is shown that the caller may not see, and nothing changes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .answers import CUSTOMER, INVITATION
from .strategies import FEWER, HOSTILE_TEXT, same_id, tokens, uuid_spellings
from .world import ALL_TOKENS

# Part of `make test`; `make test-hostile` runs the package alone.
pytestmark = pytest.mark.hostile


@FEWER
@given(
    session=st.sampled_from([None, "admin_session", "other_session"]),
    customer=HOSTILE_TEXT | st.uuids().map(str) | st.integers(0, 7),
)
async def test_customer_query(world, session, customer):
    if isinstance(customer, int):
        spellings = [world.acme_id, *uuid_spellings(world.acme_id)]
        customer = spellings[customer % len(spellings)]
    visible = session == "admin_session" and same_id(customer, world.acme_id)

    response = await world.send(CUSTOMER, {"id": customer}, bearer=world.live.get(session or ""))

    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    if visible:
        assert body["data"]["customer"]["id"] == world.acme_id
    else:
        assert body["data"] == {"customer": None}
    await world.unchanged()


@FEWER
@given(token=tokens(*ALL_TOKENS))
async def test_invitation_query(world, token):
    response = await world.send(INVITATION, {"token": world.token(token)})

    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"invitation": None}}
    await world.unchanged()
