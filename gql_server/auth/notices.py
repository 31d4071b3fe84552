"""R13: identity changes are announced to the account's previous address, with a "this wasn't me" link.

Each notice is written to the outbox in the transaction that makes (or starts) the change, so a change
is never made without its notice. The link carries a single-use REPORT_CHANGE token, valid 7 days;
`auth/report.py` says what using it does.
"""

from __future__ import annotations

from gql_server.enums import TokenPurpose
from gql_server.limits import REPORT_LIFETIME
from gql_server.links import Links
from gql_server.models import User
from gql_server.outbox import Outbox, Queued
from gql_server.tokens import issue_token


class ChangeNotices:
    """Writes the notices of R13 (inside the caller's transaction)."""

    def __init__(self, outbox: Outbox, links: Links) -> None:
        self._outbox = outbox
        self._links = links

    async def invitation_elsewhere(self, user: User, new_address: str) -> Queued:
        """An invitation went to `new_address`; using it would make that the account's address (R4)."""
        return await self._notice(user, "notice_invitation_elsewhere", "conversion_address", new_address)

    async def email_change_requested(self, user: User, new_address: str) -> Queued:
        """A link to make `new_address` the account's address went there (R13); the account's own address is
        told, and its "this wasn't me" link cancels the change while it is pending."""
        return await self._notice(user, "notice_email_change_requested", "email_change", new_address)

    async def address_changed(self, user: User, previous_address: str, new_address: str) -> Queued:
        """The account's address became `new_address`; the notice goes to `previous_address`."""
        return await self._notice(user, "notice_address_changed", "address_changed", new_address, to=previous_address)

    async def account_changed(self, user: User, template: str, change: str, **values: object) -> Queued:
        """A change of the account's password or factors (R13, R15, R16, S14), announced to its address with
        a "this wasn't me" link; `values` are the template's own."""
        return await self._notice(user, template, change, user.email, to=None, **values)

    async def _notice(
        self, user: User, template: str, change: str, new_address: str, *, to: str | None = None, **values: object
    ) -> Queued:
        report = await issue_token(
            user, TokenPurpose.REPORT_CHANGE, REPORT_LIFETIME, {"change": change, "address": new_address}
        )
        return await self._outbox.put(
            template,
            to=to or user.email,
            locale=user.locale,
            token=report.record,
            new_address=new_address,
            link=self._links.report(report.token),
            expires_at=report.expires_at,
            **values,
        )
