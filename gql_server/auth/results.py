"""What the auth services answer: plain data, one class per outcome. The API maps each to a union member."""

from __future__ import annotations

from dataclasses import dataclass

from gql_server.factors import SecondFactorMethod
from gql_server.models import Customer, User
from gql_server.sessions import NewSession
from gql_server.tokens import IssuedToken


@dataclass(frozen=True)
class LoggedIn:
    """A session was created."""

    user: User
    session: NewSession


@dataclass(frozen=True)
class ConversionNeeded:
    """R3: the password was right, but the user must convert first; the ticket only allows that."""

    ticket: IssuedToken
    email: str


@dataclass(frozen=True)
class ConversionStillPending:
    """R4: a conversion was started earlier; the ticket can only re-send the invitation."""

    ticket: IssuedToken
    sent_to: str


@dataclass(frozen=True)
class SecondFactorNeeded:
    """R6: the password was right; a second factor must follow within this challenge."""

    challenge: IssuedToken
    methods: list[SecondFactorMethod]


@dataclass(frozen=True)
class CredentialsRejected:
    """Wrong password, unknown email, or a locked password step: deliberately one outcome (S3)."""


LoginOutcome = LoggedIn | ConversionNeeded | ConversionStillPending | SecondFactorNeeded | CredentialsRejected


@dataclass(frozen=True)
class NotAuthenticated:
    """The operation needs a session that satisfies the policy."""


@dataclass(frozen=True)
class NotPermitted:
    """The caller is signed in but may not do this."""


@dataclass(frozen=True)
class BadInput:
    """The input was refused; nothing changed."""

    message: str
    field: str | None = None


@dataclass(frozen=True)
class SettingsUpdated:
    """The customer's settings after a successful update."""

    customer: Customer


SettingsOutcome = SettingsUpdated | NotAuthenticated | NotPermitted | BadInput
