"""The queries with hostile arguments: nothing is shown that the caller may not see, and nothing changes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gql_server.audit import AuditKind
from gql_server.emails import MAX_EMAIL_LENGTH

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


AUDIT_LOG = (
    "query Hostile($id: ID!, $kind: String, $email: String, $newestFirst: Boolean) { customer(id: $id) { "
    "auditLog(first: 500, kind: $kind, email: $email, newestFirst: $newestFirst) { __typename "
    "... on AuditLogConnection { edges { node { id kind actorEmail subjectEmail } } } "
    "... on InvalidInput { field } } } }"
)


@FEWER
@given(
    kind=st.none() | HOSTILE_TEXT | st.sampled_from(sorted(AuditKind)),
    email=st.none() | HOSTILE_TEXT | st.sampled_from(["admin", "ACME", "%", "_", "\\", "a" * 321]),
    newest_first=st.none() | st.booleans(),
)
async def test_r19_audit_log_filters_take_any_text(world, kind, email, newest_first):
    variables = {"id": world.acme_id, "kind": kind, "email": email, "newestFirst": newest_first}
    # What the service receives: world.send turns U+0000 (refused at the boundary) into U+0001.
    kind, email = (None if v is None else v.replace("\x00", "\x01") for v in (kind, email))

    response = await world.send(AUDIT_LOG, variables, bearer=world.live["admin_session"])

    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    log = body["data"]["customer"]["auditLog"]
    if kind is not None and kind not in set(AuditKind):
        assert (log["__typename"], log["field"]) == ("InvalidInput", "kind"), log
    elif email is not None and len(email.strip()) > MAX_EMAIL_LENGTH:
        assert (log["__typename"], log["field"]) == ("InvalidInput", "email"), log
    else:
        assert log["__typename"] == "AuditLogConnection", log
        events = [edge["node"] for edge in log["edges"]]
        ids = [int(event["id"]) for event in events]
        assert ids == sorted(ids, reverse=bool(newest_first))
        assert all(event["kind"] == kind for event in events) if kind else True
        # Every event found holds the text, lower-cased as addresses are stored, in a recorded address.
        needle = (email or "").strip().lower()
        assert all(needle in (e["actorEmail"] or "") or needle in (e["subjectEmail"] or "") for e in events)
    await world.unchanged()
