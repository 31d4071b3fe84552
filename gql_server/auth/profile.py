"""The user's own settings (R13: the language of their emails and of the web client)."""

from __future__ import annotations

from gql_server.audit import AuditKind, Auditor
from gql_server.auth.access import acting_user
from gql_server.auth.results import AuthenticationRequired, InvalidInput, ProfileUpdated, UpdateProfileResult
from gql_server.mail import LOCALES
from gql_server.models import Session, User
from gql_server.policy import Policy

UNSUPPORTED_LOCALE = f"Choose one of: {', '.join(LOCALES)}."


class ProfileService:
    """Changes to what a user decides alone: nothing here touches how they sign in."""

    def __init__(self, auditor: Auditor, policy: Policy) -> None:
        self._audit = auditor
        self._policy = policy

    async def update(self, session: Session | None, locale: str, *, ip: str | None = None) -> UpdateProfileResult:
        """Set the caller's language; only from a session that satisfies the policy (R10: a restricted
        one-factor session may only see that it must convert)."""
        user = await acting_user(session, self._policy)
        if user is None:
            return AuthenticationRequired()
        if locale not in LOCALES:
            return InvalidInput(UNSUPPORTED_LOCALE, "locale")
        if locale != user.locale:
            previous = user.locale
            await User.filter(id=user.id).update(locale=locale)
            user.locale = locale
            await self._audit.record(
                AuditKind.PROFILE_UPDATED, actor=user, subject=user, data={"locale": [previous, locale], "ip": ip}
            )
        return ProfileUpdated(user=user)
