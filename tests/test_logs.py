"""Structured logs (issue 8): request ids, one access line per request, text or JSON lines, and S25:
the logs of whole conversions and logins hold none of the secrets that went through them.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from typing import Any

import pytest

from gql_server.enums import MembershipLevel
from gql_server.logs import QUIET_AT_DEBUG, JsonFormatter, RequestIdFilter, TextFormatter, logging_config
from gql_server.settings import LogFormat, Settings

from .conftest import SECRET
from .flows import PASSWORD, totp_code
from .graphql import operation
from .mailbox import code_in, invitation_token_in

FORMATTERS = {"text": TextFormatter, "json": JsonFormatter}
# Not the service: the test's own HTTP client logs every URL it requests (query strings included), and the
# test's SMTP server (aiosmtpd, "mail.log") logs every message it receives. The service's SMS plugin uses
# httpx too, but no flow below sends an SMS.
CLIENT_LOGGERS = ("httpx", "httpcore", "mail.log")


class Captured:
    """Every record the service logs while a test runs, formatted as the service would write it."""

    def __init__(self, log_format: str) -> None:
        self.json = log_format == "json"
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(FORMATTERS[log_format]())
        self.handler.addFilter(RequestIdFilter())
        self.handler.addFilter(lambda record: not record.name.startswith(CLIENT_LOGGERS))

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines()]


@pytest.fixture(params=["text", "json"])
def captured(request: pytest.FixtureRequest) -> Iterator[Captured]:
    """The logs at DEBUG, the most the service can be asked to write (LOG_LEVEL=DEBUG)."""
    capture = Captured(request.param)
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture.handler)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture.handler)
        root.setLevel(level)


class Secrets:
    """Everything secret the test sends or receives, to look for in the logs afterwards."""

    def __init__(self, *initial: str) -> None:
        self.values: set[str] = set(initial)

    def add(self, *values: Any) -> None:
        for value in values:
            if isinstance(value, list):
                self.add(*value)
            elif value:
                self.values.add(str(value))

    def found_in(self, text: str) -> list[str]:
        return sorted(secret for secret in self.values if secret in text)


async def test_s25_the_logs_of_whole_conversions_and_logins_hold_no_secret(
    client, mailbox, operator, acme, make_user, captured
):
    secrets = Secrets(PASSWORD, SECRET)
    request_ids: list[str] = []

    async def run(name: str, bearer: str | None = None, **variables: Any) -> dict[str, Any]:
        response = await client.post(operation(name), variables, bearer=bearer)
        assert response.status_code == 200, response.text
        request_ids.append(response.headers["x-request-id"])
        body = response.json()
        assert "errors" not in body, body
        return next(iter(body["data"].values()))

    # A password user converts to an authenticator app (R3-R5), with a wrong code on the way.
    await make_user(acme, "anna@example.com", PASSWORD)
    wrong_passwords = ["not my password 1", "not my password 2", "not my password 3"]
    secrets.add(wrong_passwords)
    for wrong in wrong_passwords:  # and a lockout (S4)
        await run("Login", email="nobody@example.com", password=wrong)
    ticket = (await run("Login", email="anna@example.com", password=PASSWORD))["ticket"]
    secrets.add(ticket)
    await run("RequestConversion", ticket=ticket, email="anna@example.com")
    invitation = invitation_token_in(await mailbox.next_to("anna@example.com", "invitation"))
    secrets.add(invitation)
    # A frontend may read the invitation by GET: the token then sits in the query string.
    got = await client.http.get(
        "/graphql", params={"query": operation("Invitation"), "variables": json.dumps({"token": invitation})}
    )
    assert got.status_code == 200 and got.json()["data"]["invitation"]["email"] == "anna@example.com"
    begun = await run("BeginEnrollment", invitation=invitation, method="totp")
    secrets.add(begun["enrollment"], begun["secret"], begun["provisioningUri"])
    code = totp_code(begun["secret"])
    wrong_code = "000000" if code != "000000" else "111111"
    await run("ConfirmEnrollment", enrollment=begun["enrollment"], code=wrong_code)
    done = await run("ConfirmEnrollment", enrollment=begun["enrollment"], code=code)
    assert done["__typename"] == "EnrollmentCompleted", done
    secrets.add(code, done["token"], done["recoveryCodes"])

    # Two-factor logins: a TOTP code, then a recovery code; then logout.
    challenge = (await run("Login", email="anna@example.com", password=PASSWORD))["challenge"]
    next_code = totp_code(begun["secret"], 1)
    session = (await run("VerifySecondFactor", challenge=challenge, method="totp", code=next_code))["token"]
    secrets.add(challenge, next_code, session)
    challenge = (await run("Login", email="anna@example.com", password=PASSWORD))["challenge"]
    recovery = done["recoveryCodes"][0]
    session = (await run("VerifySecondFactor", challenge=challenge, method="recovery_code", code=recovery))["token"]
    secrets.add(challenge, session)
    assert await run("Logout", bearer=session) is True

    # A new two-factor account chooses its password on enrollment and logs in with codes by email.
    await operator.create_user(
        customer_id=str(acme.id), email="bea@example.com", level=MembershipLevel.COMPANY, password=None
    )
    bea_invitation = invitation_token_in(await mailbox.next_to("bea@example.com", "invitation"))
    begun = await run("BeginEnrollment", invitation=bea_invitation, method="email_code")
    enrollment_code = code_in(await mailbox.next_to("bea@example.com", "enrollment_code"))
    bea_password = "a long and private passphrase"
    done = await run("ConfirmEnrollment", enrollment=begun["enrollment"], code=enrollment_code, password=bea_password)
    assert done["__typename"] == "EnrollmentCompleted", done
    secrets.add(
        bea_invitation, begun["enrollment"], enrollment_code, bea_password, done["token"], done["recoveryCodes"]
    )
    challenge = (await run("Login", email="bea@example.com", password=bea_password))["challenge"]
    await run("SendLoginCode", challenge=challenge, method="email_code")
    login_code = code_in(await mailbox.next_to("bea@example.com", "login_code"))
    session = (await run("VerifySecondFactor", challenge=challenge, method="email_code", code=login_code))["token"]
    secrets.add(challenge, login_code, session)

    logs = captured.text
    assert secrets.found_in(logs) == []
    # ... and the logs are worth reading: every request has its line, with its operation and outcome.
    for request_id in request_ids:
        assert request_id in logs
    assert "GET /graphql 200" in logs
    fields = [("operation", "login"), ("outcome", "ConversionRequired"), ("outcome", "EnrollmentCompleted"),
              ("outcome", "LoginSuccess"), ("outcome", "InvalidCode"), ("operation_name", "VerifySecondFactor")]  # fmt: skip
    for key, wanted in fields:
        if captured.json:
            assert any(line.get(key) == wanted for line in captured.json_lines()), (key, wanted)
        else:
            assert f"{key}={wanted}" in logs


async def test_the_request_id_is_taken_from_the_caller_or_made_and_always_returned(client, caplog):
    caplog.set_level("INFO", logger="gql_server.access")
    given = await client.http.get("/healthz", headers={"X-Request-ID": "lb-7f3a9c.0001"})
    made = await client.http.get("/healthz")
    refused = await client.http.get("/healthz", headers={"X-Request-ID": "not an id; drop table"})
    too_long = await client.http.get("/healthz", headers={"X-Request-ID": "a" * 129})

    assert given.headers["x-request-id"] == "lb-7f3a9c.0001"
    for response in (made, refused, too_long):
        assert len(response.headers["x-request-id"]) == 32
        int(response.headers["x-request-id"], 16)
    assert len({made.headers["x-request-id"], refused.headers["x-request-id"], too_long.headers["x-request-id"]}) == 3


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_one_access_line_per_request_with_operation_outcome_and_duration(client, log_format):
    capture = Captured(log_format)
    access = logging.getLogger("gql_server.access")
    access.addHandler(capture.handler)
    access.setLevel(logging.INFO)
    try:
        response = await client.post(
            "mutation SignIn($e: String!, $p: String!) { login(email: $e, password: $p) { __typename } }",
            {"e": "nobody@example.com", "p": "whatever it is"},
        )
        probe = await client.http.get("/readyz")
        refused = await client.http.post("/graphql", content=b"email=x", headers={"content-type": "text/plain"})
    finally:
        access.removeHandler(capture.handler)
        access.setLevel(logging.NOTSET)

    request_id = response.headers["x-request-id"]
    lines = capture.text.splitlines()
    # Probes are DEBUG: at INFO only the two /graphql requests have lines.
    assert len(lines) == 2
    assert probe.headers["x-request-id"] not in capture.text
    if log_format == "json":
        line, other = capture.json_lines()
        assert line["request_id"] == request_id
        assert (line["http_method"], line["path"], line["status"]) == ("POST", "/graphql", 200)
        assert (line["operation"], line["operation_name"], line["outcome"]) == ("login", "SignIn", "InvalidCredentials")
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
        assert line["level"] == "INFO" and line["logger"] == "gql_server.access"
        assert line["time"].endswith("Z")
        assert (other["status"], other["request_id"]) == (415, refused.headers["x-request-id"])
    else:
        assert f"[{request_id}] POST /graphql 200 " in lines[0]
        assert lines[0].endswith("operation=login operation_name=SignIn outcome=InvalidCredentials")
        assert " ms " in lines[0]
        assert "POST /graphql 415" in lines[1]


def test_json_lines_keep_an_exception_on_one_line():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("tests.json_exception")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError("broken\nin two lines")
        except ValueError:
            logger.exception("it failed", extra={"plugin": "flaky"})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True

    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["message"] == "it failed" and entry["plugin"] == "flaky" and entry["level"] == "ERROR"
    assert "ValueError: broken\nin two lines" in entry["exception"]
    assert "request_id" not in entry  # outside a request


def test_the_logging_config_is_one_handler_in_the_chosen_format():
    for log_format, formatter in ((LogFormat.TEXT, "TextFormatter"), (LogFormat.JSON, "JsonFormatter")):
        config = logging_config(Settings(_env_file=None, log_format=log_format, log_level="warning"))
        assert config["formatters"]["default"]["()"] == f"gql_server.logs.{formatter}"
        assert config["root"]["level"] == "WARNING"
        assert config["loggers"]["uvicorn.access"]["propagate"] is False


def test_an_unknown_log_format_or_level_is_refused_by_name():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="log_format"):
        Settings(_env_file=None, log_format="xml")
    with pytest.raises(ValidationError, match="not a log level"):
        Settings(_env_file=None, log_level="loud")


async def test_s29_at_log_level_debug_the_database_drivers_do_not_log_what_callers_typed(settings, client):
    # What LOG_LEVEL=DEBUG configures (gql-server serve applies the same dict): every statement with its
    # parameters would otherwise be logged by the drivers, the typed "email" (a password) among them.
    typed = "Sup3r-Secret-typed-into-the-email-field"
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, {n: logging.getLogger(n).level for n in (*QUIET_AT_DEBUG, "tortoise")})
    capture = Captured("text")
    logging.config.dictConfig(logging_config(settings.model_copy(update={"log_level": "DEBUG"})))
    root.addHandler(capture.handler)
    try:
        assert (await client.login(typed, "whatever it is"))["__typename"] == "InvalidCredentials"
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
    assert "gql_server.access" in capture.text or "POST /graphql" in capture.text
    assert typed.casefold() not in capture.text.casefold()
