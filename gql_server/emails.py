"""Email address handling shared by every service."""

from __future__ import annotations

MAX_EMAIL_LENGTH = 320
# RFC 5321 4.5.3.1, in octets: what an SMTP server accepts in RCPT TO. A longer address can never
# receive the invitation, and servers refuse the whole command for it.
MAX_ADDRESS_OCTETS = 254
MAX_LOCAL_PART_OCTETS = 64
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
    if _octets(email) > MAX_ADDRESS_OCTETS or _octets(local) > MAX_LOCAL_PART_OCTETS:
        return False
    # Dot-atoms on both sides: no empty part between dots (a..b, .a, a.), which the mail header
    # parser would otherwise turn into an empty recipient.
    return bool(at and "@" not in local and "." in domain and all(local.split(".")) and all(domain.split(".")))


def mask_email(email: str) -> str:
    """j***@example.com: enough for the owner to recognise, little for anyone else."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def _octets(text: str) -> int:
    # surrogatepass: a lone surrogate (refused elsewhere) must not turn a length check into a crash.
    return len(text.encode("utf-8", "surrogatepass"))
