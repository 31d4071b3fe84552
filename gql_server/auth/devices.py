"""Remember this device (R18): a browser that skips the second factor at a later login with the right password.

A browser is remembered after a second-factor success with `rememberDevice`, when every customer of the user
allows it: the days that count are the smallest `rememberDeviceDays` among the user's customers (none, or one
at 0: never). At a later login, after the right password of a two-factor user, its cookie skips the second
factor only while all of these hold, each checked at that moment:

- the cookie names a device of this user (another account's cookie is ignored, and left alone);
- the device has not expired (`expires_at`, fixed when it was remembered) and is younger than the days that
  count now: a customer lowering its setting, or a new customer with a lower one, counts at once;
- what the user signs in with is unchanged since: a keyed fingerprint of the password hash, the address and
  the ids of the enrolled factors. Whatever changed one of them (a password reset, an operator's reset, a
  factor added or removed, an email change, a conversion: every R13 change), the device no longer matches;
- the second-factor step is neither locked (S6) nor capped (S41): while someone is guessing this account's
  codes, a cookie lets no one past the lockout; the user answers the second factor (or waits) as usual.

A device failing one of the first three is deleted, so that nothing brings it back (a setting raised again,
an address changed back). The session it opens is TWO_FACTOR with `verifiedAt` null (R14): every sensitive
operation still asks for a factor. The cookie never replaces the password: it is only read after it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.expressions import Subquery

from gql_server.audit import AuditKind, Auditor
from gql_server.auth import lockout
from gql_server.auth.access import acting_user
from gql_server.auth.customers import parse_id
from gql_server.auth.results import LoginSuccess
from gql_server.clock import utcnow
from gql_server.crypto import Keyring
from gql_server.enums import Assurance
from gql_server.limits import SESSION_USER_AGENT_MAX_LENGTH
from gql_server.models import Customer, EnrolledFactor, Membership, RememberedDevice, Session, User
from gql_server.policy import Policy
from gql_server.sessions import SessionPolicy, create_session
from gql_server.tokens import hash_token, new_token

# The `method` of the LOGIN_SUCCEEDED event of a login that skipped the second factor.
REMEMBERED_DEVICE_METHOD = "remembered_device"


@dataclass(frozen=True)
class NewDevice:
    """A browser remembered just now, part of a LoginSuccess; `token` goes to its cookie once and is never
    stored, `lifetime` is how long the cookie is kept."""

    token: str
    lifetime: timedelta
    device: RememberedDevice


@dataclass(frozen=True)
class Forgotten:
    """A device the user forgot; `this_browser` when it is the one the request came from."""

    this_browser: bool


@dataclass(frozen=True)
class _Standing:
    """What a device is checked against, read once per request: the days that count and the fingerprint."""

    days: int
    fingerprint: str

    def why_not(self, device: RememberedDevice, now: datetime) -> str | None:
        """Why the device is no longer remembered (the audit's reason), or None while it is."""
        if device.expires_at <= now:
            return "expired"
        if device.created_at + timedelta(days=self.days) <= now:
            return "setting_lowered"
        if not hmac.compare_digest(device.credentials_fingerprint, self.fingerprint):
            return "credentials_changed"
        return None


async def forget_every_device(user: User) -> int:
    """R18: forget all of a user's remembered browsers (an address change: the fingerprint would match
    again if the address were changed back, so the devices go for good). How many there were."""
    return await RememberedDevice.filter(user_id=user.id).delete()


class RememberedDevices:
    """Remembering a browser, the login that skips the second factor with it, and the user's list (R18)."""

    def __init__(self, keyring: Keyring, auditor: Auditor, policy: Policy, sessions: SessionPolicy) -> None:
        self._keyring = keyring
        self._audit = auditor
        self._policy = policy
        self._sessions = sessions

    async def days_for(self, user: User) -> int:
        """The days that count for `user`: the smallest `rememberDeviceDays` among their customers, 0 without
        any (every customer must allow it), and 0 for a user whose login a policy narrows to some methods
        (an administrator of a customer requiring phishing-resistant methods runs one at every login: no
        browser skips it, and a browser remembered before the setting is forgotten at its next use)."""
        customers = await Customer.filter(memberships__user_id=user.id).only(
            "id", "remember_device_days", "require_phishing_resistant_admins"
        )
        # The policy is asked only when a customer of the user has such a setting: one query for everyone else.
        if any(c.require_phishing_resistant_admins for c in customers) and await self._policy.narrowed_login(user):
            return 0
        return min((c.remember_device_days for c in customers), default=0)

    async def fingerprint(self, user: User) -> str:
        """The keyed digest of what `user` signs in with now: password hash, address, enrolled factors."""
        factor_ids = await EnrolledFactor.filter(user_id=user.id).values_list("id", flat=True)
        factors = ",".join(sorted(str(f) for f in factor_ids))
        return self._keyring.fingerprint(user.password_hash or "", user.email, factors)

    async def _standing(self, user: User) -> _Standing:
        return _Standing(days=await self.days_for(user), fingerprint=await self.fingerprint(user))

    async def remember(
        self, user: User, *, ip: str | None = None, user_agent: str | None = None, replacing: str | None = None
    ) -> NewDevice | None:
        """After a second-factor success with `rememberDevice`: a new device for this browser, or None when
        the user's customers do not allow it (then the browser gets no cookie). `replacing`: the browser's
        device cookie until now; its new cookie takes that one's place, so its device of this user goes."""
        days = await self.days_for(user)
        if days <= 0:
            return None
        if replacing:
            old = await RememberedDevice.get_or_none(token_hash=hash_token(replacing), user_id=user.id)
            if old is not None:
                await self._forget(user, old.id, "replaced", ip=ip)
        raw, now, lifetime = new_token(), utcnow(), timedelta(days=days)
        device = await RememberedDevice.create(
            user=user,
            token_hash=hash_token(raw),
            credentials_fingerprint=await self.fingerprint(user),
            created_at=now,
            expires_at=now + lifetime,
            user_agent=user_agent[:SESSION_USER_AGENT_MAX_LENGTH] if user_agent else None,
        )
        await self._audit.record(
            AuditKind.DEVICE_REMEMBERED, subject=user, data={"device": str(device.id), "days": days, "ip": ip}
        )
        return NewDevice(token=raw, lifetime=lifetime, device=device)

    async def sign_in(
        self, user: User, raw_token: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> LoginSuccess | None:
        """After the right password of a two-factor user: a session that skipped the second factor when the
        browser's cookie is one of the user's remembered devices still valid; None to ask for the factor."""
        device = await RememberedDevice.get_or_none(token_hash=hash_token(raw_token), user_id=user.id)
        if device is None:
            return None
        now = utcnow()
        reason = (await self._standing(user)).why_not(device, now)
        if reason is not None:
            await self._forget(user, device.id, reason, ip=ip)
            return None
        # The user row came with the password check a moment ago; its lockout columns are that fresh.
        if lockout.seconds_locked_in(user, lockout.SECOND_FACTOR_STEP) or lockout.streak_capped(user):
            return None
        # Claimed with its use: a device forgotten meanwhile (another request) opens no session.
        if not await RememberedDevice.filter(id=device.id).update(last_used_at=now):
            return None
        # No second factor was verified now: `verifiedAt` stays null, and step-up asks for one (R14). The
        # second-factor step's lockout round and streak are left as they are: no code was checked.
        new_session = await create_session(
            user, Assurance.TWO_FACTOR, self._sessions, ip=ip, user_agent=user_agent, factor_verified=False
        )
        await User.filter(id=user.id).update(last_login_at=now)
        user.last_login_at = now
        await self._audit.record(
            AuditKind.LOGIN_SUCCEEDED,
            subject=user,
            data={"method": REMEMBERED_DEVICE_METHOD, "device": str(device.id), "ip": ip},
        )
        return LoginSuccess(user=user, session=new_session)

    async def password_rehashed(self, user: User, new_hash: str) -> None:
        """The same password got a new hash (stronger hashing parameters, at a login): the user's devices
        stay remembered, since nothing the user signs in with changed. Sets `user.password_hash`."""
        before = await self.fingerprint(user)
        user.password_hash = new_hash
        after = await self.fingerprint(user)
        await RememberedDevice.filter(user_id=user.id, credentials_fingerprint=before).update(
            credentials_fingerprint=after
        )

    async def live(self, current: Session | None) -> list[RememberedDevice]:
        """The caller's remembered devices that still skip the second factor, newest first; none for a
        session that does not satisfy the policy (R10, S30)."""
        user = await acting_user(current, self._policy)
        if current is None or user is None:
            return []
        now = utcnow()
        rows = await RememberedDevice.filter(user_id=user.id, expires_at__gt=now).order_by("-created_at")
        if not rows:
            return []
        standing = await self._standing(user)
        return [d for d in rows if standing.why_not(d, now) is None]

    async def forget(
        self, current: Session | None, device_id: str, *, raw_token: str | None = None, ip: str | None = None
    ) -> Forgotten | None:
        """Forget one of the caller's devices by id; None for an id that is malformed, unknown or another
        user's (the same answer, so that ids tell nothing). `raw_token`: the request's device cookie."""
        user = await acting_user(current, self._policy)
        target = parse_id(device_id)
        if current is None or user is None or target is None:
            return None
        device = await RememberedDevice.get_or_none(id=target, user_id=user.id)
        if device is None or not await self._forget(user, device.id, "user", actor=user, ip=ip):
            return None
        this_browser = raw_token is not None and hmac.compare_digest(hash_token(raw_token), device.token_hash)
        return Forgotten(this_browser=this_browser)

    async def _forget(
        self, user: User, device_id: object, reason: str, *, actor: User | None = None, ip: str | None = None
    ) -> bool:
        # `user_id` again in the statement: the row must still be the user's when it is deleted.
        deleted = await RememberedDevice.filter(id=device_id, user_id=user.id).delete()
        if deleted:
            await self._audit.record(
                AuditKind.DEVICE_FORGOTTEN,
                actor=actor,
                subject=user,
                data={"device": str(device_id), "reason": reason, "ip": ip},
            )
        return bool(deleted)

    async def setting_lowered(self, customer_id: object, days: int) -> int:
        """A customer lowered `rememberDeviceDays` to `days`: its members' devices older than that are
        forgotten, and the others expire by then at the latest, so that raising it again brings none back.
        How many were forgotten."""
        members = Membership.filter(customer_id=customer_id).values("user_id")
        rows = await RememberedDevice.filter(user_id__in=Subquery(members))
        now, forgotten = utcnow(), 0
        for device in rows:
            limit = device.created_at + timedelta(days=days)
            if limit <= now:
                forgotten += await RememberedDevice.filter(id=device.id).delete()
            elif limit < device.expires_at:
                await RememberedDevice.filter(id=device.id).update(expires_at=limit)
        return forgotten
