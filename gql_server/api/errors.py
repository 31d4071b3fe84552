"""Expected failures as union members implementing `Error`, their messages, and the one exception the API shows.

Which service outcome each one answers is in `outcomes.py`."""

from __future__ import annotations

import strawberry


@strawberry.interface(
    description="Every expected failure is a union member implementing Error; unexpected ones are masked errors."
)
class Error:
    """Common shape of every expected failure."""

    message: str


@strawberry.type
class InvalidCredentials(Error):
    """Wrong email or password; deliberately the same for unknown and locked accounts (S3)."""


@strawberry.type
class InvalidCode(Error):
    """A second-factor code was wrong."""

    attempts_left: int
    reused_code: bool = strawberry.field(
        default=False,
        description=(
            "The code was right but already used (a TOTP code is accepted once, S8): e.g. the code that just "
            "proved the enrollment. The user waits for the next code; the attempt still counts."
        ),
    )


@strawberry.type(description="The token is unknown, used or expired.")
class ChallengeExpired(Error):
    """The token is unknown, used or expired."""


@strawberry.type
class TooManyAttempts(Error):
    """A limit was reached; try again after the given time."""

    retry_after_seconds: int


@strawberry.type
class MethodNotAvailable(Error):
    """The method is not installed, not allowed, or not enrolled."""


@strawberry.type
class EmailInUse(Error):
    """The address belongs to another account."""


@strawberry.type
class InvalidInput(Error):
    """The input was refused; `field` names the argument at fault."""

    field: str | None = None


@strawberry.type
class AuthenticationRequired(Error):
    """The operation needs a signed-in session that satisfies the policy."""


@strawberry.type
class PermissionDenied(Error):
    """The caller is signed in but may not do this."""


@strawberry.type
class ReauthenticationRequired(Error):
    """R14: the session's second factor is older than the step-up window; call reauthenticate with one of
    `methods` (empty for a password user, who has no factor to verify)."""

    methods: list[str]


@strawberry.type
class LastFactor(Error):
    """R9: the user's last second factor cannot be removed."""


@strawberry.type
class LastAdministrator(Error):
    """R19: a customer keeps at least one CUSTOMER-level member; this change would leave it none."""


class PublicError(Exception):
    """An error whose message may be shown to the caller (not masked by MaskErrors).

    Used only where a union cannot be: a non-null field the caller may not read.
    """

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.extensions = {"code": code}


# What the caller reads for each failure (outcomes.py picks one per outcome).
NOT_AUTHENTICATED = "Sign in first (with two factors where your customer requires them)."
NOT_PERMITTED = "Only the customer's administrators may do this."
INVALID_CREDENTIALS = "Wrong email or password."
EXPIRED_OR_USED = "This link or code has expired or was already used. Start again."
WRONG_CODE = "That code is not right."
REUSED_CODE = "That code was used already. Wait for the next one."
THROTTLED = "Too many attempts. Try again later."
BUSY = "The service is busy. Try again in a moment."
METHOD_UNAVAILABLE = "This method is not available here."
RECOVERY_CODE_ONLY = (
    "Too many wrong codes: sign in with one of your recovery codes, or ask your administrator to reset your factors."
)
PHISHING_RESISTANT_ONLY = (
    "Your organisation requires a phishing-resistant method (such as a passkey) of its administrators: "
    "use one of the methods offered."
)
EMAIL_TAKEN = "This email address belongs to another account."
STEP_UP = "Confirm it's you: verify a second factor again (reauthenticate) and repeat the request."
STEP_UP_NO_FACTOR = "This needs a second factor, and this account has none yet."
LAST_FACTOR = "This is your last second factor: add another one before you remove it."
LAST_PHISHING_RESISTANT_FACTOR = (
    "Your organisation requires a phishing-resistant method (such as a passkey) of its administrators, and "
    "this is your last one: add another one before you remove it."
)
LAST_ADMINISTRATOR = (
    "This is the customer's last administrator: make another member an administrator (CUSTOMER level) first."
)
