"""The links in emails (architecture.md, "Links in emails"), made in one place.

Every token rides in the URL fragment: browsers do not send it, so it never reaches server logs,
proxies or Referer headers; the page reads it and removes it from the address bar.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Links:
    """Links under `public_url` (PUBLIC_URL, without a trailing slash)."""

    public_url: str

    def invitation(self, token: str) -> str:
        """`{PUBLIC_URL}/invitation#token=<token>`: every kind of invitation (R5, R19, R20)."""
        return f"{self.public_url}/invitation#token={token}"

    def report(self, token: str) -> str:
        """`{PUBLIC_URL}/report#token=<token>`: "this wasn't me" in a notice to the previous address (R13)."""
        return f"{self.public_url}/report#token={token}"

    def password_reset(self, token: str) -> str:
        """`{PUBLIC_URL}/reset-password#token=<token>`: choose a new password (R13, R16)."""
        return f"{self.public_url}/reset-password#token={token}"

    def email_change(self, token: str) -> str:
        """`{PUBLIC_URL}/email-change#token=<token>`: confirm a new address from its own mailbox (R13)."""
        return f"{self.public_url}/email-change#token={token}"
