"""gql-server-hotp: RFC 4226 HOTP hardware tokens (event-based one-time passwords) as a second factor.

A third-party method, written only from gql_server's docs/plugins.md and the package `gql-server new-plugin
hotp` wrote (issue 16's proof); it imports nothing of gql_server but `gql_server.plugin_api`, and nothing else
but the standard library. The token's counter moves with each button press; the service keeps the counter
it expects next in the factor's state and returns the new state with each accepted code (`Verified`), so the
core stores it with its replay guard, in one update. No table of its own.

- Look-ahead window (RFC 4226 section 7.4): presses the service never saw are forgiven, up to LOOK_AHEAD of
  them; the code after the window is refused.
- Resynchronisation (section 7.4): a token pressed further ahead is resynchronised by typing two consecutive
  codes as one ("123456 654321", or the 12 digits together), searched up to RESYNC_WINDOW codes ahead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote, urlencode

from gql_server.plugin_api import (
    Account,
    AuthenticatorKind,
    Capabilities,
    CodeCheckingMethod,
    EnrollmentDraft,
    MethodStrings,
    MethodUI,
    SecondFactorMethod,
    Verified,
    hookimpl,
)

METHOD_ID = "hotp"
DIGITS = 6
# RFC 4226 section 4, R6: a key of 160 bits (the HMAC-SHA-1 block size it recommends).
SECRET_BYTES = 20
# Section 7.4: codes the token may have shown without the service seeing them (presses in a pocket).
LOOK_AHEAD = 10
# How far ahead two consecutive codes may bring a token back in step.
RESYNC_WINDOW = 100

_ONE = re.compile(rf"[0-9]{{{DIGITS}}}")
_TWO = re.compile(rf"([0-9]{{{DIGITS}}})([0-9]{{{DIGITS}}})")


def hotp(key: bytes, counter: int, digits: int = DIGITS) -> str:
    """RFC 4226 section 5.3: HMAC-SHA-1 of the 8-byte big-endian counter, dynamically truncated to 31 bits,
    as `digits` decimal digits."""
    mac = hmac.new(key, counter.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    binary = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def code_at(secret: str, counter: int) -> str:
    """The code a token with this base32 `secret` shows for `counter` (what the user types)."""
    return hotp(_key(secret), counter)


class HotpMethod(CodeCheckingMethod):
    """RFC 4226 HOTP: SHA-1, 6 digits, a look-ahead window and resynchronisation with two codes."""

    id: str = METHOD_ID
    display_name: str = "Hardware token (HOTP)"
    channel: str = "hardware_token"
    phishing_resistant: bool = False
    enrollable: bool = True
    # A token's key cannot be read back out of it; its codes work on any site (not phishing-resistant).
    capabilities: Capabilities = Capabilities(kind=AuthenticatorKind.POSSESSION, hardware_bound=True)
    ui: MethodUI = MethodUI(
        strings={
            "en": MethodStrings(
                name="Hardware token",
                about="A key-ring token that shows a new six-digit code each time you press its button.",
                label="Code from your token",
                hint="Press the button on your token and type the six digits it shows.",
            ),
            "fi": MethodStrings(
                name="Laiteavain",
                about="Avaimenperään kiinnitettävä laite, joka näyttää uuden kuusinumeroisen koodin painettaessa.",
                label="Koodi laiteavaimesta",
                hint="Paina laiteavaimen painiketta ja kirjoita sen näyttämät kuusi numeroa.",
            ),
        }
    )

    async def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        """A new 160-bit key, shown once in base32 and as an otpauth://hotp/ URI; the token starts at 0."""
        secret = base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")
        label = quote(f"{account.issuer}:{account.email}")
        query = urlencode({"secret": secret, "issuer": account.issuer, "counter": 0, "digits": DIGITS})
        uri = f"otpauth://hotp/{label}?{query}"
        return EnrollmentDraft(state={"secret": secret, "counter": "0"}, secret=secret, provisioning_uri=uri)

    async def verify(self, state: Mapping[str, str], code: str) -> Verified | None:
        """The matched code's counter, with the counter to expect next as the new state; None for a wrong
        code. One code: the next LOOK_AHEAD + 1 counters; two codes in a row: RESYNC_WINDOW + 1 of them."""
        typed = re.sub(r"[\s-]", "", code)
        key, expected = _key(state["secret"]), int(state["counter"])
        matched: int | None = None
        if _ONE.fullmatch(typed):
            matched = _first_match(key, range(expected, expected + LOOK_AHEAD + 1), (typed,))
        elif pair := _TWO.fullmatch(typed):
            first = _first_match(key, range(expected, expected + RESYNC_WINDOW + 1), pair.groups())
            matched = None if first is None else first + 1
        if matched is None:
            return None
        return Verified(matched, {**state, "counter": str(matched + 1)})


def _first_match(key: bytes, counters: range, codes: Iterable[str]) -> int | None:
    """The first counter from which the token shows `codes` in a row. Every counter is compared, without
    stopping early, so the time taken says nothing about where (or whether) it matched."""
    wanted = [code.encode() for code in codes]
    found: int | None = None
    for counter in counters:
        same = True
        for ahead, code in enumerate(wanted):
            same &= hmac.compare_digest(code, hotp(key, counter + ahead).encode())
        if same and found is None:
            found = counter
    return found


def _key(secret: str) -> bytes:
    return base64.b32decode(secret, casefold=True)


@hookimpl
def register_second_factors(register: Callable[[SecondFactorMethod], None]) -> None:
    """Offer HOTP to gql_server."""
    register(HotpMethod())
