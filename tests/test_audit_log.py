"""The audit log as admins and operators read it: what is kept of what callers type (S29), whose log an
event belongs to (S33), addresses as they were (R13), cursors that are not ours (issue 12), and the
admins' newest-first order and filters by kind and by address as recorded (R19)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path

import pytest

from gql_server.audit import AuditKind
from gql_server.enums import MembershipLevel
from gql_server.models import AuditEvent, User

from .graphql import operation

PASSWORD = "correct horse battery"
# What a user types into the email field when the focus is in the wrong place.
TYPED_PASSWORD = "Tr0ub4dor&3-MySecret"


@pytest.fixture
def settings_overrides(tmp_path):
    return {"gql_server_audit_jsonl": str(tmp_path / "audit.jsonl")}


@pytest.fixture
async def acme(make_customer, make_user):
    customer = await make_customer("Acme Oy")
    await make_user(customer, "admin@acme.example", PASSWORD, MembershipLevel.CUSTOMER)
    return customer


@pytest.fixture
async def acme_admin(acme, converted_session):
    return await converted_session(await User.get(email="admin@acme.example"))


async def _log(client, token, customer):
    result = (await client.run("AuditLog", bearer=token, id=str(customer.id), first=500))["customer"]["auditLog"]
    assert result["__typename"] == "AuditLogConnection", result
    return [edge["node"] for edge in result["edges"]]


async def test_s29_a_password_typed_as_the_email_is_stored_and_logged_nowhere(client, acme, settings, caplog):
    # Our own loggers at every level; the libraries' at the default LOG_LEVEL.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="gql_server")

    result = await client.login(TYPED_PASSWORD, PASSWORD)

    assert result["__typename"] == "InvalidCredentials"
    needle = TYPED_PASSWORD.casefold()
    [event] = await AuditEvent.filter(kind="login_failed").values()
    assert event["data"] == {"reason": "unknown_email", "ip": "203.0.113.7"}
    rows = json.dumps(await AuditEvent.all().values(), default=str)
    assert needle not in rows.casefold()
    exported = await asyncio.to_thread(Path(settings.gql_server_audit_jsonl).read_text, "utf-8")
    assert '"unknown_email"' in exported
    assert needle not in exported.casefold()
    assert caplog.records
    assert all(needle not in record.getMessage().casefold() for record in caplog.records)


async def test_s33_conversion_required_shows_only_in_the_enforcing_customers_log(
    client, operator, make_customer, make_user, converted_session
):
    enforcing = await make_customer("Enforcing Oy", enforce=True)
    also_enforcing = await make_customer("Also Oy", enforce=True)
    relaxed = await make_customer("Relaxed Oy")
    admins = {}
    for customer, email in (
        (enforcing, "boss@enf.example"),
        (also_enforcing, "boss@also.example"),
        (relaxed, "boss@rel.example"),
    ):
        admins[customer.name] = await converted_session(
            await make_user(customer, email, PASSWORD, MembershipLevel.CUSTOMER)
        )
    shared = await make_user(enforcing, "sam@shared.example", PASSWORD)
    for customer in (also_enforcing, relaxed):
        await operator.add_membership(
            user_id=str(shared.id), customer_id=str(customer.id), level=MembershipLevel.COMPANY
        )

    assert (await client.login("sam@shared.example", PASSWORD))["__typename"] == "ConversionRequired"

    def required(events):
        return [
            (e["kind"], e["subjectEmail"], e["details"]["ip"]) for e in events if e["kind"] == "conversion_required"
        ]

    expected = [("conversion_required", "sam@shared.example", "203.0.113.7")]
    assert required(await _log(client, admins["Enforcing Oy"], enforcing)) == expected
    assert required(await _log(client, admins["Also Oy"], also_enforcing)) == expected
    # The relaxed customer's admins see their member's own doings, never what another customer's policy caused.
    assert required(await _log(client, admins["Relaxed Oy"], relaxed)) == []


async def test_s33_conversion_started_shows_only_where_enforcement_caused_it(
    client, mailbox, operator, make_customer, make_user, converted_session
):
    enforcing = await make_customer("Enforcing Oy", enforce=True)
    relaxed = await make_customer("Relaxed Oy")
    boss = {
        customer.name: await converted_session(
            await make_user(customer, f"boss@{customer.name[:3].lower()}.example", PASSWORD, MembershipLevel.CUSTOMER)
        )
        for customer in (enforcing, relaxed)
    }
    shared = await make_user(enforcing, "sam@shared.example", PASSWORD)
    await operator.add_membership(user_id=str(shared.id), customer_id=str(relaxed.id), level=MembershipLevel.COMPANY)
    ticket = (await client.login("sam@shared.example", PASSWORD))["ticket"]
    sent = (await client.run("RequestConversion", ticket=ticket, email="sam@shared.example"))["requestConversion"]
    assert sent["__typename"] == "ConversionRequested"
    again = (await client.login("sam@shared.example", PASSWORD))["ticket"]
    await client.run("RequestConversion", ticket=again, email="sam@shared.example")

    def conversion_events(events):
        kinds = ("conversion_started", "invitation_sent")
        return [(e["kind"], e["details"]["ip"]) for e in events if e["kind"] in kinds]

    assert conversion_events(await _log(client, boss["Enforcing Oy"], enforcing)) == [
        ("conversion_started", "203.0.113.7"),
        ("invitation_sent", "203.0.113.7"),
    ]
    assert conversion_events(await _log(client, boss["Relaxed Oy"], relaxed)) == []


async def test_s33_a_voluntary_conversion_is_the_members_own_doing(
    client, mailbox, make_customer, make_user, converted_session
):
    relaxed = await make_customer("Relaxed Oy")
    boss = await converted_session(await make_user(relaxed, "boss@rel.example", PASSWORD, MembershipLevel.CUSTOMER))
    await make_user(relaxed, "sam@rel.example", PASSWORD)
    session = await client.login_token("sam@rel.example", PASSWORD)

    await client.run("StartConversion", bearer=session, email="sam@rel.example")

    assert [e["kind"] for e in await _log(client, boss, relaxed) if e["kind"] == "conversion_started"] == [
        "conversion_started"
    ]


async def test_r13_the_audit_log_keeps_the_address_the_subject_had_at_the_time(client, acme, acme_admin, make_user):
    bea = await make_user(acme, "bea@acme.example", PASSWORD)
    assert (await client.login("bea@acme.example", "wrong-guess-1"))["__typename"] == "InvalidCredentials"

    await User.filter(id=bea.id).update(email="bea.new@acme.example")

    [failed] = [e for e in await _log(client, acme_admin, acme) if e["kind"] == "login_failed"]
    assert failed["subjectEmail"] == "bea@acme.example"


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode("ascii")


@pytest.mark.parametrize(
    "cursor",
    [
        _b64("audit:999999999999999999999999"),
        _b64("audit:9223372036854775808"),
        _b64("audit:-1"),
        _b64("audit:abc"),
        _b64("audit:"),
        _b64("audit:\u0661\u0662"),
        _b64("session:1"),
        "not base64 at all!",
        "\u00e4\u00e4kk\u00f6set",
        "",
    ],
    ids=[
        "huge",
        "bigint+1",
        "negative",
        "letters",
        "empty-id",
        "arabic-digits",
        "other-kind",
        "not-b64",
        "non-ascii",
        "empty",
    ],
)
async def test_a_malformed_audit_log_cursor_is_invalid_input_without_a_traceback(
    client, acme, acme_admin, caplog, cursor
):
    caplog.set_level(logging.INFO)

    result = (await client.run("AuditLog", bearer=acme_admin, id=str(acme.id), after=cursor))["customer"]["auditLog"]

    assert (result["__typename"], result["field"]) == ("InvalidInput", "after"), result
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


async def test_the_largest_audit_event_id_is_a_cursor(client, acme, acme_admin):
    after = _b64(f"audit:{2**63 - 1}")

    result = (await client.run("AuditLog", bearer=acme_admin, id=str(acme.id), after=after))["customer"]["auditLog"]

    assert result["__typename"] == "AuditLogConnection"
    assert result["edges"] == [] and result["pageInfo"]["hasNextPage"] is False


# --- R19: newest first, narrowed to a kind or an address ----------------------------------------------


async def _pages(client, token, customer, **filters):
    """Every event the filters select, page by page (2 a page), and how many pages it took."""
    seen, after, pages = [], None, 0
    while True:
        data = await client.run("AuditLog", bearer=token, id=str(customer.id), first=2, after=after, **filters)
        log = data["customer"]["auditLog"]
        assert log["__typename"] == "AuditLogConnection", log
        seen += [edge["node"] for edge in log["edges"]]
        pages += 1
        if not log["pageInfo"]["hasNextPage"]:
            return seen, pages
        after = log["pageInfo"]["endCursor"]


@pytest.fixture
async def busy_acme(client, acme, make_user):
    """Acme with a few more events: a member's failed and good logins, another member's failure."""
    await make_user(acme, "bea@acme.example", PASSWORD)
    await make_user(acme, "cai@acme.example", PASSWORD)
    await client.login("bea@acme.example", "wrong-guess-1")
    await client.login("bea@acme.example", PASSWORD)
    await client.login("cai@acme.example", "wrong-guess-2")
    return acme


async def test_r19_the_audit_log_newest_first_pages_from_the_newest(client, busy_acme, acme_admin):
    oldest_first = await _log(client, acme_admin, busy_acme)

    newest_first, pages = await _pages(client, acme_admin, busy_acme, newestFirst=True)

    assert len(oldest_first) >= 7
    assert [e["id"] for e in newest_first] == [e["id"] for e in reversed(oldest_first)]
    assert pages == (len(oldest_first) + 1) // 2
    assert newest_first[0]["kind"] == "login_failed" and newest_first[0]["subjectEmail"] == "cai@acme.example"
    # Asked for explicitly, the old order is the default's.
    assert [e["id"] for e in (await _pages(client, acme_admin, busy_acme, newestFirst=False))[0]] == [
        e["id"] for e in oldest_first
    ]


async def test_r19_the_audit_log_narrowed_to_one_kind(client, busy_acme, acme_admin):
    failed, _ = await _pages(client, acme_admin, busy_acme, kind="login_failed", newestFirst=True)

    assert [(e["kind"], e["subjectEmail"]) for e in failed] == [
        ("login_failed", "cai@acme.example"),
        ("login_failed", "bea@acme.example"),
    ]
    assert (await _pages(client, acme_admin, busy_acme, kind="factor_removed"))[0] == []


async def test_r19_the_audit_log_narrowed_to_an_address_as_it_was_recorded(client, busy_acme, acme_admin):
    bea = await User.get(email="bea@acme.example")
    await User.filter(id=bea.id).update(email="bea.renamed@acme.example")
    await client.login("bea.renamed@acme.example", "wrong-guess-3")

    before, _ = await _pages(client, acme_admin, busy_acme, email="  BEA@Acme ")
    after, _ = await _pages(client, acme_admin, busy_acme, email="renamed")

    # R13: history keeps the address of the time; the filter searches that, whatever it is today.
    assert [(e["kind"], e["subjectEmail"]) for e in before] == [
        ("user_created", "bea@acme.example"),
        ("login_failed", "bea@acme.example"),
        ("login_succeeded", "bea@acme.example"),
    ]
    assert [(e["kind"], e["subjectEmail"]) for e in after] == [("login_failed", "bea.renamed@acme.example")]


async def test_r19_the_audit_log_address_filter_matches_the_actor_too(client, busy_acme, acme_admin):
    changed = await client.run(
        "UpdateCustomerSettings", bearer=acme_admin, customerId=str(busy_acme.id), input={"rememberDeviceDays": 3}
    )
    assert changed["updateCustomerSettings"]["__typename"] == "CustomerSettingsUpdated"

    events, _ = await _pages(client, acme_admin, busy_acme, email="admin@", kind="settings_changed")

    assert [(e["actorEmail"], e["subjectEmail"]) for e in events] == [("admin@acme.example", None)]


@pytest.mark.parametrize("typed", ["%", "_", "a%e", "bea_acme", "\\"])
async def test_r19_the_audit_log_address_filter_takes_wildcards_literally(client, busy_acme, acme_admin, typed):
    events, _ = await _pages(client, acme_admin, busy_acme, email=typed)

    assert events == []


@pytest.mark.parametrize(
    ("filters", "field"),
    [({"kind": "no_such_kind"}, "kind"), ({"kind": ""}, "kind"), ({"email": "a" * 321}, "email")],
    ids=["unknown-kind", "empty-kind", "longer-than-an-address"],
)
async def test_r19_an_unknown_kind_or_an_overlong_address_is_invalid_input(
    client, busy_acme, acme_admin, filters, field
):
    result = (await client.run("AuditLog", bearer=acme_admin, id=str(busy_acme.id), **filters))["customer"]

    assert (result["auditLog"]["__typename"], result["auditLog"]["field"]) == ("InvalidInput", field)


async def test_r19_a_member_who_is_no_admin_gets_no_filtered_log_either(client, busy_acme):
    token = await client.login_token("bea@acme.example", PASSWORD)

    for filters in ({"newestFirst": True}, {"kind": "login_failed"}, {"kind": "no_such_kind"}, {"email": "bea"}):
        log = (await client.run("AuditLog", bearer=token, id=str(busy_acme.id), **filters))["customer"]["auditLog"]
        assert log["__typename"] == "PermissionDenied", (filters, log)


async def test_r19_a_bad_cursor_stays_invalid_input_newest_first(client, busy_acme, acme_admin):
    result = await client.run(
        "AuditLog", bearer=acme_admin, id=str(busy_acme.id), newestFirst=True, after=_b64("audit:x")
    )

    assert (result["customer"]["auditLog"]["__typename"], result["customer"]["auditLog"]["field"]) == (
        "InvalidInput",
        "after",
    )


async def test_r19_the_audit_event_kinds_are_every_kind_for_admins_only(client, busy_acme, acme_admin):
    kinds = (await client.run("AuditEventKinds", bearer=acme_admin, id=str(busy_acme.id)))["customer"]

    assert kinds["auditEventKinds"] == sorted(kind.value for kind in AuditKind)
    member = await client.login_token("bea@acme.example", PASSWORD)
    refused = (await client.post(operation("AuditEventKinds"), {"id": str(busy_acme.id)}, bearer=member)).json()
    assert refused["data"] == {"customer": None}
    assert refused["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
