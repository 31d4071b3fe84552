"""The outbox (S36): mail written in the transaction that decides on it, delivered after the commit.

Mail never goes out inside a database transaction or under a row lock: a slow mail server would hold a
pooled connection (SQLite's only one) for as long as it dithers, and a message accepted after the
request gave up would point at a token that was rolled back. Instead the service writes the message to
`mail_outbox` in the same transaction as the change it announces (an invitation and its token, a notice
and the change), so either both exist or neither does, and delivers it once the transaction has
committed:

- right away, by the request that wrote it (`deliver`), which waits at most `wait_seconds` so that it
  can say truthfully whether the mail went out (SENT) or is still on its way (QUEUED);
- and, for whatever is still due, by a worker in every serving process (`run`), which retries with a
  growing delay until it is delivered, refused for good, too old, or pointless because the token it
  links to is no longer live (used, replaced or expired: a delivered mail always points at a live token).

Processes share the work through claims: a conditional UPDATE takes a message for `OUTBOX_CLAIM` seconds, so
two processes never send it at the same time, and a process that dies mid-send leaves a claim that runs
out. Delivery is at least once: a process that dies after the mail server took the message but before
recording it sends it again later.

The message holds links and codes, so it is stored encrypted with a key outside the database (S24) and
erased once delivered or given up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from enum import StrEnum

from tortoise.expressions import F, Q

from gql_server import metrics, spans
from gql_server.clock import utcnow
from gql_server.crypto import Keyring, StateUnreadable
from gql_server.limits import (
    MAIL_WAIT_SECONDS,
    OUTBOX_BATCH,
    OUTBOX_CLAIM,
    OUTBOX_FORGET_EVERY,
    OUTBOX_GIVE_UP_AFTER,
    OUTBOX_KEEP_FINISHED,
    OUTBOX_POLL_SECONDS,
    OUTBOX_RETRY_DELAYS,
    OUTBOX_STOP_SECONDS,
)
from gql_server.mail import MailNotDelivered, MailService
from gql_server.models import MailOutbox, Token

log = logging.getLogger(__name__)


class Delivery(StrEnum):
    """What became of a queued message, as far as the caller can know (the `MailDelivery` of the API)."""

    SENT = "SENT"  # the mail server took it
    QUEUED = "QUEUED"  # not yet: it is retried until it goes out
    REFUSED = "REFUSED"  # refused for good (the address), or given up: it will never go out
    DROPPED = "DROPPED"  # pointless now: the token it links to was used, replaced or expired


@dataclass(frozen=True)
class Queued:
    """A message written to the outbox in the current transaction."""

    id: int
    recipient: str


class Outbox:
    """Writes messages in the caller's transaction and delivers them after commit (see the module doc)."""

    def __init__(
        self,
        mailer: MailService,
        keyring: Keyring,
        *,
        wait_seconds: float = MAIL_WAIT_SECONDS,
        poll_seconds: float = OUTBOX_POLL_SECONDS,
    ) -> None:
        self._mailer = mailer
        self._keyring = keyring
        self._wait_seconds = wait_seconds
        self._poll_seconds = poll_seconds
        # Attempts that outlived the request's wait go on; kept here so they are not garbage-collected,
        # and so that the app can let them finish when it stops.
        self._attempts: set[asyncio.Task[Delivery]] = set()
        self._wake = asyncio.Event()

    @property
    def attempt_seconds(self) -> float:
        """The bound on one delivery attempt (S37): how long a caller that must know waits at most."""
        return self._mailer.attempt_seconds

    async def put(self, template: str, *, to: str, locale: str, token: Token | None = None, **values: object) -> Queued:
        """Write one message, in the current transaction. `token`: the token its link carries; the message
        is dropped rather than delivered once that token is no longer live."""
        # What the message is made of, not the message: it is built when it goes out (MIME text read back
        # would not make the same message: an international address, say, would not survive the trip).
        # Rendering now checks the values, so a mistake shows here and not in a worker later.
        self._mailer.build(template, to=to, locale=locale, **values)
        content = {"template": template, "to": to, "locale": locale, "values": values, "message_id": make_msgid()}
        now = utcnow()
        row = await MailOutbox.create(
            template=template,
            recipient=to,
            message_encrypted=self._keyring.encrypt_message(json.dumps(content, default=_encode).encode()),
            token=token,
            created_at=now,
            next_attempt_at=now,
        )
        return Queued(id=row.id, recipient=to)

    async def deliver(self, queued: Queued, *, wait: float | None = None) -> Delivery:
        """After the commit: try to deliver a message now and say what became of it, waiting at most
        `wait` seconds (`wait_seconds` by default); an attempt still running then goes on in the
        background (QUEUED)."""
        attempt = self._start(queued)
        done, _ = await asyncio.wait({attempt}, timeout=self._wait_seconds if wait is None else wait)
        return attempt.result() if done else Delivery.QUEUED

    def deliver_later(self, queued: Iterable[Queued]) -> None:
        """After the commit: deliver these messages without waiting for them (notices)."""
        for item in queued:
            self._start(item)

    def _start(self, queued: Queued) -> asyncio.Task[Delivery]:
        attempt = asyncio.create_task(self._attempt_or_leave(queued.id))
        self._attempts.add(attempt)
        attempt.add_done_callback(self._attempts.discard)
        return attempt

    async def _attempt_or_leave(self, message_id: int) -> Delivery:
        """An attempt that never raises: whatever fails (the database, for a moment), the message stays
        due and the worker tries it again; the change it announces is committed already."""
        # With tracing on: the claim, the delivery and its record, in the trace of the request that wrote the
        # message, or in a trace of their own when the worker retries it.
        with spans.span("outbox.attempt", {"gql.mail.message_id": message_id}):
            try:
                delivery = await self._attempt(message_id)
            except Exception:
                log.warning("message %s could not be attempted now; the outbox retries it", message_id, exc_info=True)
                delivery = Delivery.QUEUED
            spans.annotate("gql.mail.delivery", delivery.value)
            return delivery

    async def deliver_due(self) -> int:
        """One pass of the worker: attempt every message that is due and not claimed. Returns how many."""
        now = utcnow()
        # Every OUTBOX_POLL_SECONDS in every process: not worth a trace of its own each time (tracing on).
        with spans.untraced():
            due = await (
                MailOutbox.filter(
                    Q(claimed_until=None) | Q(claimed_until__lt=now),
                    sent_at=None,
                    failed_at=None,
                    next_attempt_at__lte=now,
                )
                .order_by("next_attempt_at")
                .limit(OUTBOX_BATCH)
                .values_list("id", flat=True)
            )
        for message_id in due:
            await self._attempt_or_leave(int(str(message_id)))
        return len(due)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the worker while the block runs (the app's lifespan); then let attempts in flight finish
        for OUTBOX_STOP_SECONDS and stop: what is left stays due, and its claim runs out for another process."""
        worker = asyncio.create_task(self._run())
        try:
            yield
        finally:
            worker.cancel()
            pending = {worker, *self._attempts}
            _, still = await asyncio.wait(pending, timeout=OUTBOX_STOP_SECONDS)
            for task in still:
                task.cancel()

    async def _run(self) -> None:
        forgotten_at = utcnow() - OUTBOX_FORGET_EVERY
        while True:
            try:
                while await self.deliver_due() == OUTBOX_BATCH:
                    pass
                if utcnow() - forgotten_at >= OUTBOX_FORGET_EVERY:
                    with spans.untraced():
                        await self._forget_finished()
                    forgotten_at = utcnow()
            except Exception:
                # The database may be away for a moment; messages stay due and are tried on the next pass.
                log.warning("the outbox could not be read; trying again in %.0f s", self._poll_seconds, exc_info=True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_seconds):
                    await self._wake.wait()
            self._wake.clear()

    async def _attempt(self, message_id: int) -> Delivery:
        """Claim one message, deliver it, and record the outcome."""
        now = utcnow()
        claimed = await MailOutbox.filter(
            Q(claimed_until=None) | Q(claimed_until__lt=now), id=message_id, sent_at=None, failed_at=None
        ).update(claimed_until=now + OUTBOX_CLAIM, attempts=F("attempts") + 1)
        if not claimed:
            return await self._state_of(message_id)
        row = await MailOutbox.get(id=message_id)
        if row.token_id is not None and not await _token_live(row.token_id):  # type: ignore[attr-defined]
            await self._give_up(row, "the link in this message is no longer valid")
            return Delivery.DROPPED
        try:
            message = self._message(row)
        except StateUnreadable:
            await self._give_up(row, "the message cannot be decrypted with this SECRET_KEY")
            return Delivery.REFUSED
        try:
            await self._mailer.deliver(message)
        except MailNotDelivered as exc:
            return await self._failed(row, exc)
        await MailOutbox.filter(id=row.id).update(sent_at=utcnow(), message_encrypted=None, claimed_until=None)
        return Delivery.SENT

    def _message(self, row: MailOutbox) -> EmailMessage:
        content = json.loads(self._keyring.decrypt_message(str(row.message_encrypted)), object_hook=_decode)
        message = self._mailer.build(
            content["template"], to=content["to"], locale=content["locale"], **content["values"]
        )
        # The same Message-ID at every attempt: a copy sent twice (at least once) is recognisably the same.
        message.replace_header("Message-ID", content["message_id"])
        return message

    async def _failed(self, row: MailOutbox, exc: MailNotDelivered) -> Delivery:
        now = utcnow()
        if not exc.retryable or now - row.created_at >= OUTBOX_GIVE_UP_AFTER:
            await self._give_up(row, str(exc))
            return Delivery.REFUSED
        delay = OUTBOX_RETRY_DELAYS[min(row.attempts, len(OUTBOX_RETRY_DELAYS)) - 1]
        await MailOutbox.filter(id=row.id).update(
            next_attempt_at=now + delay, claimed_until=None, last_error=str(exc)[:500]
        )
        log.warning(
            "%s message %s not delivered (attempt %d), retrying in %d s: %s",
            row.template,
            row.id,
            row.attempts,
            delay.total_seconds(),
            exc,
        )
        metrics.MAIL_RETRIES.labels(template=row.template).inc()
        return Delivery.QUEUED

    async def _give_up(self, row: MailOutbox, reason: str) -> None:
        await MailOutbox.filter(id=row.id).update(
            failed_at=utcnow(), message_encrypted=None, claimed_until=None, last_error=reason[:500]
        )
        log.error("%s message %s given up after %d attempt(s): %s", row.template, row.id, row.attempts, reason)
        metrics.MAIL_GIVEN_UP.labels(template=row.template).inc()

    async def _state_of(self, message_id: int) -> Delivery:
        """What became of a message another process holds or finished."""
        row = await MailOutbox.get_or_none(id=message_id)
        if row is None:
            return Delivery.DROPPED
        if row.failed_at is not None:
            return Delivery.REFUSED
        return Delivery.SENT if row.sent_at is not None else Delivery.QUEUED

    async def _forget_finished(self) -> None:
        before = utcnow() - OUTBOX_KEEP_FINISHED
        await MailOutbox.filter(Q(sent_at__lt=before) | Q(failed_at__lt=before)).delete()


def _encode(value: object) -> object:
    """JSON for the values of a template that are not JSON already (an expiry time)."""
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    raise TypeError(f"an outbox message cannot hold {type(value).__name__}")


def _decode(value: dict[str, object]) -> object:
    return datetime.fromisoformat(str(value["$datetime"])) if set(value) == {"$datetime"} else value


async def _token_live(token_id: object) -> bool:
    now: datetime = utcnow()
    return await Token.filter(id=token_id, used_at=None, expires_at__gt=now).exists()
