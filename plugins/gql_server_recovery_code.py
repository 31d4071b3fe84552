"""Built-in second factor: single-use recovery codes the user writes down (S11).

A lookup-secret method: the core stores the codes' digests and uses each once; this plugin only makes
codes and says how a typed one is normalised before hashing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from gql_server.plugin_api import (
    AuthenticatorKind,
    Capabilities,
    CodeField,
    LookupSecretMethod,
    MethodStrings,
    MethodUI,
    SecondFactorMethod,
    hookimpl,
)

# Lower-case RFC 4648 base32: 5 bits a character, and no 0/1/8/9 to mistake for o/l/b/g.
ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
# 16 characters are 80 bits, above the 64 that S11 asks for.
LENGTH = 16
GROUP = 4


class RecoveryCodeMethod(LookupSecretMethod):
    """Ten single-use codes such as `k7qm-2xda-p4vr-tn6e`, for when no other factor is at hand."""

    id: str = "recovery_code"
    display_name: str = "Recovery code"
    channel: str = "lookup_secret"
    phishing_resistant: bool = False
    # Recovery codes come with another factor; they are not enrolled on their own.
    enrollable: bool = False
    capabilities: Capabilities = Capabilities(kind=AuthenticatorKind.KNOWLEDGE)
    # Letters with dashes, typed from paper: a text keyboard, no one-time-code autofill.
    ui: MethodUI = MethodUI(
        code=CodeField(input_mode="text", min_length=LENGTH, max_length=24, pattern=None, autocomplete="off"),
        strings={
            "en": MethodStrings(
                name="Recovery code",
                about="Single-use codes you saved when you set up two-factor login.",
                label="Recovery code",
                hint="One of the codes you saved, like abcd-efgh-ijkm-nopq. Each works once.",
            ),
            "fi": MethodStrings(
                name="Varakoodi",
                about="Kertakäyttöiset koodit, jotka tallensit ottaessasi kaksivaiheisen kirjautumisen käyttöön.",
                label="Varakoodi",
                hint="Jokin tallentamistasi koodeista, muotoa abcd-efgh-ijkm-nopq. Kukin toimii kerran.",
            ),
        },
    )
    count: int = 10

    def new_codes(self) -> list[str]:
        """`count` distinct codes of 80 random bits, grouped in fours with dashes for reading aloud."""
        codes: list[str] = []
        # A repeat is vanishingly unlikely, but two equal codes would be one code that works twice.
        while len(codes) < self.count:
            code = _new_code()
            if code not in codes:
                codes.append(code)
        return codes

    def normalize(self, code: str) -> str:
        """Lower case, without the spaces and dashes people type or copy along with a code."""
        return "".join(code.split()).replace("-", "").lower()


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, LENGTH, GROUP))


@hookimpl(trylast=True)
def register_second_factors(register: Callable[[SecondFactorMethod], None]) -> None:
    """Offer recovery codes to the core, exactly as a third-party method would be offered."""
    register(RecoveryCodeMethod())
