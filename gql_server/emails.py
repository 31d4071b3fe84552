"""Email address handling shared by every service."""

from __future__ import annotations

MAX_EMAIL_LENGTH = 320
HEADER_SPECIALS = frozenset('<>()[]\\,;:"')


def normalize_email(email: str) -> str:
    """The stored form of an address: trimmed and lower-cased, so lookups ignore case."""
    return email.strip().lower()


def looks_like_email(email: str) -> bool:
    """A deliberately loose check (one @, something on both sides, a dot in the domain).

    Whether the address is real is proven by the invitation it receives, not by a pattern.
    """
    if not 3 <= len(email) <= MAX_EMAIL_LENGTH:
        return False
    # No spaces, control characters or characters with a meaning in mail headers (a,b@x would be
    # mailed to two recipients, a<evil>b@x to another one).
    if any(ch.isspace() or not ch.isprintable() or ch in HEADER_SPECIALS for ch in email):
        return False
    local, at, domain = email.rpartition("@")
    return bool(at and local and "." in domain.strip(".") and "@" not in local)


def mask_email(email: str) -> str:
    """j***@example.com: enough for the owner to recognise, little for anyone else."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
