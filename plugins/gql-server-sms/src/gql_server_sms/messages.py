"""The text of the message that carries a code, in English or Finnish.

Short enough for one SMS (160 GSM-7 characters, which include "ä" and "ö"), the code on its own
so that phones offer to copy it, and never anything but the code and how long it is valid.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

Purpose = Literal["login", "enrollment"]

SERVICE_NAME = "gql_server"

_TEXTS: dict[str, dict[Purpose, str]] = {
    "en": {
        "login": "Your {service} login code is {code}. It expires in {minutes}. Do not share it with anyone.",
        "enrollment": "Your {service} code to confirm this phone number is {code}. It expires in {minutes}.",
    },
    "fi": {
        "login": "{service}-kirjautumiskoodisi on {code}. Koodi vanhenee {minutes}. Älä kerro sitä kenellekään.",
        "enrollment": "{service}-koodisi tämän puhelinnumeron vahvistamiseen on {code}. Koodi vanhenee {minutes}.",
    },
}


def language_of(locale: str) -> str:
    """ "fi" for Finnish locales ("fi", "fi-FI", "fi_FI"), otherwise "en"."""
    primary = locale.replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in _TEXTS else "en"


def minutes_left(expires_at: datetime, now: datetime) -> int:
    """Whole minutes until the code expires, rounded up, at least one."""
    return max(1, math.ceil((expires_at - now).total_seconds() / 60))


def code_message(code: str, purpose: Purpose, locale: str, minutes: int) -> str:
    """The message for a code: for signing in, or for confirming the number during enrollment."""
    language = language_of(locale)
    if language == "fi":
        duration = f"{minutes} minuutin kuluttua"
    else:
        duration = f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"
    return _TEXTS[language][purpose].format(service=SERVICE_NAME, code=code, minutes=duration)
