"""Opaque single-purpose tokens: random, stored only as SHA-256, typed by purpose, expiring (S16, S24)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from gql_server.clock import utcnow
from gql_server.enums import TokenPurpose
from gql_server.models import Token, User

# 32 random bytes: 256 bits, twice the 128 the contract asks for.
TOKEN_BYTES = 32


def new_token() -> str:
    """A fresh random token, URL-safe, for a link or a header."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """What is stored and looked up: the token itself never reaches the database.

    A plain SHA-256 is enough because the token has 256 bits of entropy; there is nothing to
    brute-force, so a slow hash would only cost CPU on every request.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A token handed to a client once; only its hash is kept."""

    token: str
    expires_at: datetime


async def issue_token(user: User, purpose: TokenPurpose, lifetime: timedelta) -> IssuedToken:
    """Create a token of one purpose for one user."""
    raw = new_token()
    now = utcnow()
    await Token.create(
        purpose=purpose,
        token_hash=hash_token(raw),
        user=user,
        created_at=now,
        expires_at=now + lifetime,
    )
    return IssuedToken(token=raw, expires_at=now + lifetime)


async def find_token(raw: str, purpose: TokenPurpose) -> Token | None:
    """The live token of this purpose, or None when unknown, used, expired or of another purpose."""
    return await Token.get_or_none(
        token_hash=hash_token(raw), purpose=purpose, used_at=None, expires_at__gt=utcnow()
    ).select_related("user")


async def consume_token(raw: str, purpose: TokenPurpose) -> Token | None:
    """Use a token once. Of parallel uses, exactly one gets it (the update is conditional)."""
    now = utcnow()
    digest = hash_token(raw)
    used = await Token.filter(token_hash=digest, purpose=purpose, used_at=None, expires_at__gt=now).update(used_at=now)
    if not used:
        return None
    return await Token.get(token_hash=digest).select_related("user")
