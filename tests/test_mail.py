"""Mail: fi/en templates, delivery through deliver_email (firstresult), SMTP and the outbox (S10, S14, S25)."""

from __future__ import annotations

import logging
import re
import socket
from datetime import UTC, datetime, timedelta, timezone

import pluggy
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from gql_server import hookspecs
from gql_server.hookspecs import hookimpl
from gql_server.mail import ALL_SECOND_FACTORS, TEMPLATES, MailNotDelivered, MailService, render
from gql_server.mail_transports import (
    DevelopmentTransport,
    SmtpTransport,
    default_transport,
    parse_smtp_url,
)
from gql_server.models import DevelopmentMailbox

from . import mailbox
from .mailbox import Mailbox, body

# The fixture, until conftest.py offers it to every module.
smtp_server = mailbox.smtp_server

CODE = "042917"
LINK = "http://testserver/invitation#token=tok_abc-DEF_123"
EXPIRES = datetime(2030, 5, 1, 9, 5, tzinfo=UTC)

VALUES: dict[str, dict[str, object]] = {
    "invitation": {"link": LINK, "expires_at": EXPIRES, "email": "matti@example.fi"},
    "enrollment_code": {"code": CODE, "expires_at": EXPIRES},
    "login_code": {"code": CODE, "expires_at": EXPIRES},
    "factor_added": {"method_name": "Authenticator app"},
    "factor_removed": {"method_name": "Authenticator app"},
    "recovery_code_used": {"remaining": 7},
    "recovery_codes_replaced": {"link": LINK, "expires_at": EXPIRES},
    "link_account": {
        "link": LINK,
        "expires_at": EXPIRES,
        "email": "matti@example.fi",
        "link_from": "m***@example.org",
        "customers": "Acme Oy",
    },
    "password_reset_by_admin": {
        "link": LINK,
        "expires_at": EXPIRES,
        "email": "matti@example.fi",
        "inviter": "admin@acme.example",
        "customer": "Acme Oy",
    },
    "join_customer": {
        "link": LINK,
        "expires_at": EXPIRES,
        "email": "matti@example.fi",
        "inviter": "admin@acme.example",
        "customer": "Acme Oy",
    },
    "account_invitation_password": {
        "link": LINK,
        "expires_at": EXPIRES,
        "email": "matti@example.fi",
        "inviter": "admin@acme.example",
        "customer": "Acme Oy",
    },
    "notice_invitation_elsewhere": {"new_address": "matti.k@example.org", "link": LINK, "expires_at": EXPIRES},
    "notice_address_changed": {"new_address": "matti.k@example.org", "link": LINK, "expires_at": EXPIRES},
    "password_reset": {"link": LINK, "expires_at": EXPIRES},
    "notice_password_changed": {"link": LINK, "expires_at": EXPIRES},
    "notice_password_reset": {"link": LINK, "expires_at": EXPIRES},
    "email_change": {"link": LINK, "expires_at": EXPIRES, "email": "matti.k@example.org"},
    "notice_email_change_requested": {"new_address": "matti.k@example.org", "link": LINK, "expires_at": EXPIRES},
    "email_change_address_in_use": {"email": "matti@example.fi"},
    "notice_factor_added": {"factor": 'Authenticator app "work phone"', "link": LINK, "expires_at": EXPIRES},
    "notice_factor_removed": {"factor": "Authenticator app", "link": LINK, "expires_at": EXPIRES},
    "notice_factor_renamed": {
        "factor": "Authenticator app",
        "label": "work phone",
        "link": LINK,
        "expires_at": EXPIRES,
    },
}
# Templates that carry a link, which must stand alone on its line (the architecture's link format).
WITH_LINKS = (
    "invitation",
    "notice_invitation_elsewhere",
    "notice_address_changed",
    "password_reset",
    "recovery_codes_replaced",
    "notice_password_changed",
    "notice_password_reset",
    "email_change",
    "notice_email_change_requested",
    "notice_factor_added",
    "notice_factor_removed",
    "notice_factor_renamed",
)


def plugin_manager(*plugins: object) -> pluggy.PluginManager:
    """A manager with the hook specs and only `plugins`: no installed entry point can interfere."""
    pm = pluggy.PluginManager("gql_server")
    pm.add_hookspecs(hookspecs)
    for plugin in plugins:
        pm.register(plugin)
    return pm


# --- templates -------------------------------------------------------------------------------------


def test_both_locales_have_every_template():
    assert set(TEMPLATES["en"]) == set(TEMPLATES["fi"]) == set(VALUES)


@pytest.mark.parametrize("locale", ["en", "fi"])
@pytest.mark.parametrize("name", sorted(VALUES))
def test_every_template_renders(name, locale):
    subject, text = render(name, locale, **VALUES[name])

    assert subject
    assert "\n" not in subject
    assert "{" not in subject + text
    assert "}" not in subject + text
    assert text.endswith("\n")


@pytest.mark.parametrize("locale", ["en", "fi"])
@pytest.mark.parametrize("name", ["enrollment_code", "login_code"])
def test_s10_code_stands_alone_on_its_own_line(name, locale):
    _, text = render(name, locale, **VALUES[name])

    assert CODE in text.splitlines()
    assert text.count(CODE) == 1


@pytest.mark.parametrize("locale", ["en", "fi"])
@pytest.mark.parametrize("name", WITH_LINKS)
def test_links_stand_alone_on_their_own_line(name, locale):
    _, text = render(name, locale, **VALUES[name])

    assert LINK in text.splitlines()
    assert text.count(LINK) == 1


@pytest.mark.parametrize("locale", ["en", "fi"])
def test_invitation_names_the_address(locale):
    assert "matti@example.fi" in render("invitation", locale, **VALUES["invitation"])[1]


@pytest.mark.parametrize("locale", ["en", "fi"])
@pytest.mark.parametrize(
    "name", ["notice_invitation_elsewhere", "notice_address_changed", "notice_email_change_requested"]
)
def test_r13_notices_name_the_new_address_and_when_the_link_expires(name, locale):
    _, text = render(name, locale, **VALUES[name])

    assert "matti.k@example.org" in text
    assert ("2030-05-01 09:05 UTC" if locale == "en" else "1.5.2030 klo 09.05 UTC") in text


def test_finnish_is_finnish():
    subject, text = render("invitation", "fi", **VALUES["invitation"])

    assert "Kutsu" in subject
    assert "kaksivaiheinen kirjautuminen" in text
    assert "1.5.2030 klo 09.05 UTC" in text
    assert "varmistuskoodi" in render("login_code", "fi", **VALUES["login_code"])[1]


@pytest.mark.parametrize(("locale", "term", "others"), [
    ("en", "two-factor login", ("two-step", "verification of your account")),
    ("fi", "kaksivaiheinen kirjautuminen", ("kaksivaiheinen tunnistautuminen", "kaksivaiheiseen tunnistautumiseen")),
])  # fmt: skip
def test_emails_use_the_web_clients_term_for_two_factor_login(locale, term, others):
    # The web client says "two-factor login" ("kaksivaiheinen kirjautuminen"); so does every email (issue 18).
    texts = [" ".join(render(name, locale, **VALUES[name])).lower() for name in VALUES]

    assert term in texts[list(VALUES).index("invitation")]
    for other in others:
        assert not [name for name, text in zip(VALUES, texts, strict=True) if other in text]


async def test_emails_name_methods_in_the_users_language(client, mailbox, anna):
    from gql_server.models import User

    from .flows import enroll, request_invitation

    await User.filter(id=anna.id).update(locale="fi")
    await enroll(client, mailbox, await request_invitation(client, mailbox, "anna@example.com"))
    added = body(await mailbox.next_to("anna@example.com", "factor_added"))

    # The method's own Finnish name, from the strings its plugin ships (MethodStrings).
    assert "Todentajasovellus" in added and "Authenticator app" not in added


def test_english_states_expiry_in_utc():
    _, text = render("login_code", "en", **VALUES["login_code"])

    assert "2030-05-01 09:05 UTC" in text


def test_expiry_in_another_zone_is_converted_to_utc():
    helsinki_summer = timezone(timedelta(hours=3))
    _, text = render("login_code", "en", code=CODE, expires_at=datetime(2030, 5, 1, 12, 5, tzinfo=helsinki_summer))

    assert "2030-05-01 09:05 UTC" in text


@pytest.mark.parametrize("locale", ["fi-FI", "fi_FI", "FI"])
def test_regional_finnish_locales_get_finnish(locale):
    assert render("recovery_codes_replaced", locale, **VALUES["recovery_codes_replaced"]) == render(
        "recovery_codes_replaced", "fi", **VALUES["recovery_codes_replaced"]
    )


@pytest.mark.parametrize("locale", ["sv", "", "de-DE"])
def test_unknown_locale_falls_back_to_english(locale):
    assert render("recovery_codes_replaced", locale, **VALUES["recovery_codes_replaced"]) == render(
        "recovery_codes_replaced", "en", **VALUES["recovery_codes_replaced"]
    )


def test_unknown_template_is_a_programming_error():
    with pytest.raises(KeyError):
        render("no_such_template", "en")


def test_missing_value_is_a_programming_error():
    with pytest.raises(KeyError):
        render("login_code", "en", expires_at=EXPIRES)


def test_operator_reset_names_all_factors_in_finnish():
    _, english = render("factor_removed", "en", method_name=ALL_SECOND_FACTORS)
    _, finnish = render("factor_removed", "fi", method_name=ALL_SECOND_FACTORS)

    assert ALL_SECOND_FACTORS in english
    assert "kaikki tunnistautumistavat" in finnish
    assert ALL_SECOND_FACTORS not in finnish


def test_recovery_code_used_says_how_many_are_left():
    _, text = render("recovery_code_used", "en", remaining=3)

    assert "left: 3." in text
    # R15: where new ones come from, now that the user makes them (the account page's Security section).
    assert "Security on your account page" in text


@pytest.mark.parametrize(("locale", "where"), [("en", "Security on your account page"), ("fi", "kohdassa Tietoturva")])
def test_mails_name_the_page_that_does_what_they_ask(locale, where):
    # R15, R16: recovery codes and the password are the user's to change, under Security on /account.
    for template in ("recovery_code_used", "login_code"):
        _, text = render(template, locale, **VALUES[template])
        assert where in " ".join(text.split()), template


# --- delivery through the hook ---------------------------------------------------------------------


async def test_mail_service_delivers_through_smtp(smtp_server: Mailbox):
    mailer = MailService(plugin_manager(SmtpTransport(smtp_server.url)), "Gql Server <noreply@example.fi>")

    await mailer.send("login_code", to="matti@example.fi", locale="fi", **VALUES["login_code"])

    [message] = await smtp_server.wait_for(1)
    assert message["From"] == "Gql Server <noreply@example.fi>"
    assert message["To"] == "matti@example.fi"
    assert message["Subject"] == "Kirjautumisen varmistuskoodi"
    assert message["X-Gql-Template"] == "login_code"
    assert message["Date"].datetime.tzinfo is not None
    assert re.fullmatch(r"<.+@example\.fi>", message["Message-ID"])
    assert message.get_content_type() == "text/plain"
    text = body(message)
    assert CODE in text.splitlines()
    assert "Viimeistele kirjautuminen" in text


async def test_smtp_transport_sends_url_decoded_credentials():
    seen: list[tuple[str, str]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        seen.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mailbox = Mailbox(f"smtp://127.0.0.1:{port}")
    # No TLS in the test server, so it must be told to accept AUTH on a plain connection.
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    try:
        transport = SmtpTransport(f"smtp://mailer%40example.fi:p%40ss%3Aw%2Frd@127.0.0.1:{port}")
        await MailService(plugin_manager(transport), "noreply@example.fi").send(
            "recovery_codes_replaced", to="matti@example.fi", locale="en", **VALUES["recovery_codes_replaced"]
        )
        await mailbox.wait_for(1)
    finally:
        controller.stop()

    assert seen == [("mailer@example.fi", "p@ss:w/rd")]


def test_parse_smtp_url_plain_with_credentials():
    config = parse_smtp_url("smtp://user%40example.fi:s%C3%A4la%3A%2F@mail.example.fi:2525")

    assert (config.hostname, config.port, config.use_tls) == ("mail.example.fi", 2525, False)
    assert (config.username, config.password) == ("user@example.fi", "säla:/")
    assert "säla" not in repr(config)


def test_parse_smtp_url_defaults():
    plain = parse_smtp_url("smtp://mail.example.fi")
    tls = parse_smtp_url("smtps://mail.example.fi")

    assert (plain.port, plain.use_tls, plain.username, plain.password) == (25, False, None, None)
    assert (tls.port, tls.use_tls) == (465, True)


@pytest.mark.parametrize("url", ["http://mail.example.fi", "mail.example.fi:25", "smtp://"])
def test_parse_smtp_url_refuses_nonsense(url):
    with pytest.raises(ValueError, match="SMTP_URL"):
        parse_smtp_url(url)


def test_default_transport_is_smtp_when_configured_else_outbox():
    assert isinstance(default_transport("smtps://mail.example.fi", production=True), SmtpTransport)
    outbox = default_transport(None, production=True)
    assert isinstance(outbox, DevelopmentTransport)
    assert outbox.production is True
    assert isinstance(default_transport("", production=False), DevelopmentTransport)


class ThirdPartyTransport:
    """A plugin registered the ordinary way (no trylast), like an installed entry point."""

    def __init__(self) -> None:
        self.messages: list[object] = []

    @hookimpl
    def deliver_email(self, message):
        self.messages.append(message)
        return True


async def test_third_party_transport_answers_before_the_default(smtp_server: Mailbox):
    third_party = ThirdPartyTransport()
    pm = plugin_manager(third_party)
    # Registered last, which pluggy would otherwise call first: only trylast keeps it behind.
    pm.register(default_transport(smtp_server.url, production=False))

    await MailService(pm, "noreply@example.fi").send(
        "recovery_codes_replaced", to="matti@example.fi", locale="fi", **VALUES["recovery_codes_replaced"]
    )

    [message] = third_party.messages
    assert message["X-Gql-Template"] == "recovery_codes_replaced"
    # The SMTP transport answers 250 only after the server has the message; nothing came.
    assert smtp_server.messages == []


async def test_nothing_delivered_without_a_transport():
    mailer = MailService(plugin_manager(), "noreply@example.fi")

    with pytest.raises(MailNotDelivered):
        await mailer.send("login_code", to="matti@example.fi", locale="en", **VALUES["login_code"])


# --- the outbox (no SMTP_URL) ----------------------------------------------------------------------


async def send_invitation_to_outbox(production: bool) -> DevelopmentMailbox:
    mailer = MailService(plugin_manager(DevelopmentTransport(production=production)), "noreply@example.fi")
    await mailer.send("invitation", to="matti@example.fi", locale="en", **VALUES["invitation"])
    return await DevelopmentMailbox.get(recipient="matti@example.fi")


async def test_outbox_in_development_keeps_and_logs_the_whole_message(app, caplog):
    caplog.set_level(logging.INFO, logger="gql_server.mail")

    row = await send_invitation_to_outbox(production=False)

    assert row.template == "invitation"
    assert row.subject == "Set up two-factor login for your account"
    assert LINK in row.body.splitlines()
    assert abs(row.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    # A newcomer without SMTP follows the invitation from the log.
    assert LINK in caplog.text
    assert "matti@example.fi" in caplog.text


async def test_s24_s25_outbox_in_production_never_stores_or_logs_the_body(app, caplog):
    caplog.set_level(logging.DEBUG, logger="gql_server.mail")

    row = await send_invitation_to_outbox(production=True)

    assert "tok_abc" not in row.body and row.body.startswith("(body withheld in production")
    assert (row.recipient, row.template) == ("matti@example.fi", "invitation")
    assert "tok_abc" not in caplog.text
    assert "two-factor login for your account matti" not in caplog.text
    [record] = [r for r in caplog.records if r.name == "gql_server.mail"]
    message = record.getMessage()
    assert "matti@example.fi" in message
    assert "Set up two-factor login for your account" in message
    assert "invitation" in message


async def test_s25_outbox_in_production_never_logs_codes(app, caplog):
    caplog.set_level(logging.DEBUG, logger="gql_server.mail")
    mailer = MailService(plugin_manager(DevelopmentTransport(production=True)), "noreply@example.fi")

    await mailer.send("login_code", to="matti@example.fi", locale="fi", **VALUES["login_code"])

    row = await DevelopmentMailbox.get(template="login_code")
    assert CODE not in row.body
    assert CODE not in caplog.text
