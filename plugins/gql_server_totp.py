"""Built-in second factor: time-based one-time passwords from an authenticator app (RFC 6238, S9).

A code-checking method: the secret lives in the factor's `state` (the core encrypts it at rest, S23)
and `verify` answers the matched time step, which the core keeps as the replay guard (S8).
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Mapping

import pyotp
import segno

from gql_server.plugin_api import (
    Account,
    AuthenticatorKind,
    Capabilities,
    CodeCheckingMethod,
    EnrollmentDraft,
    MethodStrings,
    MethodUI,
    SecondFactorMethod,
    hookimpl,
    same_code,
    typed_code,
)

# S9: 32 base32 characters are 160 bits, the HMAC-SHA-1 block size RFC 4226 recommends.
SECRET_LENGTH = 32
DIGITS = 6
STEP_SECONDS = 30
# S9: one step either way covers clock skew and a code typed just as it rolls over.
DRIFT_STEPS = 1

# ASCII only: str.isdigit() would also let through e.g. full-width or Arabic-Indic digits.
_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")


class TotpMethod(CodeCheckingMethod):
    """Codes from an authenticator app: SHA-1, 6 digits, 30-second steps, ±1 step of drift."""

    id: str = "totp"
    display_name: str = "Authenticator app"
    channel: str = "authenticator_app"
    phishing_resistant: bool = False
    enrollable: bool = True
    capabilities: Capabilities = Capabilities(kind=AuthenticatorKind.POSSESSION)
    ui: MethodUI = MethodUI(
        strings={
            "en": MethodStrings(
                name="Authenticator app",
                about=(
                    "Google Authenticator, Microsoft Authenticator or any other app that shows six-digit codes. "
                    "Works without a network."
                ),
                label="Code from your authenticator app",
                hint="Six digits; the app shows a new one every 30 seconds.",
            ),
            "fi": MethodStrings(
                name="Todentajasovellus",
                about=(
                    "Google Authenticator, Microsoft Authenticator tai muu sovellus, joka näyttää kuusinumeroisia "
                    "koodeja. Toimii ilman verkkoyhteyttä."
                ),
                label="Koodi todentajasovelluksesta",
                hint="Kuusi numeroa; sovellus näyttää uuden 30 sekunnin välein.",
            ),
        }
    )

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """Use `clock` (Unix seconds) as "now"; the server's clock unless a test injects one (S9)."""
        self._clock = clock

    async def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        """A new 160-bit secret, with the otpauth:// URI and its QR code for the app to scan."""
        secret = pyotp.random_base32(SECRET_LENGTH)
        uri = _totp(secret).provisioning_uri(name=account.email, issuer_name=account.issuer)
        return EnrollmentDraft(state={"secret": secret}, secret=secret, provisioning_uri=uri, qr_code_svg=_qr_svg(uri))

    async def verify(self, state: Mapping[str, str], code: str) -> int | None:
        """The time step whose code matches `code` (now, or one step either side), else None."""
        typed = typed_code(code)
        if not _CODE.fullmatch(typed):
            return None
        totp = _totp(state["secret"])
        now_step = int(self._clock() // STEP_SECONDS)
        matched: int | None = None
        # Compare against every step in the window, without stopping early, so timing says nothing
        # about which step matched. Should two steps share a code, the latest wins: the core refuses
        # steps at or before the last accepted one, so the later step is the stricter guard.
        for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
            if same_code(typed, totp.generate_otp(step)):
                matched = step
        return matched


def _totp(secret: str) -> pyotp.TOTP:
    # Spelled out rather than left to pyotp's defaults, so S9 is visible here.
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def _qr_svg(uri: str) -> str:
    # Error level M survives a smudged or photographed screen; a 4-module border is the quiet zone
    # the QR standard asks for, which scanners need to find the code.
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=4, border=4, xmldecl=False)
    return buffer.getvalue().decode("utf-8")


@hookimpl(trylast=True)
def register_second_factors(register: Callable[[SecondFactorMethod], None]) -> None:
    """Offer TOTP to the core, exactly as a third-party method would be offered."""
    register(TotpMethod())
