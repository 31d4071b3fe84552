"""Issue 16's proof: the third-party `webauthn` method (plugins/gql-server-webauthn), passkeys and security keys
as a second factor, driven over GraphQL as a frontend would, with a software authenticator standing in for the
browser and the key (tests/webauthn_authenticator.py, written from the WebAuthn format, not from py_webauthn).

Enrollment during conversion (beginEnrollment's options -> navigator.credentials.create() -> confirmEnrollment),
login (beginSecondFactor -> .get() -> verifySecondFactor), step-up (beginReauthentication -> reauthenticate);
refused: a cloned key whose signature count goes back (the core's replay guard, S8), a page on another origin,
a key made for another RP ID, another credential's assertion. Both kinds of signature counter: a security key
that counts, a passkey that always reports 0. Every test through the API runs on SQLite and on PostgreSQL. Last,
hostile responses (Hypothesis) given to the method directly: anything that is not right is a wrong answer (None),
never an exception for the core to log as the plugin's failure.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

if importlib.util.find_spec("gql_server_webauthn") is None:
    _MISSING = "gql-server-webauthn is not installed: run `.venv/bin/pip install -e plugins/gql-server-webauthn`"
    if os.environ.get("CI"):
        pytest.fail(f"{_MISSING} (CI must run the webauthn plugin tests)", pytrace=False)
    pytest.skip(_MISSING, allow_module_level=True)

import gql_server_webauthn
from gql_server_webauthn import ConfigurationError, RelyingParty, WebAuthnMethod, next_counter, relying_party

from gql_server.models import AuditEvent, EnrolledFactor
from gql_server.plugin_api import Account, ChallengeResponseMethod

from .flows import PASSWORD, challenge, request_invitation, verify
from .test_plugin_contract import _core_imports
from .webauthn_authenticator import SoftAuthenticator, b64url, unb64url

EMAIL = "anna@example.com"
RP_ID = "example.test"
# A subdomain of the RP ID: the credentials are the RP ID's, usable on any of its subdomains.
ORIGIN = "https://login.example.test"


@pytest.fixture(autouse=True)
def relying_party_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin reads its relying party from the environment at each call."""
    monkeypatch.setenv("GQL_SERVER_WEBAUTHN_RP_ID", RP_ID)
    monkeypatch.setenv("GQL_SERVER_WEBAUTHN_ORIGIN", ORIGIN)
    monkeypatch.delenv("GQL_SERVER_WEBAUTHN_RP_NAME", raising=False)


async def _begin_enrollment(client, mailbox, make_user, acme) -> dict[str, Any]:
    await make_user(acme, EMAIL, PASSWORD)
    invitation = await request_invitation(client, mailbox, EMAIL)
    begun: dict[str, Any] = (await client.run("BeginEnrollment", invitation=invitation, method="webauthn"))[
        "beginEnrollment"
    ]
    assert begun["__typename"] == "EnrollmentStarted", begun
    return begun


async def _confirm(client, begun: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    done: dict[str, Any] = (
        await client.run("ConfirmEnrollment", enrollment=begun["enrollment"], code=json.dumps(response))
    )["confirmEnrollment"]
    return done


async def _enrolled(client, mailbox, make_user, acme, key: SoftAuthenticator) -> None:
    """Anna converts and enrolls `key` from her invitation."""
    begun = await _begin_enrollment(client, mailbox, make_user, acme)
    done = await _confirm(client, begun, key.create(begun["options"]))
    assert done["__typename"] == "EnrollmentCompleted", done
    client.forget_cookies()


async def _options(client, token: str) -> dict[str, Any]:
    """beginSecondFactor's options for the login challenge `token`."""
    begun = (await client.run("BeginSecondFactor", challenge=token, method="webauthn"))["beginSecondFactor"]
    assert begun["__typename"] == "SecondFactorChallenge", begun
    options: dict[str, Any] = begun["options"]
    return options


async def _log_in(client, key: SoftAuthenticator, **assertion: Any) -> dict[str, Any]:
    """A whole login: password, beginSecondFactor, the key's assertion, verifySecondFactor."""
    token = await challenge(client, EMAIL)
    answer = await verify(client, token, "webauthn", json.dumps(key.get(await _options(client, token), **assertion)))
    client.forget_cookies()
    return answer


async def _add_key(client, signing: SoftAuthenticator, new: SoftAuthenticator) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sign in with `signing`, then addFactor + confirmFactor with `new`'s registration: (addFactor's
    EnrollmentStarted, confirmFactor's answer)."""
    token = await challenge(client, EMAIL)
    session = (await verify(client, token, "webauthn", json.dumps(signing.get(await _options(client, token)))))["token"]
    begun: dict[str, Any] = (await client.run("AddFactor", bearer=session, method="webauthn"))["addFactor"]
    confirmed: dict[str, Any] = (
        await client.run(
            "ConfirmFactor",
            bearer=session,
            enrollment=begun["enrollment"],
            code=json.dumps(new.create(begun["options"])),
        )
    )["confirmFactor"]
    return begun, confirmed


async def _factor() -> EnrolledFactor:
    return await EnrolledFactor.get(method="webauthn")


# --- what the service offers --------------------------------------------------------------------


def test_the_package_imports_only_the_plugin_api() -> None:
    package = Path(str(gql_server_webauthn.__file__)).parent
    sources = sorted(package.glob("*.py"))
    assert len(sources) >= 3
    assert set().union(*(_core_imports(p) for p in sources)) == {"gql_server.plugin_api"}


def test_it_is_a_challenge_response_method() -> None:
    assert isinstance(WebAuthnMethod(), ChallengeResponseMethod)


async def test_the_service_offers_passkeys_as_phishing_resistant_hardware(client):
    methods = {m["id"]: m for m in (await client.run("SecondFactorMethods"))["secondFactorMethods"]}

    assert methods["webauthn"]["displayName"] == "Passkey or security key"
    assert methods["webauthn"]["channel"] == "security_key"
    assert methods["webauthn"]["phishingResistant"] is True
    assert methods["webauthn"]["capabilities"] == {
        "kind": "POSSESSION",
        "phishingResistant": True,
        "hardwareBound": True,
        "deliversCodes": False,
        "browserApi": "webauthn",
    }


# --- enrollment ------------------------------------------------------------------------------------


async def test_enrollment_options_are_what_the_browser_needs(client, mailbox, make_user, acme):
    begun = await _begin_enrollment(client, mailbox, make_user, acme)
    options = begun["options"]

    assert options["rp"] == {"id": RP_ID, "name": "gql_server"}
    assert options["user"]["name"] == EMAIL and options["user"]["displayName"] == EMAIL
    assert len(unb64url(options["challenge"])) >= 32
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
    # The user handle is no personal data: never the address.
    assert EMAIL.encode() not in unb64url(options["user"]["id"])


async def test_a_key_is_enrolled_during_conversion_and_signs_in(client, mailbox, make_user, acme):
    key = SoftAuthenticator(ORIGIN)
    await _enrolled(client, mailbox, make_user, acme, key)
    token = await challenge(client, EMAIL)

    options = await _options(client, token)
    signed_in = await verify(client, token, "webauthn", json.dumps(key.get(options)))

    assert options["rpId"] == RP_ID and options["userVerification"] == "preferred"
    assert options["allowCredentials"] == [{"type": "public-key", "id": key.id, "transports": ["usb"]}]
    assert signed_in["__typename"] == "LoginSuccess", signed_in
    assert signed_in["session"]["assurance"] == "TWO_FACTOR"
    assert (await _factor()).last_counter == 1


async def test_a_registration_from_another_origin_or_for_another_rp_enrolls_nothing(client, mailbox, make_user, acme):
    begun = await _begin_enrollment(client, mailbox, make_user, acme)
    key = SoftAuthenticator(ORIGIN)

    phished = await _confirm(client, begun, key.create(begun["options"], origin="https://example.test.evil.example"))
    other_rp = await _confirm(client, begun, key.create(begun["options"], rp_id="evil.example"))
    stale = await _confirm(client, begun, key.create({**begun["options"], "challenge": "c3RhbGU"}))

    assert [r["__typename"] for r in (phished, other_rp, stale)] == ["InvalidCode"] * 3
    assert not await EnrolledFactor.filter(method="webauthn").exists()
    # The right response still enrolls: the wrong ones only cost attempts.
    assert (await _confirm(client, begun, key.create(begun["options"])))["__typename"] == "EnrollmentCompleted"


async def test_a_second_key_is_added_from_the_account_and_either_signs_in(client, mailbox, make_user, acme):
    first, second = SoftAuthenticator(ORIGIN), SoftAuthenticator(ORIGIN, counting=False, transports=("internal",))
    await _enrolled(client, mailbox, make_user, acme, first)

    _, added = await _add_key(client, first, second)
    client.forget_cookies()

    assert added["__typename"] == "FactorAdded", added
    token = await challenge(client, EMAIL)
    options = await _options(client, token)
    assert {c["id"] for c in options["allowCredentials"]} == {first.id, second.id}
    assert (await verify(client, token, "webauthn", json.dumps(second.get(options))))["__typename"] == "LoginSuccess"
    client.forget_cookies()
    assert (await _log_in(client, first))["__typename"] == "LoginSuccess"


async def test_a_key_already_enrolled_is_excluded_and_refused_a_second_time(client, mailbox, make_user, acme):
    key = SoftAuthenticator(ORIGIN)
    await _enrolled(client, mailbox, make_user, acme, key)

    # A client that ignores excludeCredentials (a browser would refuse to register the key again) is refused.
    begun, again = await _add_key(client, key, key)

    assert [c["id"] for c in begun["options"]["excludeCredentials"]] == [key.id]
    assert again["__typename"] == "InvalidCode", again
    assert await EnrolledFactor.filter(method="webauthn").count() == 1


# --- signature counters ------------------------------------------------------------------------------


async def test_a_security_key_that_counts_signs_in_with_its_count(client, mailbox, make_user, acme):
    key = SoftAuthenticator(ORIGIN, counting=True)
    await _enrolled(client, mailbox, make_user, acme, key)

    first = await _log_in(client, key)
    second = await _log_in(client, key, count=7)

    assert (first["__typename"], second["__typename"]) == ("LoginSuccess", "LoginSuccess")
    assert (await _factor()).last_counter == 7


async def test_a_passkey_that_always_reports_zero_signs_in_every_time(client, mailbox, make_user, acme):
    key = SoftAuthenticator(ORIGIN, counting=False)
    await _enrolled(client, mailbox, make_user, acme, key)

    answers = [(await _log_in(client, key))["__typename"] for _ in range(3)]

    assert answers == ["LoginSuccess"] * 3
    # The counter the core guards grows by one per use; the challenge, single use, prevents replays.
    assert (await _factor()).last_counter == 3
    assert not await AuditEvent.filter(kind="replay_refused").exists()


async def test_a_cloned_key_whose_count_goes_back_is_refused(client, mailbox, make_user, acme):
    key = SoftAuthenticator(ORIGIN, counting=True)
    await _enrolled(client, mailbox, make_user, acme, key)
    clone = key.clone()
    assert (await _log_in(client, key, count=5))["__typename"] == "LoginSuccess"

    behind = await _log_in(client, clone, count=3)
    same = await _log_in(client, clone, count=5)
    zero = await _log_in(client, clone, count=0)

    # Right signatures over fresh challenges, with counts that did not grow: the core's replay guard (S8).
    assert [r["__typename"] for r in (behind, same, zero)] == ["InvalidCode"] * 3
    assert await AuditEvent.filter(kind="replay_refused").count() == 3
    assert (await _factor()).last_counter == 5
    assert (await _log_in(client, key, count=6))["__typename"] == "LoginSuccess"


# --- refused assertions ---------------------------------------------------------------------------------


async def test_an_assertion_made_on_another_origin_is_refused(client, mailbox, make_user, acme):
    key = SoftAuthenticator(ORIGIN)
    await _enrolled(client, mailbox, make_user, acme, key)

    phished = await _log_in(client, key, origin="https://login.example.test.evil.example")

    assert phished["__typename"] == "InvalidCode"
    assert (await _log_in(client, key))["__typename"] == "LoginSuccess"


async def test_another_credentials_assertion_is_refused(client, mailbox, make_user, acme):
    key = SoftAuthenticator(ORIGIN)
    await _enrolled(client, mailbox, make_user, acme, key)
    stranger = SoftAuthenticator(ORIGIN)
    stranger.user_handle = key.user_handle
    token = await challenge(client, EMAIL)
    options = await _options(client, token)

    # A key that is not Anna's, answering her challenge; then the same under her key's id (a forged signature).
    other = await verify(client, token, "webauthn", json.dumps(stranger.get(options)))
    forged = stranger.get(options)
    forged["id"] = forged["rawId"] = key.id
    impostor = await verify(client, token, "webauthn", json.dumps(forged))

    assert (other["__typename"], impostor["__typename"]) == ("InvalidCode", "InvalidCode")
    assert (await verify(client, token, "webauthn", json.dumps(key.get(options))))["__typename"] == "LoginSuccess"


async def test_an_answer_to_an_older_challenge_is_refused(client, mailbox, make_user, acme):
    key = SoftAuthenticator(ORIGIN)
    await _enrolled(client, mailbox, make_user, acme, key)
    token = await challenge(client, EMAIL)
    older = await _options(client, token)
    newer = await _options(client, token)

    stale = await verify(client, token, "webauthn", json.dumps(key.get(older)))
    fresh = await verify(client, token, "webauthn", json.dumps(key.get(newer)))

    assert (stale["__typename"], fresh["__typename"]) == ("InvalidCode", "LoginSuccess")


@pytest.mark.parametrize(
    "code", ["", "{}", "[]", '{"id": 1}', '{"id": "x", "rawId": "x", "type": "public-key", "response": {}}']
)
async def test_anything_but_an_assertion_is_a_wrong_answer(client, mailbox, make_user, acme, code):
    key = SoftAuthenticator(ORIGIN)
    await _enrolled(client, mailbox, make_user, acme, key)
    token = await challenge(client, EMAIL)
    await _options(client, token)

    assert (await verify(client, token, "webauthn", code))["__typename"] == "InvalidCode"


# --- step-up -------------------------------------------------------------------------------------------


async def test_a_key_steps_up_a_session(client, mailbox, make_user, acme):
    key = SoftAuthenticator(ORIGIN)
    await _enrolled(client, mailbox, make_user, acme, key)
    token = await challenge(client, EMAIL)
    session = (await verify(client, token, "webauthn", json.dumps(key.get(await _options(client, token)))))["token"]

    begun = (await client.run("BeginReauthentication", bearer=session, method="webauthn"))["beginReauthentication"]
    phished = key.get(begun["options"], origin="https://evil.example")
    refused = (await client.run("Reauthenticate", bearer=session, method="webauthn", code=json.dumps(phished)))[
        "reauthenticate"
    ]
    answer = json.dumps(key.get(begun["options"]))
    stepped = (await client.run("Reauthenticate", bearer=session, method="webauthn", code=answer))["reauthenticate"]

    assert begun["__typename"] == "SecondFactorChallenge"
    assert begun["options"]["allowCredentials"][0]["id"] == key.id
    assert refused["__typename"] == "InvalidCode"
    assert stepped["__typename"] == "Reauthenticated", stepped
    # Counts 1 (login), 2 (the phished answer, refused), 3 (the step-up).
    assert (await _factor()).last_counter == 3


# --- the relying party's settings and the counter rule ----------------------------------------------------


@pytest.mark.parametrize(
    ("last_counter", "last_sign_count", "reported", "expected"),
    [
        (0, 0, 0, 1),  # a passkey that never counts: one more than the last
        (4, 0, 0, 5),
        (0, 0, 1, 1),  # a key that counts from its registration: its count
        (7, 7, 9, 9),
        (7, 7, 7, 7),  # the same count again: not above the last, refused by the core
        (7, 7, 3, 3),  # a count that went back (a clone): refused by the core
        (7, 7, 0, 0),
        (3, 0, 2, 5),  # a key that reported 0 three times and now counts: continues above 3
        (5, 2, 4, 7),
    ],
)
def test_the_counter_the_core_guards(last_counter, last_sign_count, reported, expected):
    assert next_counter(last_counter, last_sign_count, reported) == expected


def test_the_relying_party_defaults_to_the_public_url_then_localhost():
    public = relying_party(environ={"PUBLIC_URL": "https://Auth.Example.com/app/"})
    development = relying_party("Acme", environ={})

    assert public == RelyingParty(rp_id="auth.example.com", name="gql_server", origins=("https://auth.example.com",))
    assert development == RelyingParty(rp_id="localhost", name="Acme", origins=("http://localhost:8000",))


def test_the_relying_party_from_its_own_settings():
    rp = relying_party(
        environ={
            "GQL_SERVER_WEBAUTHN_RP_ID": "example.com",
            "GQL_SERVER_WEBAUTHN_ORIGIN": "https://example.com, https://app.example.com:8443",
            "GQL_SERVER_WEBAUTHN_RP_NAME": "Example",
            "PUBLIC_URL": "https://ignored.example.org",
        }
    )

    assert rp == RelyingParty(
        rp_id="example.com", name="Example", origins=("https://example.com", "https://app.example.com:8443")
    )


@pytest.mark.parametrize(
    "environ",
    [
        {"GQL_SERVER_WEBAUTHN_RP_ID": "example.com", "GQL_SERVER_WEBAUTHN_ORIGIN": "https://example.org"},
        {"GQL_SERVER_WEBAUTHN_RP_ID": "example.com", "GQL_SERVER_WEBAUTHN_ORIGIN": "https://notexample.com"},
        {"GQL_SERVER_WEBAUTHN_ORIGIN": "ftp://example.com"},
        {"GQL_SERVER_WEBAUTHN_ORIGIN": "example.com"},
    ],
)
def test_settings_that_cannot_work_are_refused(environ):
    with pytest.raises(ConfigurationError):
        relying_party(environ=environ)


def test_settings_that_cannot_work_are_the_methods_readiness_problem(monkeypatch):
    from gql_server.plugin_api import problem_of

    assert problem_of(WebAuthnMethod()) is None
    monkeypatch.setenv("GQL_SERVER_WEBAUTHN_RP_ID", "elsewhere.example")
    problem = problem_of(WebAuthnMethod())
    assert problem is not None and problem.startswith("its settings cannot work: ")


async def test_misconfigured_the_method_is_not_available(client, mailbox, make_user, acme, monkeypatch):
    monkeypatch.setenv("GQL_SERVER_WEBAUTHN_RP_ID", "elsewhere.example")
    await make_user(acme, EMAIL, PASSWORD)
    invitation = await request_invitation(client, mailbox, EMAIL)

    begun = (await client.run("BeginEnrollment", invitation=invitation, method="webauthn"))["beginEnrollment"]

    assert begun["__typename"] == "MethodNotAvailable"


async def test_the_user_handle_is_the_same_for_every_enrollment_of_a_user():
    method = WebAuthnMethod(RelyingParty(rp_id=RP_ID, name="Acme", origins=(ORIGIN,)))
    account = Account(user_id="0b7d3f5e-6f0c-4a8e-9a55-2f1e8f1c9d11", email=EMAIL, issuer="Acme")

    first, second = await method.begin_enrollment(account), await method.begin_enrollment(account)

    assert first.options is not None and second.options is not None
    assert first.state["user_handle"] == second.state["user_handle"]
    assert first.state["challenge"] != second.state["challenge"]
    assert first.options["rp"] == {"id": RP_ID, "name": "Acme"}


# --- hostile responses: a wrong answer, never a plugin failure ------------------------------------------------

RP = RelyingParty(rp_id=RP_ID, name="Acme", origins=(ORIGIN,))
ACCOUNT = Account(user_id="0b7d3f5e-6f0c-4a8e-9a55-2f1e8f1c9d11", email=EMAIL, issuer="Acme")
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
# A field as a client might send it: base64url of any bytes, any text, or any JSON value.
FIELD = st.binary(max_size=120).map(b64url) | st.text(max_size=40) | JSON
COSE_KEY = st.dictionaries(st.integers(-4, 4), st.integers(-300, 300) | st.binary(max_size=40), max_size=5)


@functools.cache
def _enrolled_state() -> tuple[SoftAuthenticator, dict[str, str]]:
    """A key enrolled with the method directly (no service): the key and its factor's state."""
    method, key = WebAuthnMethod(RP), SoftAuthenticator(ORIGIN)
    draft = asyncio.run(method.begin_enrollment(ACCOUNT))
    assert draft.options is not None
    verified = asyncio.run(method.finish_enrollment(draft.state, key.create(dict(draft.options))))
    assert verified is not None and verified.state is not None
    return key, dict(verified.state)


@given(
    JSON | st.fixed_dictionaries({"id": st.just("KEY"), "rawId": st.just("KEY") | FIELD, "type": FIELD}),
    st.dictionaries(st.sampled_from(["clientDataJSON", "authenticatorData", "signature", "userHandle"]), FIELD),
)
def test_any_assertion_that_is_not_right_is_refused_without_an_error(outer, inner):
    """The id "KEY" stands for the enrolled key's, so that the checks go past the id."""
    key, state = _enrolled_state()
    method = WebAuthnMethod(RP)
    challenge = asyncio.run(method.begin_challenge([state]))
    if isinstance(outer, dict):
        response = {**{k: key.id if v == "KEY" else v for k, v in outer.items()}, "response": inner}
    else:
        response = {"id": key.id, "response": outer}

    assert asyncio.run(method.verify_response(state, challenge.pending, response)) is None


@given(
    st.sampled_from(["clientDataJSON", "authenticatorData", "signature"]), st.integers(0, 10_000), st.integers(1, 255)
)
def test_an_assertion_with_any_byte_changed_is_refused(field, position, flip):
    key, state = _enrolled_state()
    method = WebAuthnMethod(RP)
    challenge = asyncio.run(method.begin_challenge([state]))
    response = key.get(dict(challenge.options))
    raw = bytearray(unb64url(response["response"][field]))
    raw[position % len(raw)] ^= flip
    response["response"][field] = b64url(bytes(raw))

    assert asyncio.run(method.verify_response(state, challenge.pending, response)) is None


@given(st.none() | FIELD, st.none() | FIELD, COSE_KEY, st.integers(0, 255), st.binary(max_size=8))
def test_any_registration_that_is_not_right_is_refused_without_an_error(client_data, fmt, cose_key, flags, tail):
    """None: the right clientDataJSON, and "none" attestation, so that the checks reach the key itself."""
    method = WebAuthnMethod(RP)
    draft = asyncio.run(method.begin_enrollment(ACCOUNT))
    if client_data is None:
        collected = {"type": "webauthn.create", "challenge": draft.state["challenge"], "origin": ORIGIN}
        client_data = b64url(json.dumps(collected).encode())
    credential_id = b"\x01" * 16
    auth_data = (
        hashlib.sha256(RP_ID.encode()).digest()
        + bytes([flags])
        + bytes(4)
        + bytes(16)
        + len(credential_id).to_bytes(2, "big")
        + credential_id
        + cbor2.dumps(cose_key)
        + tail
    )
    attestation = cbor2.dumps({"fmt": "none" if fmt is None else fmt, "attStmt": {}, "authData": auth_data})
    response = {
        "id": b64url(credential_id),
        "rawId": b64url(credential_id),
        "type": "public-key",
        "response": {"clientDataJSON": client_data, "attestationObject": b64url(attestation)},
    }

    assert asyncio.run(method.finish_enrollment(draft.state, response)) is None


def test_a_registered_key_that_is_no_point_on_its_curve_is_refused():
    method, key = WebAuthnMethod(RP), SoftAuthenticator(ORIGIN)
    key._cose_key = lambda: cbor2.dumps({1: 2, 3: -7, -1: 1, -2: bytes(32), -3: bytes(31) + b"\x01"})
    draft = asyncio.run(method.begin_enrollment(ACCOUNT))
    assert draft.options is not None

    assert asyncio.run(method.finish_enrollment(draft.state, key.create(dict(draft.options)))) is None
