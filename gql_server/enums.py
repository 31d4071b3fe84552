"""The domain's vocabulary (product.md, "Words"), shared by models, services and the GraphQL layer."""

from __future__ import annotations

from enum import Enum


class LoginMethod(str, Enum):
    """How an account signs in."""

    PASSWORD = "PASSWORD"
    TWO_FACTOR = "TWO_FACTOR"


class ConversionState(str, Enum):
    """Where an account is on its way from PASSWORD to TWO_FACTOR; it never goes back (R9)."""

    NOT_STARTED = "NOT_STARTED"
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"


class MembershipLevel(str, Enum):
    """CUSTOMER administers the whole customer; COMPANY works inside its companies."""

    CUSTOMER = "CUSTOMER"
    COMPANY = "COMPANY"


class Assurance(str, Enum):
    """How many factors a session was established with."""

    PASSWORD = "PASSWORD"
    TWO_FACTOR = "TWO_FACTOR"


class Requirement(str, Enum):
    """What the policy requires of a user right now."""

    NONE = "NONE"
    CONVERSION = "CONVERSION"


class TokenPurpose(str, Enum):
    """Single-purpose tokens; a token of one purpose is never accepted for another (S16)."""

    CONVERSION_TICKET = "conversion_ticket"
    LOGIN_CHALLENGE = "login_challenge"
