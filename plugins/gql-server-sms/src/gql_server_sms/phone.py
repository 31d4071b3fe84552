"""Phone numbers: what the user typed, checked and normalised to E.164, and masked for display."""

from __future__ import annotations

import re

import phonenumbers
from gql_server.plugin_api import InvalidEnrollmentInput
from phonenumbers import PhoneNumberFormat, PhoneNumberType

# The GraphQL argument of beginEnrollment that InvalidInput points at.
FIELD = "phoneNumber"

# Types that can receive a text message. Landlines, premium-rate, toll-free and shared-cost numbers are
# refused: codes sent there are never read, and premium numbers are how SMS pumping fraud earns money.
TEXTABLE_TYPES = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE, PhoneNumberType.PERSONAL_NUMBER}
)

MASK = "•"

# What a typed number may contain once "00" became "+": one leading "+", then digits and separators.
# Letters are refused rather than read as a keypad's digits: "4O" for "40" would text a stranger.
_TYPED = re.compile(r"\+[\d\s().\-/]+")


def normalize_phone_number(raw: str | None) -> str:
    """The E.164 form ("+358401234567") of a mobile number typed in international format.

    Spaces, dashes, dots and parentheses are allowed; the number must start with "+" or "00" and its
    country code, because there is no default region to guess from. Raises `InvalidEnrollmentInput`
    (field "phoneNumber") with a message for the user when the number is missing or unusable.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidEnrollmentInput(
            "Enter the mobile number that should receive the codes, e.g. +358 40 123 4567.", FIELD
        )
    if text.startswith("00"):
        text = "+" + text[2:]
    if not _TYPED.fullmatch(text):
        raise InvalidEnrollmentInput(
            "Enter the number in international format: + and the country code, then digits, e.g. +358 40 123 4567.",
            FIELD,
        )
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or number.extension or not phonenumbers.is_valid_number(number):
        raise InvalidEnrollmentInput("This is not a valid phone number: check the country code and the digits.", FIELD)
    if phonenumbers.number_type(number) not in TEXTABLE_TYPES:
        raise InvalidEnrollmentInput("Enter a mobile number: this number cannot receive text messages.", FIELD)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def mask_phone_number(e164: str) -> str:
    """The number for display: country code and last two digits only, e.g. "+358 •••••••67"."""
    number = phonenumbers.parse(e164, None)
    national = phonenumbers.national_significant_number(number)
    return f"+{number.country_code} {MASK * (len(national) - 2)}{national[-2:]}"
