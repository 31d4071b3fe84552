"""The plugin kit from the outside: isolation of misbehaving methods, the example policy plugin,
the JSON-lines audit exporter and `gql-server plugins`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gql_server.enums import MembershipLevel
from gql_server.models import OneTimeCode, Token
from gql_server.tokens import hash_token

from . import plugin_fakes
from .flows import PASSWORD, challenge, enroll, request_invitation, verify

FAKES = {"gql_server_plugins": "tests.plugin_fakes", "gql_server_plugin_timeout_seconds": 0.3}


@pytest.fixture(autouse=True)
def reset_fakes():
    plugin_fakes.MODE["send"] = "ok"
    plugin_fakes.SENT.clear()


async def _enroll_flaky(client, mailbox, make_user, acme) -> str:
    await make_user(acme, "anna@example.com", PASSWORD)
    invitation = await request_invitation(client, mailbox, "anna@example.com")
    begun = (await client.run("BeginEnrollment", invitation=invitation, method="flaky"))["beginEnrollment"]
    done = (await client.run("ConfirmEnrollment", enrollment=begun["enrollment"], code="100000"))["confirmEnrollment"]
    assert done["__typename"] == "EnrollmentCompleted", done
    return await challenge(client, "anna@example.com")


class TestMisbehavingMethods:
    @pytest.fixture
    def settings_overrides(self):
        return FAKES

    @pytest.mark.parametrize("code", ["boom", "hang"])
    async def test_a_verifier_that_raises_or_hangs_is_a_wrong_code_and_the_attempt_counts(
        self, client, mailbox, make_user, acme, caplog, code
    ):
        token = await _enroll_flaky(client, mailbox, make_user, acme)
        started = time.monotonic()

        result = await verify(client, token, "flaky", code)

        assert result["__typename"] == "InvalidCode" and result["attemptsLeft"] == 4
        assert time.monotonic() - started < 5
        assert (await Token.get(token_hash=hash_token(token))).attempts == 1
        assert "method flaky failed to verify a code" in caplog.text
        # The method keeps working for the next, right code.
        assert (await verify(client, token, "flaky", "100001"))["__typename"] == "LoginSuccess"

    @pytest.mark.parametrize("mode", ["boom", "hang"])
    async def test_a_sender_that_raises_or_hangs_is_not_available_and_leaves_no_code(
        self, client, mailbox, make_user, acme, caplog, mode
    ):
        await make_user(acme, "anna@example.com", PASSWORD)
        invitation = await request_invitation(client, mailbox, "anna@example.com")
        begun = (await client.run("BeginEnrollment", invitation=invitation, method="flakysms"))["beginEnrollment"]
        code = plugin_fakes.SENT[-1]
        await client.run("ConfirmEnrollment", enrollment=begun["enrollment"], code=code)
        token = await challenge(client, "anna@example.com")
        plugin_fakes.MODE["send"] = mode

        result = (await client.run("SendLoginCode", challenge=token, method="flakysms"))["sendLoginCode"]

        assert result["__typename"] == "MethodNotAvailable"
        assert not await OneTimeCode.filter(token__token_hash=hash_token(token), used_at=None).exists()
        assert "method flakysms failed to deliver a code" in caplog.text


class TestStrongAdminsPolicy:
    @pytest.fixture
    def settings_overrides(self):
        return {"gql_server_plugins": "gql_server_policy_strong_admins"}

    async def test_customer_level_members_cannot_enroll_email_codes(self, client, mailbox, make_user, acme):
        await make_user(acme, "admin@acme.example", PASSWORD, MembershipLevel.CUSTOMER)
        await make_user(acme, "worker@acme.example", PASSWORD, MembershipLevel.COMPANY)
        admin_invitation = await request_invitation(client, mailbox, "admin@acme.example")
        worker_invitation = await request_invitation(client, mailbox, "worker@acme.example")

        admin_methods = (await client.run("Invitation", token=admin_invitation))["invitation"]["methods"]
        refused = (await client.run("BeginEnrollment", invitation=admin_invitation, method="email_code"))[
            "beginEnrollment"
        ]
        worker_methods = (await client.run("Invitation", token=worker_invitation))["invitation"]["methods"]

        assert "email_code" not in [m["id"] for m in admin_methods]
        assert "totp" in [m["id"] for m in admin_methods]
        assert refused["__typename"] == "MethodNotAvailable"
        assert "email_code" in [m["id"] for m in worker_methods]
        await enroll(client, mailbox, worker_invitation, "email_code", email="worker@acme.example")


class TestAuditExport:
    @pytest.fixture
    def settings_overrides(self, tmp_path):
        return {"gql_server_audit_jsonl": str(tmp_path / "audit.jsonl")}

    async def test_every_audited_event_is_one_json_line_with_one_schema(
        self, client, make_customer, make_user, tmp_path
    ):
        await make_user(await make_customer("Relaxed Oy"), "anna@example.com", PASSWORD)
        await client.login("anna@example.com", PASSWORD)
        await client.login("anna@example.com", "wrong-guess")

        lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]

        assert [e["kind"] for e in lines] == ["customer_created", "user_created", "login_succeeded", "login_failed"]
        assert {tuple(sorted(e)) for e in lines} == {("actor", "at", "customer", "data", "id", "kind", "subject")}
        assert lines[2]["data"]["method"] == "password"
        assert "wrong-guess" not in (tmp_path / "audit.jsonl").read_text()


@pytest.mark.slow  # runs the CLI / pytest as a process
def test_cli_plugins_lists_plugins_and_methods_with_capabilities(tmp_path):
    env = {"SECRET_KEY": "cli-test-secret-key-that-is-long-enough-0123", "DATABASE_URL": f"sqlite://{tmp_path}/x"}

    def listing(**extra: str) -> dict:
        result = subprocess.run(
            [sys.executable, "-m", "gql_server.cli", "plugins"],
            env={**env, **extra, "PATH": ""},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    default = listing()
    without_totp = listing(GQL_SERVER_DISABLED_PLUGINS="totp")

    totp = next(m for m in default["methods"] if m["id"] == "totp")
    assert totp == {
        "id": "totp", "displayName": "Authenticator app", "channel": "authenticator_app",
        "phishingResistant": False, "enrollable": True, "plugin": "totp", "active": True,
        "capabilities": {
            "kind": "possession", "phishingResistant": False, "hardwareBound": False, "deliversCodes": False,
            "browserApi": None,
        },
        "ui": {"prompt": "code", "languages": ["en", "fi"]},
    }  # fmt: skip
    assert {"name": "totp", "distribution": "gql-server"}.items() <= next(
        p for p in default["plugins"] if p["name"] == "totp"
    ).items()
    assert "totp" not in [m["id"] for m in without_totp["methods"]]


def _pytest_in(folder: Path, *, hide: str | None) -> subprocess.CompletedProcess[str]:
    """pytest run on `folder` in a fresh interpreter, with the module `hide` made unimportable."""
    hiding = f"sys.modules[{hide!r}] = None; " if hide else ""
    program = f"import sys; {hiding}import pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '.']))"
    return subprocess.run(
        [sys.executable, "-c", program], cwd=folder, capture_output=True, text=True, timeout=120, check=False
    )


# (pytest-asyncio is a pytest plugin of its own: without it, pytest-asyncio is what is missing, not us.)
@pytest.mark.slow  # runs the CLI / pytest as a process
@pytest.mark.parametrize("hide", ["aiosmtpd", "httpx", None])
def test_pytest_starts_with_or_without_the_testing_extra(tmp_path, hide):
    (tmp_path / "test_other_project.py").write_text(
        "def test_loaded(request):\n"
        "    assert request.config.pluginmanager.has_plugin('gql_server.testing') is LOADED\n".replace(
            "LOADED", str(hide is None)
        )
    )

    run = _pytest_in(tmp_path, hide=hide)

    assert run.returncode == 0, run.stdout + run.stderr
    if hide:
        assert f"gql_server.testing is not loaded: {hide} missing (pip install 'gql-server[testing]')" in run.stdout
