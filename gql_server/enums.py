"""The domain's vocabulary (product.md, "Words"), shared by models, services and the GraphQL layer."""

from __future__ import annotations

from enum import StrEnum


class LoginMethod(StrEnum):
    """How an account signs in."""

    PASSWORD = "PASSWORD"  # noqa: S105 (a method name, not a secret)
    TWO_FACTOR = "TWO_FACTOR"


class ConversionState(StrEnum):
    """Where an account is on its way from PASSWORD to TWO_FACTOR; it never goes back (R9)."""

    NOT_STARTED = "NOT_STARTED"
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"


class MembershipLevel(StrEnum):
    """CUSTOMER administers the whole customer; COMPANY works inside its companies."""

    CUSTOMER = "CUSTOMER"
    COMPANY = "COMPANY"


class Assurance(StrEnum):
    """How many factors a session was established with."""

    PASSWORD = "PASSWORD"  # noqa: S105 (a method name, not a secret)
    TWO_FACTOR = "TWO_FACTOR"


class Requirement(StrEnum):
    """What the policy requires of a user right now."""

    NONE = "NONE"
    CONVERSION = "CONVERSION"


class InvitationPassword(StrEnum):
    """What finishing an enrollment from an invitation needs besides the code (R5, S34)."""

    NONE = "NONE"  # whoever asked for the invitation showed the account's password already (R4, R8)
    NEW = "NEW"  # a new account chooses its first password
    CURRENT = "CURRENT"  # an operator reset: the account's password proves the mailbox's owner (S34)


class TokenPurpose(StrEnum):
    """Single-purpose tokens; a token of one purpose is never accepted for another (S16)."""

    CONVERSION_TICKET = "conversion_ticket"
    INVITATION = "invitation"
    ENROLLMENT = "enrollment"
    LOGIN_CHALLENGE = "login_challenge"
    # R13: the "this wasn't me" link in a notice to the account's previous address.
    REPORT_CHANGE = "report_change"
    # R13, R16: a single-use link to choose a new password, mailed to the account's address.
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a purpose, not a secret)
    # R14: codes sent for a step-up (sendReauthenticationCode) hang on one of these, bound to a session.
    REAUTHENTICATION = "reauthentication"
    # R13: the link mailed to a new address; it holds the address, and confirming it proves the mailbox.
    EMAIL_CHANGE = "email_change"
    # R19: an admin's invitation of an existing account to join a customer; accepted from its own session.
    JOIN_CUSTOMER = "join_customer"
    # R20: a conversion typed another account's address; that account's owner links the two from its session.
    LINK_ACCOUNT = "link_account"


class InvitationKind(StrEnum):
    """What an invitation link leads to (R5, R19, R20)."""

    ENROLL = "ENROLL"
    LINK_ACCOUNT = "LINK_ACCOUNT"
    JOIN_CUSTOMER = "JOIN_CUSTOMER"
