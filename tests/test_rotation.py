"""Rotating SECRET_KEY (issue 5): every factor state is re-encrypted, logins keep working, and a wrong
old key changes nothing. The real service, the real database (SQLite and PostgreSQL), the real CLI.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from tortoise import Tortoise

from gql_server.app import create_app
from gql_server.clock import utcnow
from gql_server.crypto import Keyring, StateUnreadable
from gql_server.db import tortoise_config
from gql_server.enums import MembershipLevel, TokenPurpose
from gql_server.models import Customer, EnrolledFactor, MailOutbox, Token, User
from gql_server.rotation import RotationRefused, RotationReport, read_old_secret_key, rotate_factor_states
from gql_server.services import Services
from gql_server.settings import Settings

from .conftest import SECRET
from .flows import PASSWORD, challenge, convert, request_invitation, totp_code, verify
from .graphql import GraphQLClient
from .local_services import free_port
from .mailbox import Mailbox, invitation_token_in, running_smtp_server

OLD = SECRET  # the key the `settings` fixture runs the service with
NEW = "the-new-secret-key-after-rotation-0123456789"
WRONG = "a-key-this-service-never-ran-with-0123456789"


def with_key(settings: Settings, key: str) -> Settings:
    """The same settings with another SECRET_KEY (a fresh object: resolved_secret_key is cached)."""
    return Settings(_env_file=None, **{**settings.model_dump(), "secret_key": key})  # type: ignore[call-arg]


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Services, GraphQLClient]]:
    """A service process: the real app with its lifespan, and a browser-like client."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield application.state.services, GraphQLClient(http)


async def enforcing_customer_with(services: Services, *emails: str) -> Customer:
    """A customer enforcing two factors, with a password user per email."""
    customer = await services.operator.create_customer("Acme Oy")
    customer.enforce_two_factor = True
    await customer.save()
    for email in emails:
        await services.operator.create_user(
            customer_id=str(customer.id), email=email, level=MembershipLevel.COMPANY, password=PASSWORD
        )
    return customer


async def stored_ciphertexts() -> dict[str, Any]:
    """Every ciphertext the rotation may touch, to show what it did (or did not) change."""
    factors = await EnrolledFactor.all().order_by("id").values_list("id", "state_encrypted")
    tokens = await Token.filter(purpose=TokenPurpose.ENROLLMENT).order_by("id").values_list("id", "data")
    return {"factors": dict(factors), "enrollments": dict(tokens)}


async def test_after_rotation_a_service_with_the_new_key_logs_in_with_totp(
    settings: Settings, mailbox: Mailbox
) -> None:
    # Before: the service runs with the old key. Anna converted with TOTP; Bob scanned his QR code
    # but has not confirmed yet when the operator stops the service to rotate.
    async with running(settings) as (services, client):
        await enforcing_customer_with(services, "anna@example.com", "bob@example.com")
        anna = await convert(client, mailbox, "anna@example.com", "totp")
        invitation = await request_invitation(client, mailbox, "bob@example.com")
        bob = (await client.run("BeginEnrollment", invitation=invitation, method="totp"))["beginEnrollment"]
        assert bob["__typename"] == "EnrollmentStarted", bob

    # The rotation, as `gql-server rotate-secret-key` runs it: service stopped, ORM up for the command.
    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        report = await rotate_factor_states(Keyring(OLD), Keyring(NEW))
        [factor] = await EnrolledFactor.all()
        state = factor.state_encrypted
    finally:
        await Tortoise.close_connections()
    assert report == RotationReport(
        reencrypted=1,
        already_current=0,
        enrollments_reencrypted=1,
        users_needing_new_recovery_codes=1,
        mail_reencrypted=0,
    )
    assert Keyring(NEW).decrypt_state(state) == {"secret": anna.secret}
    with pytest.raises(StateUnreadable):
        Keyring(OLD).decrypt_state(state)

    # After: a new service process with only the new key.
    async with running(with_key(settings, NEW)) as (_, client):
        login = await challenge(client, "anna@example.com")
        # Recovery codes are keyed digests of codes nobody knows any more: they cannot follow the key
        # (documented in docs/operations.md and counted in the report above).
        stale = await verify(client, login, "recovery_code", anna.recovery_codes[0])
        assert (stale["__typename"], stale["attemptsLeft"]) == ("InvalidCode", 4)
        assert (await verify(client, login, "totp", totp_code(anna.secret or "", 1)))["__typename"] == "LoginSuccess"

        # Bob's enrollment, begun under the old key, completes under the new one.
        done = (await client.run("ConfirmEnrollment", enrollment=bob["enrollment"], code=totp_code(bob["secret"])))[
            "confirmEnrollment"
        ]
        assert done["__typename"] == "EnrollmentCompleted", done
        bob_login = await challenge(client, "bob@example.com")
        assert (await verify(client, bob_login, "totp", totp_code(bob["secret"], 1)))["__typename"] == "LoginSuccess"
        # Recovery codes issued after the rotation are digested with the new key and work.
        again = await challenge(client, "bob@example.com")
        assert (await verify(client, again, "recovery_code", done["recoveryCodes"][0]))["__typename"] == "LoginSuccess"


@pytest.fixture
async def anna(services: Services, client: GraphQLClient, mailbox: Mailbox) -> User:
    """A user converted with TOTP while the service runs with the old key."""
    await enforcing_customer_with(services, "anna@example.com")
    await convert(client, mailbox, "anna@example.com", "totp")
    return await User.get(email="anna@example.com")


async def test_a_wrong_old_key_refuses_and_changes_nothing(anna: User) -> None:
    before = await stored_ciphertexts()

    with pytest.raises(RotationRefused, match=r"neither with the old key nor with SECRET_KEY.*Nothing was changed"):
        await rotate_factor_states(Keyring(WRONG), Keyring(NEW))

    assert await stored_ciphertexts() == before
    [state] = before["factors"].values()
    assert Keyring(OLD).decrypt_state(state)


async def test_one_unreadable_state_refuses_the_whole_rotation(anna: User) -> None:
    # A state under some third key (tampered, or written by a misconfigured process): the readable
    # factor must not be rotated on its own, or the database would hold two keys' worth of states.
    odd = await EnrolledFactor.create(
        user=anna, method="totp", state_encrypted=Keyring(WRONG).encrypt_state({"secret": "X"}), created_at=utcnow()
    )
    before = await stored_ciphertexts()

    with pytest.raises(RotationRefused, match=rf"1 enrolled factor\(s\) \({odd.id}\)"):
        await rotate_factor_states(Keyring(OLD), Keyring(NEW))

    assert await stored_ciphertexts() == before


async def test_a_rerun_is_idempotent_and_picks_up_stragglers(anna: User) -> None:
    first = await rotate_factor_states(Keyring(OLD), Keyring(NEW))
    after_first = await stored_ciphertexts()

    rerun = await rotate_factor_states(Keyring(OLD), Keyring(NEW))

    assert (first.reencrypted, first.already_current, first.users_needing_new_recovery_codes) == (1, 0, 1)
    assert rerun == RotationReport(
        reencrypted=0, already_current=1, enrollments_reencrypted=0, users_needing_new_recovery_codes=0
    )
    assert await stored_ciphertexts() == after_first  # nothing rewritten

    # A worker still running with the old key enrolled a factor after the first run: a rerun fixes it.
    straggler = await EnrolledFactor.create(
        user=anna,
        method="totp",
        state_encrypted=Keyring(OLD).encrypt_state({"secret": pyotp.random_base32()}),
        created_at=utcnow(),
    )
    third = await rotate_factor_states(Keyring(OLD), Keyring(NEW))
    assert (third.reencrypted, third.already_current) == (1, 1)
    await straggler.refresh_from_db()
    assert Keyring(NEW).decrypt_state(straggler.state_encrypted)


async def test_the_same_key_twice_is_refused(anna: User) -> None:
    with pytest.raises(RotationRefused, match="same key"):
        await rotate_factor_states(Keyring(OLD), Keyring(OLD))


def test_the_old_key_comes_from_the_environment_or_a_file_never_both(tmp_path: Path) -> None:
    key_file = tmp_path / "old.key"
    key_file.write_text(f"{OLD}\n")

    assert read_old_secret_key(None, {"OLD_SECRET_KEY": f" {OLD} "}) == OLD
    assert read_old_secret_key(key_file, {}) == OLD
    with pytest.raises(RotationRefused, match="not both"):
        read_old_secret_key(key_file, {"OLD_SECRET_KEY": OLD})
    with pytest.raises(RotationRefused, match="Set OLD_SECRET_KEY"):
        read_old_secret_key(None, {})
    with pytest.raises(RotationRefused, match="Cannot read the old key file"):
        read_old_secret_key(tmp_path / "missing.key", {})
    with pytest.raises(RotationRefused, match="fewer than 32 characters") as short:
        read_old_secret_key(None, {"OLD_SECRET_KEY": "short-old-value"})
    assert "short-old-value" not in str(short.value)


# The command line, on a SQLite file, as an operator runs it (like tests/test_cli.py).

EXE = [sys.executable, "-m", "gql_server.cli"]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.slow  # runs the CLI as a process
def test_cli_rotate_secret_key(tmp_path: Path) -> None:
    db_path = tmp_path / "cli.sqlite3"
    base = {
        **{k: v for k, v in os.environ.items() if k != "OLD_SECRET_KEY"},
        "DATABASE_URL": f"sqlite://{db_path}",
        "GQL_SERVER_ENV": "development",
    }
    before = {**base, "SECRET_KEY": OLD}
    customer_id = json.loads(cli(before, "customer", "create", "Acme Oy").stdout)["id"]
    user = cli(before, "user", "create", "--customer", customer_id, "--email", "anna@example.com", "--password", PASSWORD, "--level", "company")  # fmt: skip
    assert user.returncode == 0, user.stderr
    factor_id = str(uuid.uuid4())
    with sqlite3.connect(db_path) as db:
        db.execute(
            "INSERT INTO enrolled_factor (id, user_id, method, state_encrypted, created_at) VALUES (?, ?, 'totp', ?, ?)",
            (
                factor_id,
                json.loads(user.stdout)["id"],
                Keyring(OLD).encrypt_state({"secret": "S3CRET"}),
                utcnow().isoformat(),
            ),
        )

    def stored() -> str:
        with sqlite3.connect(db_path) as db:
            (state,) = db.execute("SELECT state_encrypted FROM enrolled_factor WHERE id = ?", (factor_id,)).fetchone()
        return str(state)

    after = {**base, "SECRET_KEY": NEW}
    original = stored()

    wrong = cli({**after, "OLD_SECRET_KEY": WRONG}, "rotate-secret-key")
    assert wrong.returncode == 1 and wrong.stdout == ""
    assert "can be decrypted neither" in wrong.stderr and "Nothing was changed" in wrong.stderr
    assert WRONG not in wrong.stderr and NEW not in wrong.stderr and "Traceback" not in wrong.stderr
    assert stored() == original

    missing = cli(after, "rotate-secret-key")
    assert missing.returncode == 1 and "Set OLD_SECRET_KEY" in missing.stderr

    done = cli({**after, "OLD_SECRET_KEY": OLD}, "rotate-secret-key")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "reencrypted": 1, "already_current": 0, "enrollments_reencrypted": 0, "users_needing_new_recovery_codes": 0,
        "mail_reencrypted": 0,
    }  # fmt: skip
    assert Keyring(NEW).decrypt_state(stored()) == {"secret": "S3CRET"}

    key_file = tmp_path / "old.key"
    key_file.write_text(OLD + "\n")
    rerun = cli(after, "rotate-secret-key", "--old-key-file", str(key_file))
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["reencrypted"] == 0
    assert json.loads(rerun.stdout)["already_current"] == 1


async def test_s36_mail_waiting_in_the_outbox_goes_out_after_the_rotation(settings: Settings) -> None:
    # The mail server is down when anna asks for her invitation; the operator rotates the key meanwhile.
    port = free_port()
    down = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}"})
    async with running(down) as (services, client):
        await enforcing_customer_with(services, "anna@example.com")
        ticket = (await client.login("anna@example.com", PASSWORD))["ticket"]
        sent = (await client.run("RequestConversion", ticket=ticket, email="anna@example.com"))["requestConversion"]
        assert sent["delivery"] == "QUEUED", sent

    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        report = await rotate_factor_states(Keyring(OLD), Keyring(NEW))
    finally:
        await Tortoise.close_connections()
    assert report.mail_reencrypted == 1

    # The mail server is back where SMTP_URL points, and the service runs with the new key only.
    with running_smtp_server(port=port) as mailbox:
        async with running(with_key(down, NEW)) as (services, client):
            await MailOutbox.filter(sent_at=None).update(next_attempt_at=utcnow(), claimed_until=None)
            # Whichever claims it first delivers it: this call, or the app's own outbox worker.
            await services.outbox.deliver_due()
            message = await mailbox.next_to("anna@example.com", "invitation")
            shown = (await client.run("Invitation", token=invitation_token_in(message)))["invitation"]
            assert shown["email"] == "anna@example.com"
