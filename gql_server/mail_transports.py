"""The default `deliver_email` transports: SMTP when SMTP_URL is set, otherwise the development mailbox.

Both answer `trylast`, so a third-party transport registered the ordinary way answers first and
these are never asked (the hook is firstresult).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib

from gql_server.clock import utcnow
from gql_server.limits import SMTP_QUIT_SECONDS, SMTP_TIMEOUT_SECONDS
from gql_server.mail import TEMPLATE_HEADER
from gql_server.models import DevelopmentMailbox
from gql_server.plugin_api import hookimpl

log = logging.getLogger("gql_server.mail")

WITHHELD = "(body withheld in production: it holds a code or a link; set SMTP_URL to send mail)"
_DEFAULT_PORTS = {"smtp": 25, "smtps": 465}


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to connect, from an `smtp://` or `smtps://` URL."""

    hostname: str
    port: int
    username: str | None
    password: str | None
    # smtps: TLS from the first byte; smtp: STARTTLS when the server offers it.
    use_tls: bool

    def __repr__(self) -> str:
        # Settings and errors get printed; the password must not be (S25).
        return f"SmtpConfig(hostname={self.hostname!r}, port={self.port}, username={self.username!r}, ...)"


def parse_smtp_url(url: str) -> SmtpConfig:
    """Parse `smtp://user:pass@host:port` or `smtps://...`; user and password are URL-decoded."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS:
        raise ValueError("SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("SMTP_URL has no host")
    return SmtpConfig(
        hostname=parts.hostname,
        port=parts.port or _DEFAULT_PORTS[parts.scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        use_tls=parts.scheme == "smtps",
    )


class SmtpTransport:
    """Delivers through an SMTP server (aiosmtplib)."""

    def __init__(self, smtp_url: str) -> None:
        # Parsed now, so that a malformed SMTP_URL stops the start rather than the first email.
        self.config = parse_smtp_url(smtp_url)

    @hookimpl(trylast=True)
    def deliver_email(self, message: EmailMessage) -> Coroutine[Any, Any, None]:
        """Take every message; the coroutine sends it."""
        return self._send(message)

    async def _send(self, message: EmailMessage) -> None:
        """One SMTP session, bounded as a whole by SMTP_TIMEOUT_SECONDS, teardown included (S37).

        aiosmtplib's own `send` says QUIT on the way out even after a timeout, and waits for the answer
        with its own timeout again: a hung server then took twice the limit. Here a failed session is
        dropped without a word; only a delivered one says QUIT, and its answer no longer matters.
        """
        config = self.config
        client = aiosmtplib.SMTP(
            hostname=config.hostname,
            port=config.port,
            username=config.username,
            password=config.password,
            use_tls=config.use_tls,
            timeout=SMTP_TIMEOUT_SECONDS,
        )
        try:
            async with asyncio.timeout(SMTP_TIMEOUT_SECONDS):
                await client.connect()
                await client.send_message(message)
        except BaseException:
            client.close()
            raise
        try:
            async with asyncio.timeout(SMTP_QUIT_SECONDS):
                await client.quit()
        except (aiosmtplib.SMTPException, TimeoutError, OSError):
            pass  # the server took the message; a lost goodbye changes nothing
        finally:
            client.close()


class DevelopmentTransport:
    """Keeps each message in the `development_mailbox` table and logs it (no SMTP_URL).

    In development the table and the log hold the whole body, so a newcomer can follow the
    invitation link and type the codes. In production neither does: the body holds codes and links,
    which are stored only as hashes (S24) and never logged (S25); production needs SMTP_URL or a
    deliver_email plugin to reach anyone.
    """

    def __init__(self, production: bool) -> None:
        self.production = production

    @hookimpl(trylast=True)
    def deliver_email(self, message: EmailMessage) -> Coroutine[Any, Any, None]:
        """Take every message; the coroutine stores and logs it."""
        return self._store(message)

    async def _store(self, message: EmailMessage) -> None:
        recipient = str(message["To"])
        subject = str(message["Subject"])
        template = str(message.get(TEMPLATE_HEADER, ""))
        body = WITHHELD if self.production else _text_body(message)
        await DevelopmentMailbox.create(
            recipient=recipient, subject=subject, body=body, template=template, created_at=utcnow()
        )
        if self.production:
            log.warning(
                "email kept in the outbox, not sent (SMTP_URL is unset): to=%s subject=%r template=%s",
                recipient,
                subject,
                template,
            )
        else:
            log.info("email to %s (template %s): %s\n\n%s", recipient, template, subject, body)


def _text_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if isinstance(part, EmailMessage) else ""


def default_transport(smtp_url: str | None, production: bool) -> SmtpTransport | DevelopmentTransport:
    """The built-in transport for these settings: SMTP when `smtp_url` is set, else the outbox."""
    if smtp_url:
        return SmtpTransport(smtp_url)
    return DevelopmentTransport(production)
