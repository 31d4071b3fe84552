"""Opaque single-purpose tokens: random, stored only as SHA-256, typed by purpose, expiring (S16, S24)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gql_server import statements
from gql_server.clock import utcnow
from gql_server.enums import TokenPurpose
from gql_server.limits import TOKEN_BYTES
from gql_server.lookups import with_user_by_token_hash
from gql_server.models import Token, User


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
    record: Token = field(compare=False, repr=False)


async def issue_token(
    user: User, purpose: TokenPurpose, lifetime: timedelta, data: dict[str, object] | None = None
) -> IssuedToken:
    """Create a token of one purpose for one user, with purpose-specific (non-secret) data."""
    raw = new_token()
    now = utcnow()
    record = await Token.create(
        purpose=purpose,
        token_hash=hash_token(raw),
        user=user,
        created_at=now,
        expires_at=now + lifetime,
        data=data or {},
    )
    return IssuedToken(token=raw, expires_at=now + lifetime, record=record)


async def find_token(raw: str, purpose: TokenPurpose) -> Token | None:
    """The live token of this purpose, or None when unknown, used, expired or of another purpose."""
    token = await with_user_by_token_hash(Token, hash_token(raw))
    if token is None or token.purpose is not purpose or token.used_at is not None or token.expires_at <= utcnow():
        return None
    return token


async def reserve_attempt(token: Token, limit: int) -> int | None:
    """Count one code attempt against a live token, atomically. The attempts used so far, or None when
    the token is dead (used, expired, or out of attempts): parallel requests cannot exceed `limit` (S5).
    """
    return await statements.spend_attempt(token.id, limit)


async def use_token(token: Token) -> bool:
    """Mark a live token used. Of parallel calls exactly one gets True."""
    return await statements.use_token(token.id)


async def revoke_tokens(user: User, purpose: TokenPurpose) -> int:
    """End every live token of one purpose for a user (a new invitation replaces the previous one, S13)."""
    return await Token.filter(user_id=user.id, purpose=purpose, used_at=None).update(used_at=utcnow())
