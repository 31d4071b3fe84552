"""`SmsMethod`: a code-delivering second factor that texts the core's codes through an HTTP webhook.

The plugin only says where codes go (a checked, normalised phone number) and delivers them. The core
makes each code, stores its digest, checks it, counts attempts, expires and replaces codes, encrypts
the factor's state and writes the audit trail; none of that is done, or needed, here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType

import httpx
from gql_server.plugin_api import (
    Account,
    AuthenticatorKind,
    Capabilities,
    CodeDeliveringMethod,
    CodeDelivery,
    EnrollmentDraft,
    Mailer,
    MethodStrings,
    MethodUI,
)

from gql_server_sms.messages import code_message, minutes_left
from gql_server_sms.phone import mask_phone_number, normalize_phone_number

log = logging.getLogger(__name__)

# Where messages are POSTed as JSON {"to": "+358401234567", "text": "..."}; an SMS gateway or a small
# adapter in front of one answers 2xx once it has accepted the message.
WEBHOOK_URL_VARIABLE = "GQL_SERVER_SMS_WEBHOOK_URL"
# Seconds to wait for the webhook (connect, send, answer each); the core has its own overall limit.
DEFAULT_TIMEOUT = 5.0


class SmsMethod(CodeDeliveringMethod):
    """Codes sent by text message to a mobile number the user enters when enrolling.

    The factor's state is `{"phone": "<E.164 number>"}`, stored encrypted by the core.
    """

    id: str = "sms"
    display_name: str = "Text message"
    channel: str = "sms"
    phishing_resistant: bool = False
    enrollable: bool = True
    capabilities: Capabilities = Capabilities(kind=AuthenticatorKind.POSSESSION, delivers_codes=True)
    ui: MethodUI = MethodUI(
        strings={
            "en": MethodStrings(
                name="Text message",
                about="We text a six-digit code to your mobile phone whenever you sign in.",
                label="Code from the text message",
                hint='Six digits. Press "Send code" to get one.',
            ),
            "fi": MethodStrings(
                name="Tekstiviesti",
                about="Lähetämme kuusinumeroisen koodin matkapuhelimeesi tekstiviestinä aina kirjautuessasi.",
                label="Koodi tekstiviestistä",
                hint="Kuusi numeroa. Pyydä koodi Lähetä koodi -painikkeella.",
            ),
        }
    )
    # What beginEnrollment's `input` holds for SMS (`phoneNumber` is also its own argument, an alias).
    enrollment_input: Mapping[str, object] = MappingProxyType(
        {
            "type": "object",
            "properties": {"phoneNumber": {"type": "string", "maxLength": 64, "description": "Where codes go"}},
            "additionalProperties": False,
        }
    )

    def __init__(self, webhook_url: str | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """`webhook_url` fixes the webhook; by default it is read from GQL_SERVER_SMS_WEBHOOK_URL at
        every send, so a changed setting applies without re-creating the method."""
        self._webhook_url = webhook_url
        self._timeout = timeout

    @property
    def webhook_url(self) -> str:
        """The webhook to POST messages to; RuntimeError when none is configured or it is not HTTP(S)."""
        problem = self.problem()
        if problem is not None:
            raise RuntimeError(f"the sms method cannot send codes: {problem}")
        return self._configured_url()

    def problem(self) -> str | None:
        """The core's readiness check: why no code can be sent (no webhook configured, or not an HTTP(S) URL),
        or None. It reads the configuration only; a gateway that is down is a failed send, not a problem."""
        url = self._configured_url()
        if not url:
            return f"{WEBHOOK_URL_VARIABLE} is not set, so no text message can be sent"
        try:
            scheme = httpx.URL(url).scheme
        except httpx.InvalidURL:
            scheme = ""
        if scheme not in {"http", "https"}:
            return f"{WEBHOOK_URL_VARIABLE} must be an http:// or https:// URL"
        return None

    def _configured_url(self) -> str:
        return self._webhook_url or os.environ.get(WEBHOOK_URL_VARIABLE, "").strip()

    async def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        """Check the number the user typed (`account.phone_number`) and keep it in E.164 form.

        Raises `InvalidEnrollmentInput` (field "phoneNumber") when it is missing or unusable; the
        core answers `InvalidInput` and stores nothing. The core then sends the first code.
        """
        phone = normalize_phone_number(account.phone_number)
        return EnrollmentDraft(state={"phone": phone}, sent_to=mask_phone_number(phone))

    async def send_code(self, delivery: CodeDelivery, mailer: Mailer) -> str:
        """Text `delivery.code` to the enrolled number through the webhook; return the number, masked.

        Any failure (no webhook configured, network error, timeout, non-2xx answer) raises: the core
        logs it, keeps no usable code and answers MethodNotAvailable. `mailer` is not used.
        """
        phone = delivery.state["phone"]
        minutes = minutes_left(delivery.expires_at, datetime.now(UTC))
        text = code_message(delivery.code, delivery.purpose, delivery.locale, minutes)
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            response = await client.post(self.webhook_url, json={"to": phone, "text": text})
            response.raise_for_status()
        return mask_phone_number(phone)
